"""The stay lifecycle in ``/v1`` (docs/api.md §Stay lifecycle; nhsa.md §Stay lifecycle):
2402 discharge, 2405 discharge cancel, 2404 admission cancel, 2403 admission change and
2302 fee cancel, each a mutation with an Idempotency-Key like the other inpatient writes.

The routes call the same core functions as the national-platform gateway
(:mod:`settlement.inpatient.stay`), so both see one lifecycle and answer the same refusals
(``409 stay_discharged``, ``stay_not_discharged``, ``stay_cancelled``, ``already_settled``,
``fees_standing``, ``refund_standing``, ``404 fee_line_unknown``, ``422
discharge_time_invalid`` / ``admission_time_invalid``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement.api.deps import IDEMPOTENCY_HEADER_DOC, Caller, amutate, service_of
from settlement.inpatient import stay
from settlement.schemas import AdmissionChangeIn, DischargeIn, FeeCancelIn
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1/admissions/{mdtrt_id}")


@router.post("/discharge", openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def discharge(
    mdtrt_id: str, request: Request, principal: Caller, body: DischargeIn | None = None
):
    """2402: the stay ends at ``endtime`` (default now) before it is settled."""
    body = body or DischargeIn()

    def run(conn):
        now = utcnow()
        return stay.discharge(conn, principal, mdtrt_id, body.endtime or now, now)

    return await amutate(request, principal, body.model_dump(mode="json"), run)


@router.post("/discharge/cancellation", openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def cancel_discharge(mdtrt_id: str, request: Request, principal: Caller):
    """2405: a discharged, unsettled stay is admitted again."""
    return await amutate(
        request,
        principal,
        {},
        lambda conn: stay.cancel_discharge(conn, principal, mdtrt_id, utcnow()),
    )


@router.post("/cancellation", openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def cancel_admission(mdtrt_id: str, request: Request, principal: Caller):
    """2404: an admitted stay without standing fee lines is cancelled."""
    return await amutate(
        request,
        principal,
        {},
        lambda conn: stay.cancel_admission(conn, principal, mdtrt_id, utcnow()),
    )


@router.post("/changes", openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def change_admission(
    mdtrt_id: str, request: Request, principal: Caller, body: AdmissionChangeIn
):
    """2403: the admission time (within its window), department or diagnosis of an admitted stay."""
    settings = service_of(request).settings
    changes = {"begntime": body.begntime, "dept_name": body.dept_name, "dise_name": body.dise_name}
    days = settings.admission_backdate_days

    def run(conn):
        return stay.change_admission(
            conn, principal, mdtrt_id, changes, utcnow(), settings.tz, days
        )

    return await amutate(request, principal, body.model_dump(mode="json"), run)


@router.post("/fees/cancellation", openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def cancel_fees(mdtrt_id: str, request: Request, principal: Caller, body: FeeCancelIn):
    """2302: one fee line (``feedetl_sn``) or every standing line (``"0000"``) leaves the bill."""
    return await amutate(
        request,
        principal,
        body.model_dump(mode="json"),
        lambda conn: stay.cancel_fees(conn, principal, mdtrt_id, body.feedetl_sn, utcnow()),
    )
