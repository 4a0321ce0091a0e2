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
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


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
) -> int:
    """One entry; its id. ``detail`` is stored as JSON."""
    row = sql.execute(
        conn,
        _INSERT,
        (
            at,
            key_id,
            institution_code,
            terminal_id,
            action,
            subject,
            outcome,
            code,
            json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        ),
    ).fetchone()
    return row[0]


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
