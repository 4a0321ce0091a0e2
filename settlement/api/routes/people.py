"""People, coverage, enrolment, personal accounts and query passwords (docs/api.md §People)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request

from settlement import people
from settlement.api.deps import Caller, FingerprintKey, IdemKey, ServiceDep, guard, mutate
from settlement.applications import progress
from settlement.problems import Problem
from settlement.rules.roles import ADMIN, BANK_BRANCH, CARD_CENTRE
from settlement.schemas import (
    AccountCreditIn,
    CoverageIn,
    EnrolmentIn,
    PasswordCheckIn,
    PersonIn,
    QueryPasswordIn,
)
from settlement.security import secret_fingerprint
from settlement.service import Service
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.post("/people", status_code=201)
def register_person(
    body: PersonIn, request: Request, principal: Caller, svc: ServiceDep, key: IdemKey = None
):
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: people.register_person(conn, principal, body, utcnow()),
        201,
    )


def _today(svc: Service) -> date:
    """Today in the business time zone."""
    return utcnow().astimezone(svc.settings.tz).date()


@router.get("/people/{psn_no}")
def person_1101(psn_no: str, principal: Caller, svc: ServiceDep, on: date | None = None):
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
    on: date | None = None,
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
def add_coverage(
    psn_no: str,
    body: CoverageIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    key: IdemKey = None,
):
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: people.add_coverage(conn, principal, psn_no, body, utcnow()),
        201,
    )


@router.post("/people/{psn_no}/resident-enrolment", status_code=201)
def enrol(
    psn_no: str,
    body: EnrolmentIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    key: IdemKey = None,
):
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: people.resident_enrol(conn, principal, psn_no, body, utcnow()),
        201,
    )


@router.post("/people/{psn_no}/account-credits", status_code=201)
def credit(
    psn_no: str,
    body: AccountCreditIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    key: IdemKey = None,
):
    return mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: people.credit_account(conn, principal, psn_no, body, utcnow()),
        201,
    )


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
    return mutate(
        request,
        svc,
        principal,
        key,
        payload,
        lambda conn: people.set_query_password(conn, principal, psn_no, body, utcnow()),
    )


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
    now = utcnow()
    with svc.db.read() as conn:
        certno = people.load_person(conn, psn_no).certno
    try:
        attempt = svc.db.run_write(
            lambda conn: progress.reserve_progress_attempt(conn, certno, now)
        )
    except Problem as problem:
        svc.audit_refusal(principal, problem)
        raise
    with svc.db.read() as conn:
        valid = people.check_query_password(conn, psn_no, body.password)
    if valid:
        svc.db.run_write(lambda conn: progress.release_progress_attempt(conn, attempt))
    return {"psn_no": psn_no, "valid": valid}
