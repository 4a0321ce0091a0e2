"""The answers' shapes: an admission with its bill and standing settlement, a settlement."""

from __future__ import annotations

import json

from sqlalchemy.engine import Connection, Row

from settlement.rules.split import SPLIT_AMOUNTS
from settlement.store import admissions, settlements
from settlement.store.db import as_utc


def settlement_view(row: Row) -> dict:
    body = {name: int(getattr(row, name)) for name in SPLIT_AMOUNTS}
    body.update(
        setl_id=row.setl_id,
        mdtrt_id=row.mdtrt_id,
        psn_no=row.psn_no,
        insutype=row.insutype,
        fixmedins_code=row.institution_code,
        setl_time=as_utc(row.setl_time).isoformat(),
        balc=int(row.balc),
        fee_count=row.fee_count,
        policy_version=row.policy_version,
        auth_method=row.auth_method,
        status=row.status,
    )
    return body


def admission_view(conn: Connection, admission: Row) -> dict:
    count, total = admissions.fee_totals(conn, admission.mdtrt_id)
    active = settlements.standing_for(conn, admission.mdtrt_id)
    return {
        "mdtrt_id": admission.mdtrt_id,
        "psn_no": admission.psn_no,
        "insutype": admission.insutype,
        "fixmedins_code": admission.institution_code,
        "begntime": as_utc(admission.begntime).isoformat(),
        "adm_date": admission.adm_date.isoformat(),
        "endtime": as_utc(admission.endtime).isoformat() if admission.endtime else None,
        "auth_method": admission.auth_method,
        "evidence": json.loads(admission.evidence) if admission.evidence else None,
        "card_no": admission.card_no,
        "dept_name": admission.dept_name,
        "dise_name": admission.dise_name,
        "ipt_no": admission.ipt_no,
        "status": admission.status,
        "fee_count": count,
        "medfee_sumamt": total,
        "settlement": settlement_view(active) if active else None,
    }
