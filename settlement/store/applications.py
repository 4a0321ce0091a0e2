"""The card production store: applications, their history and the progress query's failures.

The only place card production (``settlement.applications``) reads or writes
its tables (``settlement.store.application_tables``) and asks the card base
(``card``, ``person``) the questions of steps 2 and 4. Times are stored in
UTC and read back timezone-aware (:func:`settlement.store.db.as_utc`).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.problems import Problem
from settlement.rules.application_flow import FlowState, Status, Step
from settlement.store.application_tables import (
    T_APPLICATION,
    T_APPLICATION_EVENT,
    T_PROGRESS_FAILURE,
)
from settlement.store.db import as_utc, for_update
from settlement.store.tables import T_CARD, T_PERSON

#: Card numbers produced here: one letter and 8 digits (EF05 record 7, 9 ASCII).
CARD_NO_PREFIX = "S"

# --- applications ------------------------------------------------------------------------


def load(conn: Connection, application_id: str, *, lock: bool = True) -> Row:
    """One application (locked for this transaction unless ``lock`` is False), or 404."""
    stmt = sa.select(T_APPLICATION).where(T_APPLICATION.c.application_id == application_id)
    row = conn.execute(for_update(stmt, conn) if lock else stmt).first()
    if row is None:
        raise Problem(404, "not_found", f"application {application_id} not found")
    return row


def insert(conn: Connection, **values: Any) -> None:
    """A new application row."""
    conn.execute(T_APPLICATION.insert().values(**values))


def update(conn: Connection, application_id: str, now: datetime, **values: Any) -> None:
    """Change columns of one application (``updated_at`` = ``now``)."""
    conn.execute(
        T_APPLICATION.update()
        .where(T_APPLICATION.c.application_id == application_id)
        .values(updated_at=now, **values)
    )


def save_state(
    conn: Connection, application_id: str, state: FlowState, now: datetime, **values: Any
) -> None:
    """Store where the application stands (status, done, last return) plus ``values``."""
    update(
        conn,
        application_id,
        now,
        status=state.status.value,
        done=state.done,
        returned_at_step=int(state.returned_at) if state.returned_at else None,
        reason_code=state.reason.value if state.reason else None,
        **values,
    )


def search(
    conn: Connection,
    *,
    batch_id: str | None = None,
    employer_code: str | None = None,
    status: str | None = None,
    next_step: int | None = None,
    certno: str | None = None,
    bank_code: str | None = None,
    limit: int = 500,
) -> list[Row]:
    """Applications matching every filter given, oldest first."""
    t = T_APPLICATION.c
    stmt = sa.select(T_APPLICATION).order_by(t.applied_at, t.application_id)
    for column, value in (
        (t.batch_id, batch_id),
        (t.employer_code, employer_code),
        (t.status, status),
        (t.certno, certno),
    ):
        if value:
            stmt = stmt.where(column == value)
    if bank_code is not None:  # a bank branch: its own bank's applications only
        stmt = stmt.where(t.bank_code == bank_code)
    if next_step is not None:
        stmt = stmt.where(t.status == Status.IN_PROGRESS.value, t.done == next_step - 1)
    return list(conn.execute(stmt.limit(limit)).all())


def of_person(conn: Connection, certno: str) -> list[Row]:
    """Every application of one SSN, oldest first (the progress query)."""
    return list(
        conn.execute(
            sa.select(T_APPLICATION)
            .where(T_APPLICATION.c.certno == certno)
            .order_by(T_APPLICATION.c.applied_at)
        ).all()
    )


def latest_for_card(conn: Connection, card_no: str) -> Row | None:
    """The application that produced card ``card_no`` (the latest, should there be several)."""
    return conn.execute(
        sa.select(T_APPLICATION)
        .where(T_APPLICATION.c.card_no == card_no)
        .order_by(T_APPLICATION.c.applied_at.desc())
    ).first()


def other_in_production(conn: Connection, certno: str, application_id: str) -> str | None:
    """Another application of the same person already past registration (step 4), unfinished."""
    return conn.execute(
        sa.select(T_APPLICATION.c.application_id).where(
            T_APPLICATION.c.certno == certno,
            T_APPLICATION.c.application_id != application_id,
            T_APPLICATION.c.status == Status.IN_PROGRESS.value,
            T_APPLICATION.c.done >= int(Step.REGISTERED),
        )
    ).scalar()


# --- history -----------------------------------------------------------------------------


def events(conn: Connection, application_id: str) -> list[Row]:
    """The application's history, oldest first."""
    return list(
        conn.execute(
            sa.select(T_APPLICATION_EVENT)
            .where(T_APPLICATION_EVENT.c.application_id == application_id)
            .order_by(T_APPLICATION_EVENT.c.id)
        ).all()
    )


def add_event(
    conn: Connection,
    application_id: str,
    step: int | None,
    action: str,
    now: datetime,
    *,
    institution_code: str | None,
    terminal_id: str | None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event (``detail`` kept as JSON)."""
    conn.execute(
        T_APPLICATION_EVENT.insert().values(
            application_id=application_id,
            step=step,
            action=action,
            reason_code=reason,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
            institution_code=institution_code,
            terminal_id=terminal_id,
            at=now,
        )
    )


# --- the card base (steps 2, 4, withdrawal) ----------------------------------------------


def person_of_certno(conn: Connection, certno: str) -> Row | None:
    """``psn_no`` and ``query_password_hash`` of the insured person with this SSN."""
    return conn.execute(
        sa.select(T_PERSON.c.psn_no, T_PERSON.c.query_password_hash).where(
            T_PERSON.c.certno == certno
        )
    ).first()


def person(conn: Connection, psn_no: str) -> Row:
    """The insured person's record (it exists: a card refers to it)."""
    return conn.execute(sa.select(T_PERSON).where(T_PERSON.c.psn_no == psn_no)).one()


def set_query_password(conn: Connection, psn_no: str, password_hash: str) -> None:
    conn.execute(
        T_PERSON.update()
        .where(T_PERSON.c.psn_no == psn_no)
        .values(query_password_hash=password_hash)
    )


def take_verified_data(
    conn: Connection, psn_no: str, psn_name: str, household_register_no: str | None
) -> None:
    """The person record takes the name (and household register number) the police confirmed."""
    changed = T_PERSON.c.psn_name != psn_name
    if household_register_no:
        changed = sa.or_(
            changed, T_PERSON.c.household_register_no.is_distinct_from(household_register_no)
        )
    values: dict[str, str] = {"psn_name": psn_name}
    if household_register_no:
        values["household_register_no"] = household_register_no
    conn.execute(T_PERSON.update().where(T_PERSON.c.psn_no == psn_no, changed).values(**values))


def lock_person(conn: Connection, psn_no: str) -> None:
    """Serialise the pre-checks of one person (PostgreSQL; SQLite writers are serial already)."""
    conn.execute(for_update(sa.select(T_PERSON.c.psn_no).where(T_PERSON.c.psn_no == psn_no), conn))


def new_psn_no(conn: Connection, region: str) -> str:
    """A personal number not yet taken: region + 14 random digits."""
    while True:
        candidate = region + "".join(secrets.choice("0123456789") for _ in range(14))
        taken = conn.execute(
            sa.select(T_PERSON.c.psn_no).where(T_PERSON.c.psn_no == candidate)
        ).first()
        if taken is None:
            return candidate


def usable_card(conn: Connection, psn_no: str) -> Row | None:
    """An ``issued`` or ``active`` card of the person (``card_no``, ``status``), if any."""
    return conn.execute(
        sa.select(T_CARD.c.card_no, T_CARD.c.status).where(
            T_CARD.c.psn_no == psn_no, T_CARD.c.status.in_(("issued", "active"))
        )
    ).first()


def card_status(conn: Connection, card_no: str) -> str | None:
    """The card's status, or None when the card base has no such card."""
    return conn.execute(sa.select(T_CARD.c.status).where(T_CARD.c.card_no == card_no)).scalar()


def card_no_taken(conn: Connection, card_no: str) -> bool:
    """In the card base, or assigned to an application already."""
    return bool(
        conn.execute(sa.select(T_CARD.c.card_no).where(T_CARD.c.card_no == card_no)).first()
        or conn.execute(
            sa.select(T_APPLICATION.c.card_no).where(T_APPLICATION.c.card_no == card_no)
        ).first()
    )


def new_card_no(conn: Connection) -> str:
    """A card number not yet used: :data:`CARD_NO_PREFIX` and 8 random digits."""
    while True:
        candidate = CARD_NO_PREFIX + "".join(secrets.choice("0123456789") for _ in range(8))
        if not card_no_taken(conn, candidate):
            return candidate


# --- the progress query's wrong passwords -------------------------------------------------


def stored_query_password(conn: Connection, certno: str) -> str | None:
    """The query password hash of the person record with this SSN, if any."""
    return conn.execute(
        sa.select(T_PERSON.c.query_password_hash).where(T_PERSON.c.certno == certno)
    ).scalar()


def lock_progress_queries(conn: Connection, certno: str) -> None:
    """Serialise the progress queries of one SSN (PostgreSQL advisory lock; SQLite is serial)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"card-progress:{certno}"},
        )


def recent_failures(conn: Connection, certno: str, since: datetime) -> tuple[int, datetime | None]:
    """How many wrong passwords for ``certno`` after ``since``, and the oldest one's time."""
    count, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(T_PROGRESS_FAILURE.c.at)).where(
            T_PROGRESS_FAILURE.c.certno == certno, T_PROGRESS_FAILURE.c.at > since
        )
    ).one()
    return int(count), as_utc(oldest)


def add_failure(conn: Connection, certno: str, now: datetime) -> int:
    """Record one (presumed) wrong password; its id."""
    inserted = conn.execute(T_PROGRESS_FAILURE.insert().values(certno=certno, at=now))
    return int(inserted.inserted_primary_key[0])


def remove_failure(conn: Connection, attempt_id: int) -> None:
    conn.execute(T_PROGRESS_FAILURE.delete().where(T_PROGRESS_FAILURE.c.id == attempt_id))


def clear_failures(conn: Connection, certno: str) -> None:
    """A new query password ends any lockout of the progress query for this SSN."""
    conn.execute(T_PROGRESS_FAILURE.delete().where(T_PROGRESS_FAILURE.c.certno == certno.upper()))
