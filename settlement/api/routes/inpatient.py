"""The inpatient flow (docs/api.md §Inpatient): 2401 admission, 2301 fees, 2303 pre-settlement,
2304 settlement, 2305 reversal, and their reads.

Admission, fees and settlement are the hot routes: coroutines that hand the
write to the database's write path without parking a pool thread
(:class:`settlement.api.deps.HotWrite`); they take the service from the request
rather than through a dependency. The lean dispatch (``settlement.api.lane``)
answers the same writes without FastAPI's request handling.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from settlement import inpatient
from settlement.api.deps import (
    IDEMPOTENCY_HEADER_DOC,
    Caller,
    HotWrite,
    IdemKey,
    ServiceDep,
    guard,
    hot_write,
    mutate,
)
from settlement.rules.roles import ADMIN, HOSPITAL
from settlement.schemas import (
    AdmissionIn,
    FeeUploadIn,
    PreSettlementIn,
    ReversalIn,
    SettlementIn,
)
from settlement.service import Principal, Service
from settlement.store import people
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


def _admit(svc: Service, principal: Principal, body: AdmissionIn, _params: dict):
    keystore, settings = svc.keystore, svc.settings
    tz, backdate_days = settings.tz, settings.admission_backdate_days
    return lambda conn: inpatient.admit(
        conn, keystore, principal, body, utcnow(), tz, backdate_days
    )


def _upload_fees(svc: Service, principal: Principal, body: FeeUploadIn, params: dict):
    mdtrt_id, tz = params["mdtrt_id"], svc.settings.tz
    return lambda conn: inpatient.upload_fees(conn, principal, mdtrt_id, body, utcnow(), tz)


def _settle(svc: Service, principal: Principal, body: SettlementIn, params: dict):
    keystore, policy, tz = svc.keystore, svc.policy, svc.settings.tz
    mdtrt_id = params["mdtrt_id"]
    return lambda conn: inpatient.settle(
        conn, keystore, principal, mdtrt_id, body, policy, utcnow(), tz
    )


def _person_read(conn, body: AdmissionIn) -> None:
    people.prefetch_for_billing(conn, body.psn_no)


ADMISSION = HotWrite(AdmissionIn, _admit, 201, first_read=_person_read)
FEES = HotWrite(FeeUploadIn, _upload_fees)
SETTLEMENT = HotWrite(SettlementIn, _settle, 201)


@router.post("/admissions", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC)
@hot_write(ADMISSION)
async def admission(body: AdmissionIn, request: Request, principal: Caller):
    return await ADMISSION.route(request, principal, body)


@router.get("/admissions/{mdtrt_id}")
def get_admission(mdtrt_id: str, principal: Caller, svc: ServiceDep):
    guard(svc, principal, HOSPITAL, ADMIN, action="admission.read", subject=mdtrt_id)
    with svc.db.read() as conn:
        return inpatient.admission_view(conn, inpatient.load_admission(conn, principal, mdtrt_id))


@router.get("/admissions")
def list_admissions(
    principal: Caller,
    svc: ServiceDep,
    status: Literal["admitted", "discharged", "settled", "cancelled"] | None = None,
    psn_no: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ipt_no: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=40,
            description="the hospital's inpatient number (2401 ipt_no), exact; stays not cancelled",
        ),
    ] = None,
):
    guard(svc, principal, HOSPITAL, ADMIN, action="admission.list")
    with svc.db.read() as conn:
        return {
            "admissions": inpatient.list_admissions(
                conn, principal, status=status, psn_no=psn_no, limit=limit, ipt_no=ipt_no
            )
        }


@router.post("/admissions/{mdtrt_id}/fees", openapi_extra=IDEMPOTENCY_HEADER_DOC)
@hot_write(FEES)
async def fees(mdtrt_id: str, body: FeeUploadIn, request: Request, principal: Caller):
    return await FEES.route(request, principal, body)


@router.post("/admissions/{mdtrt_id}/pre-settlement")
def pre_settlement(
    mdtrt_id: str, principal: Caller, svc: ServiceDep, body: PreSettlementIn | None = None
):
    body = body or PreSettlementIn()
    with svc.db.read() as conn:
        return inpatient.pre_settle(conn, principal, mdtrt_id, body.acct_used_flag, svc.policy)


@router.post(
    "/admissions/{mdtrt_id}/settlement", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC
)
@hot_write(SETTLEMENT)
async def settlement(mdtrt_id: str, body: SettlementIn, request: Request, principal: Caller):
    return await SETTLEMENT.route(request, principal, body)


@router.get("/settlements/{setl_id}")
def get_settlement(setl_id: str, principal: Caller, svc: ServiceDep):
    guard(svc, principal, HOSPITAL, ADMIN, action="settlement.read", subject=setl_id)
    with svc.db.read() as conn:
        return inpatient.settlement_view(inpatient.load_settlement(conn, principal, setl_id))


@router.post("/settlements/{setl_id}/reversal", status_code=201)
def reversal(
    setl_id: str,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    key: IdemKey = None,
    body: ReversalIn | None = None,
):
    body = body or ReversalIn()
    tz = svc.settings.tz
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: inpatient.reverse(conn, principal, setl_id, body.reason, utcnow(), tz),
        201,
    )
