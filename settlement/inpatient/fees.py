"""2301 fee upload: idempotent per ``feedetl_sn``; refunds are new lines with a negative
``cnt``; the insurance catalogue classes and splits each new line (settlement.md "The
catalogue decides, line by line").

The rules (repeats, conflicts, refunds, the per-line split) are
:func:`settlement.rules.fees.plan_upload`; this module reads the stay's stored lines and the
current catalogue (its entries cached in memory per version: one query per upload, none per
line), stores the new lines with their parts and bounds the bill.
:func:`record_fee_lines` is the core both the ``/v1`` route and the national-platform
gateway call with exact values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy.engine import Connection

from settlement.authority import require_role
from settlement.inpatient.admissions import load_admission_for_billing
from settlement.problems import Problem
from settlement.rules.catalogue import CatalogueError
from settlement.rules.fees import ClassedLine, FeeLine, FeeLineError, plan_upload
from settlement.rules.roles import HOSPITAL
from settlement.schemas import MONEY_MAX, FeeUploadIn
from settlement.service import Principal
from settlement.store import admissions, catalogue

#: Largest bill of one admission, in fen (docs/api.md §Limits): sums of settlements stay 64-bit.
ADMISSION_TOTAL_MAX = MONEY_MAX

#: HTTP status of each fee-line rule's refusal.
_STATUS = {
    "fee_line_conflict": 409,
    "refund_invalid": 422,
    "catalogue_unknown_item": 422,
    "catalogue_class_mismatch": 422,
}


@dataclass(frozen=True)
class FeeUpload:
    """What an upload did: every line of it in upload order (``lines``, each with its
    catalogue terms and parts; a repeat answers as first stored), the new ones, the repeats,
    and the stay's line count and total afterwards."""

    lines: list[ClassedLine]
    accepted: list[ClassedLine]
    duplicates: list[ClassedLine]
    fee_count: int
    medfee_sumamt: int
    catalogue_version: str | None


def record_fee_lines(
    conn: Connection, mdtrt_id: str, lines: Sequence[FeeLine], day: date, now: datetime
) -> FeeUpload:
    """Class, split and store an upload's lines for a stay the caller may bill (locked,
    not settled); ``day`` picks the catalogue entries valid then. Raises :class:`Problem`
    (the transaction is then rolled back: nothing of the upload is stored)."""
    admissions.prefetch_fee_lines(conn, mdtrt_id)  # read with the version: one round trip
    version = catalogue.current_version(conn)
    entries = {} if version is None else catalogue.entries(conn, version)
    stored = admissions.fee_lines(conn, mdtrt_id)
    try:
        plan = plan_upload(lines, stored, entries, day, version)
    except (FeeLineError, CatalogueError) as error:
        raise Problem(_STATUS[error.code], error.code, str(error)) from None
    admissions.insert_fee_lines(conn, mdtrt_id, plan.accepted, now)
    # The stay is locked: its lines are the ones read above and the ones just accepted.
    count = len(stored) + len(plan.accepted)
    total = sum(item.parts.det_item_fee_sumamt for item in (*stored, *plan.accepted))
    if total > ADMISSION_TOTAL_MAX:
        raise Problem(
            422,
            "amount_out_of_range",
            f"these lines would bring admission {mdtrt_id}'s bill to {total} fen, over the "
            f"limit of {ADMISSION_TOTAL_MAX} fen per admission",
        )
    return FeeUpload(plan.lines, plan.accepted, plan.duplicates, count, total, version)


def upload_fees(
    conn: Connection,
    principal: Principal,
    mdtrt_id: str,
    body: FeeUploadIn,
    now: datetime,
    tz: tzinfo | None = None,
) -> dict:
    """2301 fee upload over /v1, idempotent per ``feedetl_sn``; refunds are negative ``cnt``."""
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
            line.cnt_e4,
            line.pric_e6,
            line.init_feedetl_sn,
        )
        for line in body.feedetail
    ]
    day = now.astimezone(tz).date()
    upload = record_fee_lines(conn, mdtrt_id, lines, day, now)
    return {
        "mdtrt_id": mdtrt_id,
        "accepted": [line.feedetl_sn for line in upload.accepted],
        "duplicates": [line.feedetl_sn for line in upload.duplicates],
        "fee_count": upload.fee_count,
        "medfee_sumamt": upload.medfee_sumamt,
        "catalogue_version": upload.catalogue_version,
        "result": [line.answer() for line in upload.lines],
    }
