"""The contribution aggregate (issue 20): enrolment records, payment orders of the payment
channels, and the paid person-years (``contribution_payment``, one row per person and year).

SQLAlchemy Core; inserts that may collide run in a savepoint so that a refusal leaves the
transaction usable. Rows locked with :func:`settlement.store.db.for_update`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from settlement.store.db import as_date, as_utc, for_update
from settlement.store.tables import T_CONTRIBUTION_PAYMENT, T_ENROLMENT, T_PAYMENT_ORDER

# --- enrolment records -------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """An ``enrolment_record`` row with its dates as ``date`` (SQLite gives text back)."""

    psn_no: str
    category: str
    applied_on: date
    coverage_start: date
    entered_on: date
    entered_at: datetime
    entered_by: str | None
    corrected_at: datetime | None


def enrolment(conn: Connection, psn_no: str, *, lock: bool = False) -> Enrolment | None:
    """The person's enrolment record, or None."""
    stmt = sa.select(T_ENROLMENT).where(T_ENROLMENT.c.psn_no == psn_no)
    if lock:
        stmt = for_update(stmt, conn)
    row = conn.execute(stmt).first()
    if row is None:
        return None
    return Enrolment(
        psn_no=row.psn_no,
        category=row.category,
        applied_on=as_date(row.applied_on),
        coverage_start=as_date(row.coverage_start),
        entered_on=as_date(row.entered_on),
        entered_at=as_utc(row.entered_at),
        entered_by=row.entered_by,
        corrected_at=as_utc(row.corrected_at),
    )


def insert_enrolment(conn: Connection, **columns: Any) -> bool:
    """A new enrolment record; False if the person has one already."""
    try:
        with conn.begin_nested():
            conn.execute(T_ENROLMENT.insert().values(**columns))
    except IntegrityError:
        return False
    return True


def correct_enrolment(conn: Connection, psn_no: str, **columns: Any) -> None:
    conn.execute(T_ENROLMENT.update().where(T_ENROLMENT.c.psn_no == psn_no).values(**columns))


# --- paid person-years -------------------------------------------------------------------


def paid_years(conn: Connection, psn_no: str) -> set[int]:
    """The insurance years the person has paid."""
    rows = conn.execute(
        sa.select(T_CONTRIBUTION_PAYMENT.c.year).where(T_CONTRIBUTION_PAYMENT.c.psn_no == psn_no)
    )
    return {row.year for row in rows}


def payment(conn: Connection, psn_no: str, year: int) -> Row | None:
    return conn.execute(
        sa.select(T_CONTRIBUTION_PAYMENT).where(
            T_CONTRIBUTION_PAYMENT.c.psn_no == psn_no, T_CONTRIBUTION_PAYMENT.c.year == year
        )
    ).first()


def insert_payment(conn: Connection, **columns: Any) -> bool:
    """Record a paid person-year; False if that person-year is paid already."""
    try:
        with conn.begin_nested():
            conn.execute(T_CONTRIBUTION_PAYMENT.insert().values(**columns))
    except IntegrityError:
        return False
    return True


def has_payments(conn: Connection, psn_no: str) -> bool:
    return bool(paid_years(conn, psn_no))


# --- payment orders ----------------------------------------------------------------------


def order(conn: Connection, order_no: str, *, lock: bool = False) -> Row | None:
    stmt = sa.select(T_PAYMENT_ORDER).where(T_PAYMENT_ORDER.c.order_no == order_no)
    if lock:
        stmt = for_update(stmt, conn)
    return conn.execute(stmt).first()


def order_by_channel_id(conn: Connection, channel: str, channel_order_id: str) -> Row | None:
    return conn.execute(
        sa.select(T_PAYMENT_ORDER).where(
            T_PAYMENT_ORDER.c.channel == channel,
            T_PAYMENT_ORDER.c.channel_order_id == channel_order_id,
        )
    ).first()


def insert_order(conn: Connection, **columns: Any) -> bool:
    """A new payment order; False if the channel used its ``channel_order_id`` already."""
    try:
        with conn.begin_nested():
            conn.execute(T_PAYMENT_ORDER.insert().values(**columns))
    except IntegrityError:
        return False
    return True


def confirm_order(
    conn: Connection, order_no: str, *, at: datetime, on: date, channel_txn_id: str
) -> None:
    conn.execute(
        T_PAYMENT_ORDER.update()
        .where(T_PAYMENT_ORDER.c.order_no == order_no)
        .values(status="confirmed", confirmed_at=at, confirmed_on=on, channel_txn_id=channel_txn_id)
    )


def confirmed_totals(conn: Connection, channel: str, day: date) -> tuple[int, int]:
    """(count, amount in fen) of the channel's orders confirmed on business day ``day``."""
    row = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(T_PAYMENT_ORDER.c.amount_fen), 0)
        ).where(T_PAYMENT_ORDER.c.channel == channel, T_PAYMENT_ORDER.c.confirmed_on == day)
    ).one()
    return int(row[0]), int(row[1])


def confirmed_orders(conn: Connection, channel: str, day: date) -> list[Row]:
    """The channel's orders confirmed on ``day``, by order number."""
    return list(
        conn.execute(
            sa.select(
                T_PAYMENT_ORDER.c.order_no,
                T_PAYMENT_ORDER.c.channel_order_id,
                T_PAYMENT_ORDER.c.channel_txn_id,
                T_PAYMENT_ORDER.c.psn_no,
                T_PAYMENT_ORDER.c.year,
                T_PAYMENT_ORDER.c.amount_fen,
            )
            .where(T_PAYMENT_ORDER.c.channel == channel, T_PAYMENT_ORDER.c.confirmed_on == day)
            .order_by(T_PAYMENT_ORDER.c.order_no)
        )
    )


def paid_by_channel(conn: Connection, channel: str, day: date) -> tuple[int, int]:
    """(count, amount) of person-years the channel's orders confirmed on ``day`` paid (each
    confirmed order must have paid exactly one person-year)."""
    row = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(T_CONTRIBUTION_PAYMENT.c.amount_fen), 0)
        )
        .select_from(
            T_CONTRIBUTION_PAYMENT.join(
                T_PAYMENT_ORDER, T_PAYMENT_ORDER.c.order_no == T_CONTRIBUTION_PAYMENT.c.order_no
            )
        )
        .where(T_PAYMENT_ORDER.c.channel == channel, T_PAYMENT_ORDER.c.confirmed_on == day)
    ).one()
    return int(row[0]), int(row[1])


def orders_created(conn: Connection, channel: str, day: date) -> list[Row]:
    """(status, created_at, expires_at) of the channel's orders created on business day ``day``."""
    return list(
        conn.execute(
            sa.select(
                T_PAYMENT_ORDER.c.status, T_PAYMENT_ORDER.c.created_at, T_PAYMENT_ORDER.c.expires_at
            ).where(T_PAYMENT_ORDER.c.channel == channel, T_PAYMENT_ORDER.c.created_on == day)
        )
    )
