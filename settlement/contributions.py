"""Resident enrolment and contribution payment through the payment channels (issue 20,
docs/api.md §Contributions; the dates and states are settlement.rules.contributions).

- The card centre enters an enrolment record; it is payable after the entry delay and may be
  corrected for 5 working days.
- A payment channel (institution kind ``payment_channel``) creates an order for a person and
  an insurance year (the amount from the contribution rates) and confirms it when the person
  has paid; the confirmation records the paid person-year (at most one, ever) and the paid
  coverage period settlement relies on. Orders are idempotent by the channel's own order id,
  confirmations by the channel's transaction id.
- A pending order expires (``SSCARD_PAYMENT_ORDER_TTL``, default 30 minutes): it can no longer
  be confirmed (``409 order_expired``); the person pays with a new order.
- Each channel reconciles its business day: our count and sum against its own.
- The admin may record a person-year as paid (migration of payments made before this service).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from settlement.authority import require_role
from settlement.problems import Problem
from settlement.rules import contributions as rules
from settlement.rules.coverage import EnrolmentRefused, resident_enrolment
from settlement.rules.roles import ADMIN, CARD_CENTRE, PAYMENT_CHANNEL
from settlement.rules.working_days import HolidayCalendar
from settlement.schemas import (
    EnrolmentCorrectionIn,
    EnrolmentRecordIn,
    MigratedPaymentIn,
    PaymentConfirmationIn,
    PaymentOrderIn,
)
from settlement.service import Principal, audit
from settlement.store import contributions as store
from settlement.store import people
from settlement.store.db import as_utc, utcnow

PRIVILEGED = (CARD_CENTRE, ADMIN)
NOT_ENROLLED = "not_enrolled"


def _coverage_start(applied_on: date, psn_no: str) -> date:
    try:
        return resident_enrolment(applied_on)[0]
    except EnrolmentRefused as refused:
        raise Problem(
            422,
            "enrolment_refused",
            str(refused),
            extra={"reason_code": refused.code},
            audit=("enrolment.enter", psn_no),
        ) from None


def require_person(conn: Connection, psn_no: str) -> None:
    if people.find(conn, psn_no) is None:
        raise Problem(404, "not_found", f"person {psn_no} not found")


def _record_json(
    record: store.Enrolment, calendar: HolidayCalendar, delay_days: int
) -> dict[str, Any]:
    return {
        "psn_no": record.psn_no,
        "category": record.category,
        "applied_on": record.applied_on.isoformat(),
        "coverage_start": record.coverage_start.isoformat(),
        "entered_on": record.entered_on.isoformat(),
        "payable_from": rules.payable_from(record.entered_on, delay_days).isoformat(),
        "correctable_until": rules.correction_deadline(record.entered_on, calendar).isoformat(),
    }


def _entered_on(principal: Principal, body: EnrolmentRecordIn, today: date) -> date:
    """Today, or (admin only) the earlier day a migrated record was entered elsewhere."""
    if body.entered_on is None:
        return today
    if not principal.is_admin:
        raise Problem(403, "not_entitled", "only the admin may enter a record with entered_on")
    if body.entered_on > today:
        raise Problem(422, "validation_error", f"entered_on {body.entered_on} is in the future")
    return body.entered_on


def enter_enrolment(
    conn: Connection,
    principal: Principal,
    body: EnrolmentRecordIn,
    now: datetime,
    *,
    today: date,
    calendar: HolidayCalendar,
    delay_days: int,
) -> dict:
    """``POST /v1/enrolments``: the community office enters the person's enrolment record."""
    require_role(principal, *PRIVILEGED, action="enrolment.enter", subject=body.psn_no)
    require_person(conn, body.psn_no)
    if store.enrolment(conn, body.psn_no) is not None:
        raise Problem(409, "already_enrolled", f"person {body.psn_no} has an enrolment record")
    entered_on = _entered_on(principal, body, today)
    applied_on = body.applied_on or entered_on
    if applied_on > entered_on:
        raise Problem(422, "validation_error", f"applied_on {applied_on} is after the entry")
    columns = {
        "psn_no": body.psn_no,
        "category": body.category,
        "applied_on": applied_on,
        "coverage_start": _coverage_start(applied_on, body.psn_no),
        "entered_on": entered_on,
        "entered_at": now,
        "entered_by": principal.institution_code or principal.key_id,
    }
    if not store.insert_enrolment(conn, **columns):
        raise Problem(409, "already_enrolled", f"person {body.psn_no} has an enrolment record")
    audit(conn, principal, "enrolment.enter", body.psn_no, detail={"category": body.category})
    return _record_json(store.enrolment(conn, body.psn_no), calendar, delay_days)


def correct_enrolment(
    conn: Connection,
    principal: Principal,
    psn_no: str,
    body: EnrolmentCorrectionIn,
    now: datetime,
    *,
    today: date,
    calendar: HolidayCalendar,
    delay_days: int,
) -> dict:
    """``POST /v1/enrolments/{psn_no}/correction``: within 5 working days of entry, before
    any payment; afterwards the record counts as correct (``409 correction_window_closed``)."""
    require_role(principal, *PRIVILEGED, action="enrolment.correct", subject=psn_no)
    record = store.enrolment(conn, psn_no, lock=True)
    if record is None:
        raise Problem(404, "not_found", f"person {psn_no} has no enrolment record")
    if not rules.may_correct(record.entered_on, today, calendar):
        last = rules.correction_deadline(record.entered_on, calendar)
        raise Problem(
            409,
            "correction_window_closed",
            f"the record entered on {record.entered_on} could be corrected until {last}; "
            "it now counts as correct",
            audit=("enrolment.correct", psn_no),
        )
    if store.has_payments(conn, psn_no):
        raise Problem(409, "already_paid", f"person {psn_no} has paid; the record is final")
    changes: dict[str, Any] = {"corrected_at": now}
    if body.category is not None:
        changes["category"] = body.category
    if body.applied_on is not None:
        changes["applied_on"] = body.applied_on
        changes["coverage_start"] = _coverage_start(body.applied_on, psn_no)
    store.correct_enrolment(conn, psn_no, **changes)
    audit(conn, principal, "enrolment.correct", psn_no, detail=body.model_dump(mode="json"))
    return _record_json(store.enrolment(conn, psn_no), calendar, delay_days)


def status(
    conn: Connection, psn_no: str, on: date, year: int | None, *, delay_days: int
) -> dict[str, Any]:
    """Which state the person is in for insurance year ``year`` and why: ``not_enrolled``,
    ``processing``, ``payable``, ``paid`` or ``covered``. The core of the contribution query
    and of 1101's insured state. Default year: that of ``on``, or the enrolment's first year
    when it starts later."""
    record = store.enrolment(conn, psn_no)
    if year is None:
        first = rules.year_of(record.coverage_start) if record else 0
        year = max(rules.year_of(on), first)
    if record is None:
        return {
            "psn_no": psn_no,
            "year": year,
            "state": NOT_ENROLLED,
            "reason": "no enrolment record has been entered",
            "on": on.isoformat(),
        }
    state = rules.contribution_state(
        year=year,
        on=on,
        entered_on=record.entered_on,
        coverage_start=record.coverage_start,
        delay_days=delay_days,
        paid=store.payment(conn, psn_no, year) is not None,
    )
    if record.coverage_start > rules.year_span(year)[1]:
        return {
            "psn_no": psn_no,
            "year": year,
            "state": NOT_ENROLLED,
            "reason": f"the enrolment takes effect on {record.coverage_start}, after this year",
            "on": on.isoformat(),
        }
    return {"psn_no": psn_no, "category": record.category, **state.to_json(), "on": on.isoformat()}


def _order_json(row: Row, now: datetime, ttl_s: int) -> dict[str, Any]:
    expires_at = as_utc(row.expires_at) or rules.order_expiry(as_utc(row.created_at), ttl_s)
    status = rules.order_status(
        row.status, created_at=as_utc(row.created_at), expires_at=expires_at, now=now
    )
    return {
        "order_no": row.order_no,
        "channel": row.channel,
        "channel_order_id": row.channel_order_id,
        "psn_no": row.psn_no,
        "category": row.category,
        "year": row.year,
        "medical_fen": row.medical_fen,
        "pension_fen": row.pension_fen,
        "amount_fen": row.amount_fen,
        "rates_version": row.rates_version,
        "status": status,
        "expires_at": expires_at.isoformat(),
        "channel_txn_id": row.channel_txn_id,
        "confirmed_on": row.confirmed_on.isoformat() if row.confirmed_on else None,
    }


def _refused(refused: rules.PaymentRefused, psn_no: str) -> Problem:
    return Problem(409, refused.code, str(refused), audit=("payment_order.create", psn_no))


def create_order(
    conn: Connection,
    principal: Principal,
    body: PaymentOrderIn,
    now: datetime,
    *,
    today: date,
    delay_days: int,
    order_no: str,
    ttl_s: int = rules.ORDER_TTL_S,
) -> tuple[int, dict]:
    """``POST /v1/payment-orders``: (201, the new order, pending until ``expires_at``) or
    (200, the order this channel made with the same ``channel_order_id`` before, whatever its
    status now; another body under that id is refused)."""
    require_role(principal, PAYMENT_CHANNEL, action="payment_order.create", subject=body.psn_no)
    channel = principal.institution_code
    earlier = store.order_by_channel_id(conn, channel, body.channel_order_id)
    if earlier is not None:
        return 200, _same_order(earlier, body, now, ttl_s)
    record = store.enrolment(conn, body.psn_no)
    if record is None:
        require_person(conn, body.psn_no)
        raise Problem(
            409, NOT_ENROLLED, f"person {body.psn_no} has no enrolment record; enrol first"
        )
    try:
        rules.check_payment(
            year=body.year,
            on=today,
            entered_on=record.entered_on,
            coverage_start=record.coverage_start,
            delay_days=delay_days,
        )
        amount = rules.load_rates().amount(record.category, body.year)
    except rules.PaymentRefused as refused:
        raise _refused(refused, body.psn_no) from None
    if store.payment(conn, body.psn_no, body.year) is not None:
        raise Problem(409, "already_paid", f"{body.psn_no} has paid insurance year {body.year}")
    columns = {
        "order_no": order_no,
        "channel": channel,
        "channel_order_id": body.channel_order_id,
        "psn_no": body.psn_no,
        "category": record.category,
        "year": body.year,
        "medical_fen": amount.medical_fen,
        "pension_fen": amount.pension_fen,
        "amount_fen": amount.total_fen,
        "rates_version": amount.rates_version,
        "status": rules.PENDING,
        "created_at": now,
        "created_on": today,
        "expires_at": rules.order_expiry(now, ttl_s),
    }
    if not store.insert_order(conn, **columns):  # a concurrent twin won the race
        twin = store.order_by_channel_id(conn, channel, body.channel_order_id)
        return 200, _same_order(twin, body, now, ttl_s)
    return 201, _order_json(store.order(conn, order_no), now, ttl_s)


def _same_order(earlier: Row, body: PaymentOrderIn, now: datetime, ttl_s: int) -> dict[str, Any]:
    if (earlier.psn_no, earlier.year) != (body.psn_no, body.year):
        raise Problem(
            409,
            "order_id_reused",
            f"channel order id {body.channel_order_id} is order {earlier.order_no} for "
            f"{earlier.psn_no}, year {earlier.year}",
        )
    return _order_json(earlier, now, ttl_s)


def _own_order(conn: Connection, principal: Principal, order_no: str, *, lock: bool) -> Row:
    row = store.order(conn, order_no, lock=lock)
    if row is None or (not principal.is_admin and row.channel != principal.institution_code):
        raise Problem(404, "not_found", f"payment order {order_no} not found")
    return row


def get_order(
    conn: Connection,
    principal: Principal,
    order_no: str,
    now: datetime | None = None,
    ttl_s: int = rules.ORDER_TTL_S,
) -> dict:
    """``GET /v1/payment-orders/{order_no}``: the order, its status as of ``now``."""
    require_role(principal, PAYMENT_CHANNEL, ADMIN, action="payment_order.read", subject=order_no)
    row = _own_order(conn, principal, order_no, lock=False)
    return _order_json(row, now or utcnow(), ttl_s)


def confirm_order(
    conn: Connection,
    principal: Principal,
    order_no: str,
    body: PaymentConfirmationIn,
    now: datetime,
    *,
    today: date,
    ttl_s: int = rules.ORDER_TTL_S,
) -> dict:
    """``POST /v1/payment-orders/{order_no}/confirmation``: the channel's callback once the
    person has paid. Records the paid person-year and its paid coverage period; a repeat with
    the same transaction id answers the same; the person-year is never paid twice; an expired
    order is refused (``409 order_expired``: the channel refunds, the person pays anew)."""
    require_role(principal, PAYMENT_CHANNEL, action="payment_order.confirm", subject=order_no)
    row = _own_order(conn, principal, order_no, lock=True)
    if row.status == rules.CONFIRMED:
        if row.channel_txn_id != body.channel_txn_id:
            raise Problem(
                409,
                "order_already_confirmed",
                f"order {order_no} was confirmed with transaction {row.channel_txn_id}",
            )
        return _order_json(row, now, ttl_s)
    _refuse_expired(row, now, ttl_s)
    if body.amount_fen != row.amount_fen:
        raise Problem(
            422,
            "amount_mismatch",
            f"order {order_no} is for {row.amount_fen} fen, the channel reports {body.amount_fen}",
            audit=("payment_order.confirm", order_no),
        )
    record = store.enrolment(conn, row.psn_no)
    insutype = rules.INSUTYPE_OF[row.category]
    start, end = rules.covered_span(row.year, record.coverage_start)
    coverage_id = people.insert_coverage(conn, row.psn_no, insutype, start, end, True, now)
    paid = store.insert_payment(
        conn,
        psn_no=row.psn_no,
        year=row.year,
        order_no=order_no,
        channel=row.channel,
        amount_fen=row.amount_fen,
        source="channel",
        paid_at=now,
        coverage_id=coverage_id,
    )
    if not paid:
        raise Problem(
            409,
            "already_paid",
            f"{row.psn_no} has paid insurance year {row.year} by another order; "
            f"refund order {order_no} to the payer",
            audit=("payment_order.confirm", order_no),
        )
    store.confirm_order(conn, order_no, at=now, on=today, channel_txn_id=body.channel_txn_id)
    audit(conn, principal, "payment_order.confirm", order_no, detail={"psn_no": row.psn_no})
    return _order_json(store.order(conn, order_no), now, ttl_s)


def _refuse_expired(row: Row, now: datetime, ttl_s: int) -> None:
    created_at = as_utc(row.created_at)
    expires_at = as_utc(row.expires_at) or rules.order_expiry(created_at, ttl_s)
    status = rules.order_status(row.status, created_at=created_at, expires_at=expires_at, now=now)
    if status == rules.EXPIRED:
        raise Problem(
            409,
            "order_expired",
            f"order {row.order_no} expired at {expires_at.isoformat()} unconfirmed; refund the "
            "payer and create a new order",
            audit=("payment_order.confirm", row.order_no),
        )


def record_migrated_payment(
    conn: Connection, principal: Principal, body: MigratedPaymentIn, now: datetime
) -> dict:
    """``POST /v1/contribution-payments`` (admin): a person-year paid before this service."""
    require_role(principal, ADMIN, action="contribution.migrate", subject=body.psn_no)
    record = store.enrolment(conn, body.psn_no)
    if record is None:
        require_person(conn, body.psn_no)
        raise Problem(409, NOT_ENROLLED, f"person {body.psn_no} has no enrolment record")
    if record.coverage_start > rules.year_span(body.year)[1]:
        raise Problem(409, "not_enrolled_for_year", f"the enrolment starts after {body.year}")
    start, end = rules.covered_span(body.year, record.coverage_start)
    insutype = rules.INSUTYPE_OF[record.category]
    coverage_id = people.insert_coverage(conn, body.psn_no, insutype, start, end, True, now)
    columns = {"psn_no": body.psn_no, "year": body.year, "amount_fen": body.amount_fen}
    if not store.insert_payment(
        conn, **columns, source="admin", paid_at=now, coverage_id=coverage_id
    ):
        raise Problem(409, "already_paid", f"{body.psn_no} has paid insurance year {body.year}")
    audit(conn, principal, "contribution.migrate", body.psn_no, detail=body.model_dump())
    return {**columns, "source": "admin", "covered_from": str(start), "covered_to": str(end)}


def reconciliation(
    conn: Connection,
    principal: Principal,
    channel: str,
    day: date,
    *,
    count: int | None,
    amount_fen: int | None,
    detail: bool,
    now: datetime | None = None,
    ttl_s: int = rules.ORDER_TTL_S,
) -> dict:
    """``GET /v1/payment-channels/{code}/reconciliation``: the channel's confirmed orders of
    business day ``day``; with the channel's own ``count`` and ``amount_fen``, whether they
    balance. ``internal_balanced``: every confirmed order paid exactly one person-year.
    ``created``: the orders created that day by their status as of ``now`` (confirmed,
    pending, expired; an expired order never counts as paid)."""
    require_role(principal, PAYMENT_CHANNEL, ADMIN, action="payment.reconcile", subject=channel)
    if not principal.is_admin and principal.institution_code != channel:
        raise Problem(404, "not_found", f"payment channel {channel} not found")
    ours = store.confirmed_totals(conn, channel, day)
    paid = store.paid_by_channel(conn, channel, day)
    answer: dict[str, Any] = {
        "channel": channel,
        "day": day.isoformat(),
        "count": ours[0],
        "amount_fen": ours[1],
        "internal_balanced": ours == paid,
        "created": _created_by_status(conn, channel, day, now, ttl_s),
    }
    if count is not None or amount_fen is not None:
        answer["balanced"] = (count, amount_fen) == ours
        answer["count_difference"] = None if count is None else count - ours[0]
        answer["amount_difference_fen"] = None if amount_fen is None else amount_fen - ours[1]
    if detail:
        answer["orders"] = [{**row._asdict()} for row in store.confirmed_orders(conn, channel, day)]
    return answer


def _created_by_status(
    conn: Connection, channel: str, day: date, now: datetime | None, ttl_s: int
) -> dict[str, int]:
    now = now or utcnow()
    counts = {rules.CONFIRMED: 0, rules.PENDING: 0, rules.EXPIRED: 0}
    for row in store.orders_created(conn, channel, day):
        created_at = as_utc(row.created_at)
        status = rules.order_status(
            row.status,
            created_at=created_at,
            expires_at=as_utc(row.expires_at),
            now=now,
            ttl_s=ttl_s,
        )
        counts[status] += 1
    return counts
