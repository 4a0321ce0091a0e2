"""The audit log: append-only (UPDATE and DELETE are refused by database triggers)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.store import sql
from settlement.store.tables import T_AUDIT

_INSERT = sql.Sql(
    "INSERT INTO audit_log (at, key_id, institution_code, terminal_id, action, subject, outcome, code,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RETURNING_ID = sql.Sql(_INSERT.sqlite + " RETURNING id")


def append(
    conn: Connection,
    *,
    at: datetime,
    key_id: str | None,
    institution_code: str | None,
    terminal_id: str | None,
    action: str,
    subject: str | None,
    outcome: str,
    code: str | None,
    detail: dict[str, Any] | None,
    with_id: bool = False,
) -> int | None:
    """One entry; its id with ``with_id``, else None (then on PostgreSQL the entry is written
    with the transaction's next statement or its commit: :func:`settlement.store.sql.defer`).
    ``detail`` is stored as JSON."""
    params = (
        at,
        key_id,
        institution_code,
        terminal_id,
        action,
        subject,
        outcome,
        code,
        json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
    )
    if not with_id:
        sql.defer(conn, _INSERT, params)
        return None
    return sql.execute(conn, _INSERT_RETURNING_ID, params).fetchone()[0]


def last_accepted(conn: Connection, subject: str, action_prefix: str) -> Row | None:
    """The newest ``ok`` entry about ``subject`` whose action starts with ``action_prefix``."""
    return conn.execute(
        sa.select(T_AUDIT.c.action, T_AUDIT.c.detail)
        .where(
            T_AUDIT.c.subject == subject,
            T_AUDIT.c.outcome == "ok",
            T_AUDIT.c.action.like(action_prefix + "%"),
        )
        .order_by(T_AUDIT.c.id.desc())
        .limit(1)
    ).first()
