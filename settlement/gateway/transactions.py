"""The transactions the gateway answers, by ``infno`` (docs/gateway.md §Transactions)."""

from __future__ import annotations

from settlement.gateway import fees, person, settle, signin, statement, stays, undo

#: infno → (handler, Chinese name for messages)
TRANSACTIONS = {
    "9001": (signin.sign_in, "签到"),
    "9002": (signin.sign_out, "签退"),
    "1101": (person.person_info, "人员信息获取"),
    "2401": (stays.admit, "入院办理"),
    "2402": (stays.discharge, "出院办理"),
    "2403": (stays.change_admission, "入院信息变更"),
    "2404": (stays.cancel_admission, "入院办理撤销"),
    "2405": (stays.cancel_discharge, "出院办理撤销"),
    "2301": (fees.upload, "住院费用明细上传"),
    "2302": (fees.cancel, "住院费用明细撤销"),
    "2303": (settle.pre_settle, "住院预结算"),
    "2304": (settle.settle, "住院结算"),
    "2305": (settle.reverse, "住院结算撤销"),
    "5203": (settle.query, "结算信息查询"),
    "3201": (statement.reconcile, "医药机构费用结算对总账"),
    "2601": (undo.undo, "冲正交易"),
}
