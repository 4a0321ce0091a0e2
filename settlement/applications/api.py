"""HTTP endpoints of card production (docs/api.md §Card production).

Mounted by ``settlement.app.create_app`` with one ``include_router`` line. Every
mutating endpoint goes through :meth:`Service.mutate` (Idempotency-Key, one
write transaction, response stored with the effects), like the rest of the API.
The progress query is read-only apart from counting wrong passwords, so it
needs no Idempotency-Key (like pre-settlement).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from settlement.applications import (
    checks,
    corrections,
    intake,
    loss,
    production,
    progress,
    views,
)
from settlement.applications.registers import Registers
from settlement.applications.schemas import (
    AccountOpenedIn,
    ApplicationIn,
    BatchIn,
    CorrectionIn,
    IssueIn,
    LossIn,
    PersonalisedIn,
    PreCheckIn,
    ProgressQueryIn,
    RejectionIn,
)
from settlement.problems import Problem
from settlement.service import Outcome, Principal, Service
from settlement.store.db import utcnow

PROBLEM_JSON = "application/problem+json"
router = APIRouter(prefix="/v1", tags=["card production"])


def _service(request: Request) -> Service:
    return request.app.state.service


def _principal(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    return _service(request).authenticate(key)


Caller = Annotated[Principal, Depends(_principal)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _respond(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replay": "true"} if outcome.replay else None
    media = PROBLEM_JSON if outcome.status >= 400 else "application/json"
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers, media_type=media)


def _mutate(
    request: Request,
    principal: Principal,
    key: str | None,
    payload: Any,
    operation,
    status: int = 200,
) -> JSONResponse:
    svc = _service(request)
    regs = svc.registers

    def run(conn):
        return status, operation(conn, regs, utcnow())

    return _respond(svc.mutate(principal, key, request.method, request.url.path, payload, run))


def _read(request: Request, principal: Principal, operation) -> Any:
    svc = _service(request)
    regs: Registers = svc.registers
    try:
        with svc.db.read() as conn:
            return operation(conn, regs, utcnow())
    except Problem as problem:
        svc.audit_refusal(principal, problem)
        raise


def _dump(body) -> dict:
    return body.model_dump(mode="json", exclude_unset=True)


def _hide_password(body: ApplicationIn) -> dict:
    """The idempotency record never holds a password, nor anything derived from it.

    (An unsalted digest of a short password is as good as the password; the
    record only notes that one was given.)
    """
    payload = body.model_dump(mode="json")
    if payload.get("query_password"):
        payload["query_password"] = "given"
    return payload


# --- applications --------------------------------------------------------------------------


@router.post("/applications", status_code=201)
def accept(body: ApplicationIn, request: Request, principal: Caller, key: IdemKey):
    [password_hash] = intake.hash_query_passwords([body])  # outside the write transaction
    return _mutate(
        request,
        principal,
        key,
        _hide_password(body),
        lambda conn, regs, now: intake.accept(
            conn, principal, regs, body, now, password_hash=password_hash
        ),
        201,
    )


@router.post("/application-batches", status_code=201)
def accept_batch(body: BatchIn, request: Request, principal: Caller, key: IdemKey):
    payload = {
        "employer_code": body.employer_code,
        "employer_name": body.employer_name,
        "applications": [_hide_password(a) for a in body.applications],
    }
    hashes = intake.hash_query_passwords(body.applications)  # outside the write transaction
    return _mutate(
        request,
        principal,
        key,
        payload,
        lambda conn, regs, now: intake.accept_batch(
            conn, principal, regs, body, now, password_hashes=hashes
        ),
        201,
    )


@router.get("/applications")
def list_applications(
    request: Request,
    principal: Caller,
    batch_id: str | None = None,
    employer_code: str | None = None,
    status: str | None = None,
    next_step: int | None = None,
    certno: str | None = None,
    limit: int = 500,
):
    return _read(
        request,
        principal,
        lambda conn, regs, now: views.list_applications(
            conn,
            principal,
            regs,
            now,
            batch_id=batch_id,
            employer_code=employer_code,
            status=status,
            next_step=next_step,
            certno=certno,
            limit=max(1, min(limit, 5000)),
        ),
    )


@router.get("/applications/{application_id}")
def get_application(application_id: str, request: Request, principal: Caller):
    return _read(
        request,
        principal,
        lambda conn, regs, now: views.get_application(conn, principal, regs, application_id, now),
    )


def _step(name: str, function):
    """POST /applications/{id}/<name> for a step without a body."""

    def endpoint(application_id: str, request: Request, principal: Caller, key: IdemKey):
        return _mutate(
            request,
            principal,
            key,
            {},
            lambda conn, regs, now: function(conn, principal, regs, application_id, now),
        )

    endpoint.__name__ = f"step_{name.replace('-', '_')}"
    router.post(f"/applications/{{application_id}}/{name}")(endpoint)


_step("audit", checks.audit_step)
_step("comparison", checks.compare_step)
_step("bank-account", production.open_account)
_step("withdrawal", corrections.withdraw)


def _application_step(
    request: Request, principal: Principal, key: str | None, application_id: str, body, step
) -> JSONResponse:
    """A step on one application that takes the request body: ``step(conn, principal,
    registers, application_id, body, now)`` in one idempotent write transaction."""
    return _mutate(
        request,
        principal,
        key,
        _dump(body),
        lambda conn, regs, now: step(conn, principal, regs, application_id, body, now),
    )


@router.post("/applications/{application_id}/pre-check")
def pre_check(
    application_id: str,
    request: Request,
    principal: Caller,
    key: IdemKey,
    body: PreCheckIn | None = None,
):
    body = body or PreCheckIn()
    return _mutate(
        request,
        principal,
        key,
        _dump(body),
        lambda conn, regs, now: checks.precheck_step(
            conn, principal, regs, application_id, now, card_no=body.card_no
        ),
    )


@router.get("/applications/{application_id}/personalisation-order")
def personalisation_order(application_id: str, request: Request, principal: Caller):
    return _read(
        request,
        principal,
        lambda conn, regs, now: production.personalisation_order(
            conn, principal, regs, application_id, now
        ),
    )


@router.post("/applications/{application_id}/personalisation")
def personalised(
    application_id: str, body: PersonalisedIn, request: Request, principal: Caller, key: IdemKey
):
    return _application_step(
        request, principal, key, application_id, body, production.personalised_step
    )


@router.post("/applications/{application_id}/account-opening")
def account_opened(
    application_id: str, body: AccountOpenedIn, request: Request, principal: Caller, key: IdemKey
):
    return _application_step(
        request, principal, key, application_id, body, production.account_opened_step
    )


@router.post("/applications/{application_id}/issuance")
def issuance(application_id: str, body: IssueIn, request: Request, principal: Caller, key: IdemKey):
    return _application_step(request, principal, key, application_id, body, production.issue_step)


@router.post("/applications/{application_id}/rejections")
def rejection(
    application_id: str, body: RejectionIn, request: Request, principal: Caller, key: IdemKey
):
    return _application_step(request, principal, key, application_id, body, production.reject_step)


@router.post("/applications/{application_id}/corrections")
def correction(
    application_id: str, body: CorrectionIn, request: Request, principal: Caller, key: IdemKey
):
    return _application_step(request, principal, key, application_id, body, corrections.correct)


# --- loss and the progress query -----------------------------------------------------------


@router.post("/card-losses", status_code=201)
def card_loss(body: LossIn, request: Request, principal: Caller, key: IdemKey):
    return _mutate(
        request,
        principal,
        key,
        _dump(body),
        lambda conn, regs, now: loss.report_card_loss(conn, principal, regs, body, now),
        201,
    )


@router.post("/card-progress")
def card_progress(body: ProgressQueryIn, request: Request, principal: Caller):
    """制卡进度查询 by SSN + query password; wrong passwords are rate-limited per SSN.

    The attempt is counted first (its own write transaction, refused with 429
    past the limit) and taken back when the password is right, so concurrent
    guesses can never exceed the limit.
    """
    svc = _service(request)
    regs = svc.registers
    now = utcnow()
    try:
        attempt = svc.db.run_write(
            lambda conn: progress.reserve_progress_attempt(conn, body.certno, now)
        )
    except Problem as problem:
        svc.audit_refusal(principal, problem)
        raise
    with svc.db.read() as conn:
        ok, answer = progress.progress_query(conn, regs, body.certno, body.query_password, now)
    if ok:
        svc.db.run_write(lambda conn: progress.release_progress_attempt(conn, attempt))
        return answer
    problem = Problem(
        403,
        "password_invalid",
        "the SSN and query password do not match; after "
        f"{progress.PROGRESS_MAX_FAILURES} wrong tries the query is locked for "
        f"{int(progress.PROGRESS_WINDOW.total_seconds() // 60)} minutes",
        audit=("card_progress.query", body.certno.upper()),
    )
    svc.audit_refusal(principal, problem)
    raise problem
