"""Card production (docs/api.md §Card production; issuance.md): applications, their seven
steps, corrections, card loss and the holder's progress query.

Every mutating endpoint goes through :meth:`Service.mutate` (Idempotency-Key, one
write transaction, response stored with the effects), like the rest of the API.
The progress query is read-only apart from counting wrong passwords, so it
needs no Idempotency-Key (like pre-settlement).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.engine import Connection

from settlement.api.deps import (
    Caller,
    RegistersDep,
    ServiceDep,
    Write,
    WriteDep,
    read_audited,
)
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
from settlement.service import Principal
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1", tags=["card production"])

#: A step on one application that takes the request body.
BodyStep = Callable[[Connection, Principal, Registers, str, Any, Any], dict]


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
def accept(
    body: ApplicationIn,
    write: WriteDep,
    regs: RegistersDep,
):
    [password_hash] = intake.hash_query_passwords([body])  # outside the write transaction
    return write(
        _hide_password(body),
        lambda conn: intake.accept(
            conn, write.principal, regs, body, utcnow(), password_hash=password_hash
        ),
        201,
    )


@router.post("/application-batches", status_code=201)
def accept_batch(
    body: BatchIn,
    write: WriteDep,
    regs: RegistersDep,
):
    payload = {
        "employer_code": body.employer_code,
        "employer_name": body.employer_name,
        "applications": [_hide_password(a) for a in body.applications],
    }
    hashes = intake.hash_query_passwords(body.applications)  # outside the write transaction
    return write(
        payload,
        lambda conn: intake.accept_batch(
            conn, write.principal, regs, body, utcnow(), password_hashes=hashes
        ),
        201,
    )


@router.get("/applications")
def list_applications(
    principal: Caller,
    svc: ServiceDep,
    regs: RegistersDep,
    batch_id: str | None = None,
    employer_code: str | None = None,
    status: str | None = None,
    next_step: Annotated[int | None, Query(ge=1, le=7)] = None,
    certno: str | None = None,
    limit: int = 500,
):
    return read_audited(
        svc,
        principal,
        lambda conn: views.list_applications(
            conn,
            principal,
            regs,
            utcnow(),
            batch_id=batch_id,
            employer_code=employer_code,
            status=status,
            next_step=next_step,
            certno=certno,
            limit=max(1, min(limit, 5000)),
        ),
    )


@router.get("/applications/{application_id}")
def get_application(application_id: str, principal: Caller, svc: ServiceDep, regs: RegistersDep):
    return read_audited(
        svc,
        principal,
        lambda conn: views.get_application(conn, principal, regs, application_id, utcnow()),
    )


def _step(name: str, function) -> None:
    """POST /applications/{id}/<name> for a step without a body."""

    def endpoint(application_id: str, write: WriteDep, regs: RegistersDep):
        return write(
            {}, lambda conn: function(conn, write.principal, regs, application_id, utcnow())
        )

    endpoint.__name__ = f"step_{name.replace('-', '_')}"
    router.post(f"/applications/{{application_id}}/{name}")(endpoint)


_step("audit", checks.audit_step)
_step("comparison", checks.compare_step)
_step("bank-account", production.open_account)
_step("withdrawal", corrections.withdraw)


def _body_step(write: Write, regs: Registers, application_id: str, body, step: BodyStep):
    """``step(conn, principal, registers, application_id, body, now)`` in one idempotent
    write transaction."""
    return write(
        _dump(body), lambda conn: step(conn, write.principal, regs, application_id, body, utcnow())
    )


@router.post("/applications/{application_id}/pre-check")
def pre_check(
    application_id: str,
    write: WriteDep,
    regs: RegistersDep,
    body: PreCheckIn | None = None,
):
    body = body or PreCheckIn()
    return write(
        _dump(body),
        lambda conn: checks.precheck_step(
            conn, write.principal, regs, application_id, utcnow(), card_no=body.card_no
        ),
    )


@router.get("/applications/{application_id}/personalisation-order")
def personalisation_order(
    application_id: str, principal: Caller, svc: ServiceDep, regs: RegistersDep
):
    return read_audited(
        svc,
        principal,
        lambda conn: production.personalisation_order(
            conn, principal, regs, application_id, utcnow()
        ),
    )


@router.post("/applications/{application_id}/personalisation")
def personalised(
    application_id: str,
    body: PersonalisedIn,
    write: WriteDep,
    regs: RegistersDep,
):
    return _body_step(write, regs, application_id, body, production.personalised_step)


@router.post("/applications/{application_id}/account-opening")
def account_opened(
    application_id: str,
    body: AccountOpenedIn,
    write: WriteDep,
    regs: RegistersDep,
):
    return _body_step(write, regs, application_id, body, production.account_opened_step)


@router.post("/applications/{application_id}/issuance")
def issuance(
    application_id: str,
    body: IssueIn,
    write: WriteDep,
    regs: RegistersDep,
):
    return _body_step(write, regs, application_id, body, production.issue_step)


@router.post("/applications/{application_id}/rejections")
def rejection(
    application_id: str,
    body: RejectionIn,
    write: WriteDep,
    regs: RegistersDep,
):
    return _body_step(write, regs, application_id, body, production.reject_step)


@router.post("/applications/{application_id}/corrections")
def correction(
    application_id: str,
    body: CorrectionIn,
    write: WriteDep,
    regs: RegistersDep,
):
    return _body_step(write, regs, application_id, body, corrections.correct)


# --- loss and the progress query -----------------------------------------------------------


@router.post("/card-losses", status_code=201)
def card_loss(
    body: LossIn,
    write: WriteDep,
    regs: RegistersDep,
):
    return write(
        _dump(body),
        lambda conn: loss.report_card_loss(conn, write.principal, regs, body, utcnow()),
        201,
    )


@router.post("/card-progress")
def card_progress(body: ProgressQueryIn, principal: Caller, svc: ServiceDep, regs: RegistersDep):
    """制卡进度查询 by SSN + query password; wrong passwords are rate-limited per SSN.

    The attempt is counted first (its own write transaction, refused with 429
    past the limit) and taken back when the password is right, so concurrent
    guesses can never exceed the limit.
    """
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
    problem = progress.wrong_password(body.certno)
    svc.audit_refusal(principal, problem)
    raise problem
