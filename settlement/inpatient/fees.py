"""2301 fee upload: idempotent per ``feedetl_sn``; refunds are new lines with a negative ``cnt``.

The rules (repeats, conflicts, refunds) are :func:`settlement.rules.fees.plan_upload`; this
module reads the stay's stored lines, stores the new ones and bounds the bill.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from settlement.authority import require_role
from settlement.inpatient.admissions import load_admission_for_billing
from settlement.problems import Problem
from settlement.rules.fees import FeeLine, FeeLineError, plan_upload
from settlement.rules.roles import HOSPITAL
from settlement.schemas import MONEY_MAX, FeeUploadIn
from settlement.service import Principal
from settlement.store import admissions

#: Largest bill of one admission, in fen (docs/api.md §Limits): sums of settlements stay 64-bit.
ADMISSION_TOTAL_MAX = MONEY_MAX

#: HTTP status of each fee-line rule's refusal.
_STATUS = {"fee_line_conflict": 409, "refund_invalid": 422}


def upload_fees(
    conn: Connection, principal: Principal, mdtrt_id: str, body: FeeUploadIn, now: datetime
) -> dict:
    """2301 fee upload, idempotent per ``feedetl_sn``; refunds are negative ``cnt``."""
    require_role(principal, HOSPITAL, action="fees", subject=mdtrt_id)
    admission = load_admission_for_billing(conn, principal, mdtrt_id)
    if admission.status == "settled":
        raise Problem(
            409, "already_settled", f"admission {mdtrt_id} is settled; reverse it first to add fees"
        )
    if admission.status == "cancelled":
        raise Problem(409, "stay_cancelled", f"admission {mdtrt_id} was cancelled (2404)")
    lines = [
        FeeLine(
            line.feedetl_sn,
            line.med_list_codg,
            line.med_list_name,
            line.list_type,
            line.cnt,
            line.pric,
            line.init_feedetl_sn,
        )
        for line in body.feedetail
    ]
    try:
        plan = plan_upload(lines, admissions.fee_lines(conn, mdtrt_id))
    except FeeLineError as error:
        raise Problem(_STATUS[error.code], error.code, str(error)) from None
    admissions.insert_fee_lines(conn, mdtrt_id, plan.accepted, now)
    count, total = admissions.fee_totals(conn, mdtrt_id)
    if total > ADMISSION_TOTAL_MAX:  # the transaction is rolled back with the refusal
        raise Problem(
            422,
            "amount_out_of_range",
            f"these lines would bring admission {mdtrt_id}'s bill to {total} fen, over the "
            f"limit of {ADMISSION_TOTAL_MAX} fen per admission",
        )
    return {
        "mdtrt_id": mdtrt_id,
        "accepted": [line.feedetl_sn for line in plan.accepted],
        "duplicates": plan.duplicates,
        "fee_count": count,
        "medfee_sumamt": total,
    }
