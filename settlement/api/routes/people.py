"""People, coverage, enrolment, personal accounts and query passwords (docs/api.md §People)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from settlement import people
from settlement.api.deps import (
    Caller,
    FingerprintKey,
    IdemKey,
    ServiceDep,
    Write,
    WriteDep,
    guard,
    mutate,
)
from settlement.applications import progress
from settlement.authority import query_password_allowed
from settlement.problems import Problem
from settlement.rules.roles import ADMIN, BANK_BRANCH, CARD_CENTRE
from settlement.schemas import (
    AccountCreditIn,
    CoverageIn,
    CoverageMigrationIn,
    Day,
    EnrolmentIn,
    PasswordCheckIn,
    PersonIn,
    QueryPasswordIn,
)
from settlement.security import secret_fingerprint
from settlement.service import Principal, Service
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.post("/people", status_code=201)
def register_person(body: PersonIn, write: WriteDep):
    return _written(write, people.register_person, body)


def _written(write: Write, action: Callable[..., Any], *args: Any) -> JSONResponse:
    """``action(conn, caller, *args, now)`` as the route's idempotent write, answered 201; the
    request body (the last of ``args``) is what the Idempotency-Key is bound to."""
    return write(args[-1], lambda conn: action(conn, write.principal, *args, utcnow()), 201)


def _today(svc: Service) -> date:
    """The business date (today in the business time zone, or ``SSCARD_TODAY``)."""
    return svc.settings.business_date(utcnow())


@router.get("/people/{psn_no}")
def person_1101(psn_no: str, principal: Caller, svc: ServiceDep, on: Day | None = None):
    with svc.db.read() as conn:
        return people.lookup(
            conn,
            principal,
            on or _today(svc),
            psn_no=psn_no,
            delay_days=svc.settings.enrolment_entry_delay_days,
        )


@router.get("/people")
def person_1101_by(
    principal: Caller,
    svc: ServiceDep,
    card_no: str | None = None,
    certno: str | None = None,
    on: Day | None = None,
):
    with svc.db.read() as conn:
        return people.lookup(
            conn,
            principal,
            on or _today(svc),
            card_no=card_no,
            certno=certno,
            delay_days=svc.settings.enrolment_entry_delay_days,
        )


@router.post("/people/{psn_no}/coverage", status_code=201)
def add_coverage(psn_no: str, body: CoverageIn, write: WriteDep):
    return _written(write, people.add_coverage, psn_no, body)


@router.post("/admin/coverage-migrations", status_code=201)
def migrate_coverage(body: CoverageMigrationIn, write: WriteDep):
    return _written(write, people.migrate_coverage, body)


@router.post("/people/{psn_no}/resident-enrolment", status_code=201)
def enrol(psn_no: str, body: EnrolmentIn, write: WriteDep):
    return _written(write, people.resident_enrol, psn_no, body)


@router.post("/people/{psn_no}/account-credits", status_code=201)
def credit(psn_no: str, body: AccountCreditIn, write: WriteDep):
    return _written(write, people.credit_account, psn_no, body)


@router.post("/people/{psn_no}/query-password")
def query_password(
    psn_no: str,
    body: QueryPasswordIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    fingerprint_key: FingerprintKey,
    key: IdemKey = None,
):
    # The passwords never reach the idempotency record, nor anything a dictionary attack can
    # test: only an HMAC under a key derived from the service's key store.
    payload = {
        "mode": body.mode,
        "digest": secret_fingerprint(fingerprint_key, body.old_password, body.new_password),
    }
    # A change checks the old password: it shares the person's one attempt counter with the
    # verification and the card-progress query (issue 16), counted before the check in its
    # own transaction (the refused change rolls back, the failure stays) and taken back
    # unless the old password was wrong.
    attempt = None
    if body.mode == "change" and query_password_allowed(principal):
        attempt = _reserve_attempt(svc, principal, psn_no, utcnow())
    try:
        answer = mutate(
            request,
            svc,
            principal,
            key,
            payload,
            lambda conn: people.set_query_password(conn, principal, psn_no, body, utcnow()),
        )
    except Problem as problem:
        if attempt is not None and problem.code != "password_invalid":
            svc.db.run_write(lambda conn: progress.release_progress_attempt(conn, attempt))
        raise
    if attempt is not None:  # changed, or the stored answer of an earlier request replayed
        svc.db.run_write(lambda conn: progress.release_progress_attempt(conn, attempt))
    return answer


def _reserve_attempt(svc: Service, principal: Principal, psn_no: str, now: datetime) -> int:
    """Count one password check of ``psn_no`` before it is made (``429 too_many_attempts``
    past the limit, audited): the attempt's id, for taking it back when the password is right."""
    with svc.db.read() as conn:
        certno = people.load_person(conn, psn_no).certno
    try:
        return svc.db.run_write(lambda conn: progress.reserve_progress_attempt(conn, certno, now))
    except Problem as problem:
        svc.audit_refusal(principal, problem)
        raise


@router.post("/people/{psn_no}/query-password/verification")
def query_password_check(psn_no: str, body: PasswordCheckIn, principal: Caller, svc: ServiceDep):
    guard(
        svc,
        principal,
        CARD_CENTRE,
        BANK_BRANCH,
        ADMIN,
        action="query_password.verify",
        subject=psn_no,
    )
    # One attempt counter per person for every query-password check (issue 16): the wrong
    # guesses here and in the card-progress query share its 5-try limit, counted before
    # the check (429 too_many_attempts past it) and taken back when the password is right.
    attempt = _reserve_attempt(svc, principal, psn_no, utcnow())
    with svc.db.read() as conn:
        valid = people.check_query_password(conn, psn_no, body.password)
    if valid:
        svc.db.run_write(lambda conn: progress.release_progress_attempt(conn, attempt))
    return {"psn_no": psn_no, "valid": valid}
