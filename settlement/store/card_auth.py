"""The store of networked card authentications (table ``card_authentication``, issue 13).

Owns the SQL of the aggregate: record an authentication, read it (optionally
locked), mark it PIN-verified, and find a recent one of a card at an
institution — the look-up the national-platform gateway uses when a
transaction carries the card number and ``card_sn`` instead of the token.
Times come back as aware UTC (:func:`settlement.store.db.as_utc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from settlement.store import sql
from settlement.store.db import as_utc, for_update
from settlement.store.tables import T_CARD_AUTH


@dataclass(frozen=True)
class CardAuthRecord:
    """One authentication as stored (docs/api.md §Card authentication)."""

    token: str
    card_no: str
    card_id_code: str
    psn_no: str
    institution_code: str
    terminal_id: str
    key_id: str
    challenge_id: str
    created_at: datetime
    expires_at: datetime
    pin_challenge_id: str | None
    pin_verified_at: datetime | None

    @property
    def pin_verified(self) -> bool:
        return self.pin_verified_at is not None

    @property
    def card_sn(self) -> str:
        """The national platform's name for the card identification code."""
        return self.card_id_code


def _record(row) -> CardAuthRecord:
    return CardAuthRecord(
        token=row.token,
        card_no=row.card_no,
        card_id_code=row.card_id_code,
        psn_no=row.psn_no,
        institution_code=row.institution_code,
        terminal_id=row.terminal_id,
        key_id=row.key_id,
        challenge_id=row.challenge_id,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        pin_challenge_id=row.pin_challenge_id,
        pin_verified_at=as_utc(row.pin_verified_at),
    )


def insert(conn: Connection, record: CardAuthRecord) -> None:
    """Record a new authentication (its token is fresh: a clash is an IntegrityError)."""
    conn.execute(
        T_CARD_AUTH.insert().values(
            token=record.token,
            card_no=record.card_no,
            card_id_code=record.card_id_code,
            psn_no=record.psn_no,
            institution_code=record.institution_code,
            terminal_id=record.terminal_id,
            key_id=record.key_id,
            challenge_id=record.challenge_id,
            created_at=record.created_at,
            expires_at=record.expires_at,
            pin_challenge_id=record.pin_challenge_id,
            pin_verified_at=record.pin_verified_at,
        )
    )


def find(conn: Connection, token: str, *, lock: bool = False) -> CardAuthRecord | None:
    """The authentication of ``token``, or None; ``lock`` for an update in this transaction."""
    stmt = sa.select(T_CARD_AUTH).where(T_CARD_AUTH.c.token == token)
    if lock:
        stmt = for_update(stmt, conn)
    row = conn.execute(stmt).first()
    return _record(row) if row is not None else None


def mark_pin_verified(conn: Connection, token: str, challenge_id: str, at: datetime) -> None:
    """The holder verified the PIN on the card (key 02 over ``challenge_id``'s nonce) at ``at``."""
    conn.execute(
        T_CARD_AUTH.update()
        .where(T_CARD_AUTH.c.token == token)
        .values(pin_challenge_id=challenge_id, pin_verified_at=at)
    )


def find_recent(
    conn: Connection,
    *,
    institution_code: str,
    now: datetime,
    token: str | None = None,
    card_no: str | None = None,
    card_sn: str | None = None,
    pin_verified: bool = False,
) -> CardAuthRecord | None:
    """The newest authentication at ``institution_code`` still valid at ``now``, or None.

    By ``token`` when given (and then also matching ``card_no``/``card_sn`` when
    those are given), else by the card: ``card_no`` and, when given, ``card_sn``
    (the card identification code). ``pin_verified``: only PIN-verified ones.
    This is the look-up of the national-platform gateway (reader-library.md
    §pBusiCardInfo, step 3).
    """
    if token is None and card_no is None:
        raise ValueError("find_recent needs a token or a card number")
    shape = (token is not None, card_no is not None, card_sn is not None, pin_verified)
    statement = _RECENT.get(shape)
    if statement is None:
        statement = _RECENT[shape] = _recent_sql(*shape)
    params = [institution_code, now]
    params += [v for v in (token, card_no, card_sn and card_sn.upper()) if v is not None]
    row = sql.first(conn, statement, tuple(params))
    return _record(row) if row is not None else None


#: find_recent's statement for each shape of the look-up (hand-written SQL: the gateway's
#: 2401 and 2304 run it on every message).
_RECENT: dict[tuple[bool, bool, bool, bool], sql.Sql] = {}


def _recent_sql(token: bool, card_no: bool, card_sn: bool, pin_verified: bool) -> sql.Sql:
    where = ["institution_code = ?", "expires_at > ?"]
    where += ["token = ?"] if token else []
    where += ["card_no = ?"] if card_no else []
    where += ["upper(card_id_code) = ?"] if card_sn else []
    where += ["pin_verified_at IS NOT NULL"] if pin_verified else []
    return sql.Sql(
        f"SELECT {_COLUMNS} FROM card_authentication WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC LIMIT 1"
    )


_COLUMNS = (
    "token, card_no, card_id_code, psn_no, institution_code, terminal_id, key_id, challenge_id,"
    " created_at, expires_at, pin_challenge_id, pin_verified_at"
)
