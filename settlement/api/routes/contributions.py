"""Enrolment records, contribution payment orders of the payment channels, their daily
reconciliation (issue 20, docs/api.md §Contributions)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request

from settlement import contributions
from settlement.api.deps import (
    Caller,
    IdemKey,
    ServiceDep,
    WriteDep,
    guard,
    mutate,
    read_audited,
    request_path,
    respond,
)
from settlement.inpatient.common import new_id
from settlement.rules.roles import ADMIN, BANK_BRANCH, CARD_CENTRE, PAYMENT_CHANNEL
from settlement.schemas import (
    Day,
    EnrolmentCorrectionIn,
    EnrolmentRecordIn,
    MigratedPaymentIn,
    PaymentConfirmationIn,
    PaymentOrderIn,
)
from settlement.service import Service
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


def _today(svc: Service) -> date:
    """The business date (today in the business time zone, or ``SSCARD_TODAY``)."""
    return svc.settings.business_date(utcnow())


def _dates(svc: Service) -> dict:
    return {
        "today": _today(svc),
        "calendar": svc.registers.calendar,
        "delay_days": svc.settings.enrolment_entry_delay_days,
    }


@router.post("/enrolments", status_code=201)
def enter_enrolment(
    body: EnrolmentRecordIn,
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
        lambda conn: contributions.enter_enrolment(conn, principal, body, utcnow(), **_dates(svc)),
        201,
    )


@router.post("/enrolments/{psn_no}/correction")
def correct_enrolment(
    psn_no: str,
    body: EnrolmentCorrectionIn,
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
        lambda conn: contributions.correct_enrolment(
            conn, principal, psn_no, body, utcnow(), **_dates(svc)
        ),
    )


@router.get("/people/{psn_no}/contributions")
def contribution_status(
    psn_no: str, principal: Caller, svc: ServiceDep, on: Day | None = None, year: int | None = None
):
    guard(
        svc,
        principal,
        CARD_CENTRE,
        ADMIN,
        BANK_BRANCH,
        PAYMENT_CHANNEL,
        action="contribution.status",
        subject=psn_no,
    )
    delay = svc.settings.enrolment_entry_delay_days
    with svc.db.read() as conn:
        contributions.require_person(conn, psn_no)
        return contributions.status(conn, psn_no, on or _today(svc), year, delay_days=delay)


@router.post("/payment-orders", status_code=201)
def create_payment_order(
    body: PaymentOrderIn, request: Request, principal: Caller, svc: ServiceDep, key: IdemKey = None
):
    now = utcnow()
    today = svc.settings.business_date(now)
    delay = svc.settings.enrolment_entry_delay_days
    return respond(
        svc.mutate(
            principal,
            key,
            request.method,
            request_path(request),
            body.model_dump(mode="json"),
            lambda conn: contributions.create_order(
                conn,
                principal,
                body,
                now,
                today=today,
                delay_days=delay,
                order_no=new_id("PO", now),
                ttl_s=svc.settings.payment_order_ttl_s,
            ),
        )
    )


@router.get("/payment-orders/{order_no}")
def get_payment_order(order_no: str, principal: Caller, svc: ServiceDep):
    ttl = svc.settings.payment_order_ttl_s
    return read_audited(
        svc,
        principal,
        lambda conn: contributions.get_order(conn, principal, order_no, utcnow(), ttl),
    )


@router.post("/payment-orders/{order_no}/confirmation")
def confirm_payment_order(
    order_no: str,
    body: PaymentConfirmationIn,
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
        lambda conn: contributions.confirm_order(
            conn,
            principal,
            order_no,
            body,
            utcnow(),
            today=_today(svc),
            ttl_s=svc.settings.payment_order_ttl_s,
        ),
    )


@router.get("/payment-channels/{code}/reconciliation")
def channel_reconciliation(
    code: str,
    principal: Caller,
    svc: ServiceDep,
    day: Day,
    count: int | None = Query(default=None, ge=0),
    amount_fen: int | None = Query(default=None, ge=0),
    detail: bool = False,
):
    return read_audited(
        svc,
        principal,
        lambda conn: contributions.reconciliation(
            conn,
            principal,
            code,
            day,
            count=count,
            amount_fen=amount_fen,
            detail=detail,
            now=utcnow(),
            ttl_s=svc.settings.payment_order_ttl_s,
        ),
    )


@router.post("/contribution-payments", status_code=201)
def migrate_payment(
    body: MigratedPaymentIn,
    write: WriteDep,
):
    return write(
        body,
        lambda conn: contributions.record_migrated_payment(conn, write.principal, body, utcnow()),
        201,
    )
