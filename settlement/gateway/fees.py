"""2301 fee upload and 2302 fee cancel (nhsa.md §Transactions; docs/gateway.md §2301/2302).

2301: ``feedetail[]`` of one stay; ``cnt`` (up to 4 decimals) and ``pric`` (up to 6) as
numbers or numeric strings, converted exactly (``cnt_e4``, ``pric_e6``); the HIS's
``det_item_fee_sumamt`` must be cnt × pric rounded half-up to the fen. The catalogue, not the
HIS, classes each line (``settlement.inpatient.fees.record_fee_lines``, issue 14); every line
is answered in ``result[]`` in yuan. 2302 takes ``data`` as an object or a list of objects;
``feedetl_sn`` ``"0000"`` cancels every standing line of the stay (openhis sends it before
every upload).
"""

from __future__ import annotations

from decimal import Decimal

from settlement.gateway.convert import GatewayError, decimal, fen, text, yuan
from settlement.gateway.messages import Act
from settlement.inpatient import load_admission, stay
from settlement.inpatient.admissions import load_admission_for_billing
from settlement.inpatient.fees import record_fee_lines
from settlement.rules.catalogue import line_amount
from settlement.rules.fees import ClassedLine, FeeLine

#: Lines of one 2301 (the service's limit per upload).
MAX_LINES = 1000
#: result[] flags the catalogue does not keep: answered "0".
ZERO_FLAGS = (
    "bas_medn_flag",
    "hi_nego_drug_flag",
    "chld_medc_flag",
    "list_sp_item_flag",
    "lmt_used_flag",
    "drt_reim_flag",
)


def _scaled(number: Decimal, places: int) -> int:
    return int(number.scaleb(places))


def _line(item: object, index: int) -> tuple[str, FeeLine]:
    """(mdtrt_id, the fee line) of ``feedetail[index]``; the HIS's sum checked."""
    if not isinstance(item, dict):
        raise GatewayError(f"feedetail[{index}] 应为对象", "field_invalid")
    sn = text(item, "feedetl_sn", required=True, max_len=40)
    cnt = decimal(item, "cnt", places=4)
    pric = decimal(item, "pric", places=6)
    if cnt == 0:
        raise GatewayError(f"费用明细 {sn} 的数量 cnt 不能为 0", "field_invalid")
    if pric < 0:
        raise GatewayError(f"费用明细 {sn} 的单价 pric 不能为负", "field_invalid")
    line = FeeLine(
        feedetl_sn=sn,
        med_list_codg=text(item, "med_list_codg", required=True, max_len=50),
        med_list_name=text(item, "med_list_name", max_len=200),
        list_type=None,
        cnt_e4=_scaled(cnt, 4),
        pric_e6=_scaled(pric, 6),
        init_feedetl_sn=text(item, "init_feedetl_sn", max_len=40) or None,
    )
    theirs = fen(item, "det_item_fee_sumamt", required=False)
    ours = line_amount(line.cnt_e4, line.pric_e6)
    if theirs is not None and theirs != ours:
        raise GatewayError(
            f"费用明细 {sn} 的明细项目费用总额 det_item_fee_sumamt={yuan(theirs):.2f} 与 "
            f"数量×单价={yuan(ours):.2f} 不符",
            "sum_mismatch",
        )
    return text(item, "mdtrt_id", required=True, max_len=40), line


def _answer(classed: ClassedLine) -> dict:
    parts, line = classed.parts, classed.line
    ceiling = classed.pric_uplmt_e6
    answer = {
        "feedetl_sn": line.feedetl_sn,
        "det_item_fee_sumamt": yuan(parts.det_item_fee_sumamt),
        "cnt": float(Decimal(line.cnt_e4).scaleb(-4)),
        "pric": float(Decimal(line.pric_e6).scaleb(-6)),
        "pric_uplmt_amt": float(Decimal(ceiling).scaleb(-6)) if ceiling is not None else 0.0,
        "selfpay_prop": float(Decimal(classed.selfpay_prop_bp).scaleb(-4)),
        "fulamt_ownpay_amt": yuan(parts.fulamt_ownpay_amt),
        "overlmt_amt": yuan(parts.overlmt_amt),
        "preselfpay_amt": yuan(parts.preselfpay_amt),
        "inscp_scp_amt": yuan(parts.inscp_scp_amt),
        "chrgitm_lv": classed.chrgitm_lv,
        "med_chrgitm_type": classed.med_chrgitm_type,
    }
    answer.update(dict.fromkeys(ZERO_FLAGS, "0"))
    answer["memo"] = ""
    return answer


def upload(act: Act) -> tuple[dict, str | None]:
    """2301: ``feedetail[]`` → ``result[]``, one answer per line (a repeat as first stored)."""
    raw = act.envelope.input.get("feedetail")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise GatewayError("输入节点 feedetail 缺失或为空", "field_missing")
    if len(raw) > MAX_LINES:
        raise GatewayError(f"一次最多上传 {MAX_LINES} 条费用明细，请分批上传", "field_invalid")
    parsed = [_line(item, i) for i, item in enumerate(raw)]
    stays = {mdtrt_id for mdtrt_id, _ in parsed}
    if len(stays) != 1:
        raise GatewayError("一次上传的费用明细须属于同一就诊（mdtrt_id）", "field_invalid")
    (mdtrt_id,) = stays
    admission = load_admission_for_billing(act.conn, act.principal, mdtrt_id)
    stay.check_step("upload_fees", admission, "fees")
    psn_no = text(raw[0], "psn_no", max_len=32)
    if psn_no and psn_no != admission.psn_no:
        raise GatewayError(f"人员编号 psn_no={psn_no} 与就诊 {mdtrt_id} 不一致")
    done = record_fee_lines(act.conn, mdtrt_id, [line for _, line in parsed], act.today, act.now)
    return {"result": [_answer(line) for line in done.lines]}, mdtrt_id


def cancel(act: Act) -> tuple[dict, str | None]:
    """2302: ``data{feedetl_sn, mdtrt_id, psn_no}`` (or a list of them) → no output node."""
    raw = act.envelope.input.get("data")
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, dict) for item in items):
        raise GatewayError("输入节点 data 缺失或不是对象", "field_invalid")
    mdtrt_id = ""
    for item in items:
        mdtrt_id = text(item, "mdtrt_id", required=True, max_len=40)
        psn_no = text(item, "psn_no", max_len=32)
        admission = load_admission(act.conn, act.principal, mdtrt_id)
        if psn_no and psn_no != admission.psn_no:
            raise GatewayError(f"人员编号 psn_no={psn_no} 与就诊 {mdtrt_id} 不一致")
        sn = text(item, "feedetl_sn", required=True, max_len=40)
        stay.cancel_fees(act.conn, act.principal, mdtrt_id, sn, act.now)
    return {}, mdtrt_id
