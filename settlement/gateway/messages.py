"""What every transaction family shares: the act it runs in, and the clerk's Chinese message for
a refusal of the core (docs/gateway.md §Errors).

A refusal of the service's core (:class:`settlement.problems.Problem`, English detail with a
stable code) reaches the HIS as ``infcode -1`` with ``err_msg`` in Chinese saying what to do,
followed by the code and the detail for the vendor's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from settlement.problems import Problem
from settlement.service import Principal, Service

#: Problem code → what the clerk reads (and can act on).
CLERK_MESSAGES = {
    "person_unknown": "查无此参保人，请核对人员编号或证件号码",
    "card_unknown": "查无此社会保障卡，请核对卡号",
    "not_covered": "参保人在该日期未参保或未缴费，不能按医保结算",
    "not_found": "查无此就诊或结算记录，请核对就诊ID/结算ID",
    "already_settled": "该就诊已结算，如需修改请先撤销结算（2305）",
    "already_reversed": "该结算已撤销，不能重复撤销",
    "card_required": "须持社会保障卡联网认证（或提供免卡凭证 exp_content）",
    "card_auth_unknown": "未找到联网认证记录，请重新读卡认证",
    "card_auth_expired": "联网认证已过期，请重新读卡认证",
    "card_auth_foreign": "该联网认证不属于本机构，请在本机构重新读卡认证",
    "card_not_holder": "所持社会保障卡不属于该参保人",
    "pin_not_verified": "结算须持卡并验证社会保障卡密码，请读卡验密后再结算",
    "card_lost": "该社会保障卡已挂失，请持补卡回执办理",
    "card_expired": "该社会保障卡已过有效期，请到社保卡服务网点换卡",
    "card_cancelled": "该社会保障卡已注销",
    "card_replaced": "该社会保障卡已被新卡替换，请使用新卡",
    "card_not_active": "该社会保障卡尚未启用（未领卡）",
    "card_state": "社会保障卡状态不允许此操作",
    "exemption_refused": "免卡条件不成立，须持社会保障卡联网认证",
    "admission_time_invalid": "入院时间不在允许范围内（不能晚于当前时间或过早），请核对 begntime",
    "discharge_time_invalid": "出院时间不在允许范围内（应晚于入院时间且不晚于当前时间）",
    "fee_line_conflict": "费用明细流水号已上传过但内容不同，请使用新的 feedetl_sn",
    "refund_invalid": "退费明细无效：须对应已上传的原明细（init_feedetl_sn）且不超过原数量",
    "refund_exceeds_charges": "退费金额超过收费金额",
    "bill_negative": "费用合计为负，请核对退费明细",
    "amount_out_of_range": "金额超出允许范围",
    "not_entitled": "本机构无权办理此业务",
    "conflict": "记录已存在",
    "validation_error": "输入字段不合法",
    "catalogue_unknown_item": "目录中无此项目，请核对医保目录编码 med_list_codg",
    "catalogue_class_mismatch": "收费项目等级与医保目录不符",
    "stay_cancelled": "该就诊的入院登记已撤销",
    "stay_discharged": "该就诊已办理出院，如需修改请先撤销出院（2405）",
    "stay_not_discharged": "该就诊尚未办理出院",
    "fees_standing": "该就诊尚有费用明细，请先撤销费用明细（2302）再撤销入院",
    "fee_line_unknown": "查无此费用明细流水号，请核对 feedetl_sn",
    "refund_standing": "该明细有对应的退费明细，请先撤销退费明细或整单撤销（0000）",
    "reversal_not_undoable": "该结算撤销之后已有后续业务（重新入院、费用变动或其他结算），不能冲正",
}


@dataclass(frozen=True)
class Act:
    """One transaction being run: the open write transaction, the service, the envelope,
    the caller as a hospital principal (``terminal_id`` names the operator), now, the zone."""

    conn: Connection
    svc: Service
    envelope: object  # settlement.gateway.envelope.Envelope
    principal: Principal
    now: datetime
    tz: ZoneInfo

    @property
    def today(self):
        return self.now.astimezone(self.tz).date()


def clerk_message(problem: Problem) -> str:
    """``err_msg`` of a core refusal: the clerk's sentence, then ``[code] detail``."""
    base = CLERK_MESSAGES.get(problem.code, "业务办理失败")
    reason = problem.extra.get("reason_code")
    suffix = f"，{reason}" if reason else ""
    return f"{base}（{problem.code}{suffix}：{problem.detail}）"
