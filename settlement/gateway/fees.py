"""2301 fee upload and 2302 fee cancel (nhsa.md §Transactions; docs/gateway.md §2301/2302).

2302 takes ``data`` as an object or a list of objects; ``feedetl_sn`` ``"0000"`` cancels every
standing line of the stay (openhis sends it before every upload).
"""

from __future__ import annotations

from settlement.gateway.convert import GatewayError, text
from settlement.gateway.messages import Act
from settlement.inpatient import load_admission, stay


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
