"""The card aggregate: social-security cards and their states (issuance.md, settlement.md
§Card states), and the card-present proof's challenges (settlement.md §Card-present proof).

The proof's reads and writes (card, challenge) are hand-written SQL (hot path); the card
registry's are SQLAlchemy Core.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from settlement.store import sql
from settlement.store.db import as_date, as_utc, for_update
from settlement.store.tables import T_CARD

_SELECT_FOR_PROOF = sql.Sql(
    "SELECT card_no, psn_no, card_id_code, algorithm, region, expiry, bank_code, status, replaced_by"
    " FROM card WHERE card_no = ?"
)
_INSERT_CHALLENGE = sql.Sql(
    "INSERT INTO challenge (challenge_id, card_no, purpose, terminal_id, nonce, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_SELECT_CHALLENGE = sql.Sql(
    "SELECT challenge_id, card_no, purpose, terminal_id, nonce, expires_at, used_at"
    " FROM challenge WHERE challenge_id = ?"
)
_CONSUME_CHALLENGE = sql.Sql(
    "UPDATE challenge SET used_at = ? WHERE challenge_id = ? AND used_at IS NULL"
)
_CLAIM_CHALLENGE = sql.Sql(
    "UPDATE challenge SET used_at = ? WHERE challenge_id = ? AND used_at IS NULL AND card_no = ?"
    " AND purpose = ? AND terminal_id IS NOT DISTINCT FROM ?"
    " RETURNING challenge_id, card_no, purpose, terminal_id, nonce, expires_at, used_at"
)


def find(conn: Connection, card_no: str, *, lock: bool = False) -> Row | None:
    """Every column of the card, or None."""
    stmt = sa.select(T_CARD).where(T_CARD.c.card_no == card_no)
    if lock:
        stmt = for_update(stmt, conn)
    return conn.execute(stmt).first()


def find_by_id_code(conn: Connection, card_id_code: str) -> Row | None:
    """Every column of the card with this card identification code (upper-case hex), or None."""
    return conn.execute(sa.select(T_CARD).where(T_CARD.c.card_id_code == card_id_code)).first()


def prefetch_for_proof(conn: Connection, card_no: str) -> None:
    """:func:`find_for_proof` is next but one: its read travels with the next statement."""
    sql.prefetch(conn, _SELECT_FOR_PROOF, (card_no,))


def find_for_proof(conn: Connection, card_no: str):
    """The columns the proof and the card-state checks need (``expiry`` a date), or None."""
    card = sql.first(conn, _SELECT_FOR_PROOF, (card_no,))
    if card is None:
        return None
    return card._replace(expiry=as_date(card.expiry))


def psn_no_of(conn: Connection, card_no: str) -> str | None:
    return conn.execute(sa.select(T_CARD.c.psn_no).where(T_CARD.c.card_no == card_no)).scalar()


def of_person(conn: Connection, psn_no: str) -> list[Row]:
    """Every card the person was ever issued, oldest first."""
    return conn.execute(
        sa.select(T_CARD).where(T_CARD.c.psn_no == psn_no).order_by(T_CARD.c.created_at)
    ).all()


def usable_of_person(conn: Connection, psn_no: str) -> list[str]:
    """The person's ``issued`` or ``active`` cards."""
    return list(
        conn.execute(
            sa.select(T_CARD.c.card_no).where(
                T_CARD.c.psn_no == psn_no, T_CARD.c.status.in_(("issued", "active"))
            )
        ).scalars()
    )


def lost_of_person(conn: Connection, psn_no: str) -> str | None:
    """A card of the person reported lost (its replacement pending), if any."""
    return (
        conn.execute(
            sa.select(T_CARD.c.card_no).where(T_CARD.c.psn_no == psn_no, T_CARD.c.status == "lost")
        )
        .scalars()
        .first()
    )


def insert(conn: Connection, **columns: Any) -> bool:
    """A new card (``columns`` as in the ``card`` table); False if its number or
    identification code is taken. Runs in a savepoint: a refusal leaves the transaction usable."""
    try:
        with conn.begin_nested():
            conn.execute(T_CARD.insert().values(**columns))
    except IntegrityError:
        return False
    return True


def update(conn: Connection, card_no: str, *, only_if_status: str | None = None, **values) -> None:
    """Set ``values`` on the card (only while its status is ``only_if_status``, if given)."""
    stmt = T_CARD.update().where(T_CARD.c.card_no == card_no)
    if only_if_status is not None:
        stmt = stmt.where(T_CARD.c.status == only_if_status)
    conn.execute(stmt.values(**values))


# --- proof challenges ------------------------------------------------------------------


def insert_challenge(
    conn: Connection,
    challenge_id: str,
    card_no: str,
    purpose: str,
    terminal_id: str | None,
    nonce_hex: str,
    expires_at: datetime,
) -> None:
    """A proof challenge (written with the transaction's next statement or its commit)."""
    sql.defer(
        conn,
        _INSERT_CHALLENGE,
        (challenge_id, card_no, purpose, terminal_id, nonce_hex, expires_at),
    )


def find_challenge(conn: Connection, challenge_id: str):
    """The challenge (``expires_at`` and ``used_at`` aware UTC), or None."""
    row = sql.first(conn, _SELECT_CHALLENGE, (challenge_id,))
    return None if row is None else _challenge(row)


def _challenge(row):
    """A challenge row with ``expires_at`` and ``used_at`` aware UTC."""
    return row._replace(expires_at=as_utc(row.expires_at), used_at=as_utc(row.used_at))


def claim_challenge(
    conn: Connection,
    challenge_id: str,
    card_no: str,
    purpose: str,
    terminal_id: str | None,
    at: datetime,
):
    """Consume the challenge if it is unused and was issued to ``terminal_id`` for this card
    and purpose: the challenge as :func:`find_challenge` gives it, or None (nothing changed:
    no such challenge, another's, or used)."""
    rows = sql.all_rows(conn, _CLAIM_CHALLENGE, (at, challenge_id, card_no, purpose, terminal_id))
    return _challenge(rows[0]) if rows else None


def consume_challenge(conn: Connection, challenge_id: str, at: datetime) -> bool:
    """Mark the challenge used; False if it was already used (or does not exist)."""
    return sql.execute(conn, _CONSUME_CHALLENGE, (at, challenge_id)).rowcount == 1
