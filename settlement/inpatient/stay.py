"""The stay lifecycle's steps besides admission, fees and settlement (nhsa.md §Stay lifecycle;
docs/api.md §Stay lifecycle): 2402 discharge, 2405 discharge cancel, 2404 admission cancel,
2403 admission change and 2302 fee cancel.

Which step may follow which is the pure table :mod:`settlement.rules.lifecycle`; a refused
step is ``409`` with its code (``already_settled``, ``stay_cancelled``, ``stay_discharged``,
``stay_not_discharged``, ``fees_standing``). The national-platform gateway and ``/v1`` share
these functions, so both see one lifecycle.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Row

from settlement.authority import require_role
from settlement.inpatient.admissions import load_admission
from settlement.inpatient.common import time_refused
from settlement.problems import Problem
from settlement.rules.lifecycle import (
    ADMITTED,
    CANCELLED,
    DISCHARGED,
    StayStepRefused,
    next_status,
)
from settlement.rules.roles import HOSPITAL
from settlement.rules.stays import StayTimeError, check_admission_time, check_discharge_time
from settlement.service import Principal, audit
from settlement.store import stays
from settlement.store.db import as_utc

#: ``feedetl_sn`` of 2302 that cancels every standing line.
ALL_LINES = "0000"


def _open(conn: Connection, principal: Principal, mdtrt_id: str, action: str) -> Row:
    require_role(principal, HOSPITAL, action=action, subject=mdtrt_id)
    return load_admission(conn, principal, mdtrt_id, lock=True)


def check_step(step: str, admission: Row, action: str, *, standing_fees: int = 0) -> str:
    """:func:`settlement.rules.lifecycle.next_status` as a ``409`` refusal (audited)."""
    try:
        return next_status(step, admission.status, standing_fees=standing_fees)
    except StayStepRefused as refused:
        raise Problem(
            409,
            refused.code,
            f"admission {admission.mdtrt_id}: {refused}",
            audit=(action, admission.mdtrt_id),
        ) from None


def discharge(
    conn: Connection, principal: Principal, mdtrt_id: str, endtime: datetime, now: datetime
) -> dict:
    """2402: the stay ends at ``endtime`` (after admission, not in the future); no fee or
    settlement changes."""
    admission = _open(conn, principal, mdtrt_id, "discharge")
    check_step("discharge", admission, "discharge")
    endtime = endtime.astimezone(UTC)
    try:
        check_discharge_time(endtime, as_utc(admission.begntime), now)
    except StayTimeError as error:
        raise time_refused(error) from None
    stays.set_status(conn, mdtrt_id, DISCHARGED, endtime=endtime)
    audit(conn, principal, "discharge", mdtrt_id, detail={"endtime": endtime.isoformat()}, at=now)
    return {"mdtrt_id": mdtrt_id, "status": DISCHARGED}


def cancel_discharge(conn: Connection, principal: Principal, mdtrt_id: str, now: datetime) -> dict:
    """2405: a discharged, unsettled stay is admitted again (also after its reversal)."""
    admission = _open(conn, principal, mdtrt_id, "discharge.cancel")
    check_step("cancel_discharge", admission, "discharge.cancel")
    stays.set_status(conn, mdtrt_id, ADMITTED, endtime=None)
    audit(conn, principal, "discharge.cancel", mdtrt_id, at=now)
    return {"mdtrt_id": mdtrt_id, "status": ADMITTED}


def cancel_admission(conn: Connection, principal: Principal, mdtrt_id: str, now: datetime) -> dict:
    """2404: an admitted stay without standing fee lines is cancelled (kept, marked)."""
    admission = _open(conn, principal, mdtrt_id, "admission.cancel")
    standing = len(stays.fee_rows(conn, mdtrt_id))
    check_step("cancel_admission", admission, "admission.cancel", standing_fees=standing)
    stays.set_status(conn, mdtrt_id, CANCELLED)
    audit(conn, principal, "admission.cancel", mdtrt_id, at=now)
    return {"mdtrt_id": mdtrt_id, "status": CANCELLED}


def change_admission(
    conn: Connection,
    principal: Principal,
    mdtrt_id: str,
    changes: dict,
    now: datetime,
    tz,
    backdate_days: int,
) -> dict:
    """2403: ``begntime`` (in its window), ``dept_name``, ``dise_name`` of an admitted stay."""
    admission = _open(conn, principal, mdtrt_id, "admission.change")
    check_step("change_admission", admission, "admission.change")
    values = {k: v for k, v in changes.items() if k in ("dept_name", "dise_name") and v}
    begntime = changes.get("begntime")
    if begntime is not None:
        begntime = begntime.astimezone(UTC)
        try:
            check_admission_time(begntime, now, backdate_days)
        except StayTimeError as error:
            raise time_refused(error) from None
        values.update(begntime=begntime, adm_date=begntime.astimezone(tz).date())
    stays.change(conn, mdtrt_id, **values)
    shown = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}
    audit(conn, principal, "admission.change", mdtrt_id, detail=shown, at=now)
    return {"mdtrt_id": mdtrt_id, "status": admission.status}


def cancel_fees(
    conn: Connection, principal: Principal, mdtrt_id: str, feedetl_sn: str, now: datetime
) -> dict:
    """2302: cancel fee line ``feedetl_sn`` (``"0000"``: every standing line) of an unsettled
    stay. A charged line that a standing refund names is cancelled only with ``"0000"``."""
    admission = _open(conn, principal, mdtrt_id, "fees.cancel")
    check_step("cancel_fees", admission, "fees.cancel")
    rows = stays.fee_rows(conn, mdtrt_id)
    if feedetl_sn != ALL_LINES:
        chosen = [row for row in rows if row.feedetl_sn == feedetl_sn]
        if not chosen:
            raise Problem(
                404,
                "fee_line_unknown",
                f"admission {mdtrt_id} has no standing fee line {feedetl_sn}",
            )
        refunds = [row.feedetl_sn for row in rows if row.init_feedetl_sn == feedetl_sn]
        if refunds:
            raise Problem(
                409,
                "refund_standing",
                f"fee line {feedetl_sn} has standing refunds {refunds}; cancel those first",
            )
        rows = chosen
    stays.cancel_fee_lines(conn, mdtrt_id, rows, now, principal.terminal_id)
    cancelled = [row.feedetl_sn for row in rows]
    audit(conn, principal, "fees.cancel", mdtrt_id, detail={"feedetl_sn": cancelled}, at=now)
    return {"mdtrt_id": mdtrt_id, "cancelled": cancelled}
