"""The transactions the gateway answers, by ``infno`` (docs/gateway.md §Transactions)."""

from __future__ import annotations

from settlement.gateway import person, settle, signin, stays

#: infno → (handler, Chinese name for messages)
TRANSACTIONS = {
    "9001": (signin.sign_in, "签到"),
    "9002": (signin.sign_out, "签退"),
    "1101": (person.person_info, "人员信息获取"),
    "2401": (stays.admit, "入院办理"),
    "2303": (settle.pre_settle, "住院预结算"),
    "2304": (settle.settle, "住院结算"),
    "2305": (settle.reverse, "住院结算撤销"),
    "5203": (settle.query, "结算信息查询"),
}
