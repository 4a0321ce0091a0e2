"""API keys as the service's authentication reads them (docs/api.md §Authentication)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.store.tables import T_API_KEY, T_INSTITUTION


def find_with_institution(conn: Connection, key_id: str) -> Row | None:
    """The key (``secret_hash``, ``role``, ``revoked``, ``terminal_id``, ``expires_at``,
    ``previous_secret_hash``, ``previous_valid_until``) with its institution's
    ``code``, ``kind``, ``hospital_level``, ``pin_service``, ``bank_code``, ``region`` (None for
    an admin key), or None if there is no such key."""
    return conn.execute(
        sa.select(
            T_API_KEY.c.secret_hash,
            T_API_KEY.c.role,
            T_API_KEY.c.revoked,
            T_API_KEY.c.terminal_id,
            T_API_KEY.c.expires_at,
            T_API_KEY.c.previous_secret_hash,
            T_API_KEY.c.previous_valid_until,
            T_INSTITUTION.c.code,
            T_INSTITUTION.c.kind,
            T_INSTITUTION.c.hospital_level,
            T_INSTITUTION.c.pin_service,
            T_INSTITUTION.c.bank_code,
            T_INSTITUTION.c.region,
        )
        .select_from(T_API_KEY.outerjoin(T_INSTITUTION))
        .where(T_API_KEY.c.key_id == key_id)
    ).first()


def find(conn: Connection, key_id: str) -> Row | None:
    """Every column of key ``key_id``, or None."""
    return conn.execute(sa.select(T_API_KEY).where(T_API_KEY.c.key_id == key_id)).first()


def listing(conn: Connection, institution_code: str | None = None) -> list[Row]:
    """Keys (never their hashes), oldest first; only ``institution_code``'s when given."""
    stmt = sa.select(
        T_API_KEY.c.key_id,
        T_API_KEY.c.role,
        T_API_KEY.c.institution_code,
        T_API_KEY.c.terminal_id,
        T_API_KEY.c.name,
        T_API_KEY.c.revoked,
        T_API_KEY.c.created_at,
        T_API_KEY.c.revoked_at,
        T_API_KEY.c.expires_at,
        T_API_KEY.c.previous_valid_until,
    ).order_by(T_API_KEY.c.created_at, T_API_KEY.c.key_id)
    if institution_code is not None:
        stmt = stmt.where(T_API_KEY.c.institution_code == institution_code)
    return list(conn.execute(stmt))


def update(conn: Connection, key_id: str, **values: object) -> None:
    """Set ``values`` on key ``key_id`` (revocation, rotation, expiry)."""
    conn.execute(T_API_KEY.update().where(T_API_KEY.c.key_id == key_id).values(**values))
