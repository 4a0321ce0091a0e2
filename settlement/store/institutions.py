"""Institutions, their terminals and API keys as stored (docs/api.md §Setup).

The SQL of ``settlement.institutions``; the decisions (who may see what, which
codes conflict) stay there.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.store.tables import T_API_KEY, T_INSTITUTION, T_TERMINAL


def find(conn: Connection, code: str) -> Row | None:
    """Institution ``code`` (every column), or None."""
    return conn.execute(sa.select(T_INSTITUTION).where(T_INSTITUTION.c.code == code)).first()


def exists(conn: Connection, code: str) -> bool:
    return (
        conn.execute(sa.select(T_INSTITUTION.c.code).where(T_INSTITUTION.c.code == code)).first()
        is not None
    )


def insert(conn: Connection, created_at: datetime, **columns) -> None:
    """A new institution row (``code``, ``name``, ``kind``, ``hospital_level``, ``pin_service``,
    ``bank_code``, ``region``)."""
    conn.execute(T_INSTITUTION.insert().values(**columns, created_at=created_at))


def terminal_exists(conn: Connection, terminal_id: str) -> bool:
    return (
        conn.execute(
            sa.select(T_TERMINAL.c.terminal_id).where(T_TERMINAL.c.terminal_id == terminal_id)
        ).first()
        is not None
    )


def insert_terminal(
    conn: Connection, terminal_id: str, institution_code: str, name: str, created_at: datetime
) -> None:
    conn.execute(
        T_TERMINAL.insert().values(
            terminal_id=terminal_id,
            institution_code=institution_code,
            name=name,
            created_at=created_at,
        )
    )


def insert_api_key(
    conn: Connection,
    *,
    key_id: str,
    secret_hash: str,
    role: str,
    name: str,
    created_at: datetime,
    institution_code: str | None = None,
    terminal_id: str | None = None,
) -> None:
    """A new API key: only the hash of its secret is stored (settlement.security)."""
    conn.execute(
        T_API_KEY.insert().values(
            key_id=key_id,
            secret_hash=secret_hash,
            role=role,
            institution_code=institution_code,
            terminal_id=terminal_id,
            name=name,
            created_at=created_at,
        )
    )


def api_key_exists(conn: Connection, key_id: str) -> bool:
    return (
        conn.execute(sa.select(T_API_KEY.c.key_id).where(T_API_KEY.c.key_id == key_id)).first()
        is not None
    )
