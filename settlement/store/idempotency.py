"""Idempotency records: the first response to a mutating request, by (API key, Idempotency-Key).

docs/api.md §Idempotency. The record is written in the same transaction as the request's
effects; its primary key (``key_id``, ``idempotency_key``) is what makes a concurrent second
insert fail. Hand-written SQL (every mutation reads and writes one).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from settlement.store import sql

_SELECT = sql.Sql(
    "SELECT request_hash, status_code, response_body FROM idempotency_record"
    " WHERE key_id = ? AND idempotency_key = ?"
)
_INSERT = sql.Sql(
    "INSERT INTO idempotency_record (key_id, idempotency_key, request_hash, status_code, response_body,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_TRY_LOCK = sql.Sql("SELECT pg_try_advisory_xact_lock(?)")


def find(conn: Connection, key_id: str, idempotency_key: str):
    """(``request_hash``, ``status_code``, ``response_body``) of the record, or None."""
    return sql.first(conn, _SELECT, (key_id, idempotency_key))


def insert(
    conn: Connection,
    key_id: str,
    idempotency_key: str,
    request_hash: str,
    status_code: int,
    response_body: str,
    created_at: datetime,
) -> None:
    """Record a response (``IntegrityError`` if the key already has one)."""
    sql.execute(
        conn,
        _INSERT,
        (key_id, idempotency_key, request_hash, status_code, response_body, created_at),
    )


def try_lock(conn: Connection, lock_id: int) -> bool:
    """Take the transaction-scoped lock of one key (PostgreSQL: an advisory lock, not waiting).

    False if another transaction holds it. On SQLite writers are serialised already: True.
    """
    if conn.dialect.name != "postgresql":
        return True
    return bool(sql.execute(conn, _TRY_LOCK, (lock_id,)).fetchone()[0])
