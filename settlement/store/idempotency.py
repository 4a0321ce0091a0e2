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
#: PostgreSQL: the key's lock and its record in one round trip. The row is read with the
#: statement's snapshot, taken before the lock: a first request that committed in between is
#: not seen here, and its record then stops ours at the insert (IntegrityError: replayed).
_LOCK_AND_FIND = sql.Sql(
    "SELECT pg_try_advisory_xact_lock(?) AS locked, r.request_hash, r.status_code,"
    " r.response_body FROM (SELECT 1) AS one LEFT JOIN idempotency_record AS r"
    " ON r.key_id = ? AND r.idempotency_key = ?"
)


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
    """Record a response (``IntegrityError`` if the key already has one, raised by the
    transaction's next statement or its commit: :func:`settlement.store.sql.defer`)."""
    sql.defer(
        conn,
        _INSERT,
        (key_id, idempotency_key, request_hash, status_code, response_body, created_at),
    )


def lock_and_find(conn: Connection, lock_id: int, key_id: str, idempotency_key: str):
    """Take the transaction-scoped lock of one key and read its record: (locked, record or None).

    PostgreSQL: an advisory lock, not waiting (False if another transaction holds it), in the
    same statement as the read. On SQLite writers are serialised already: always locked.
    """
    if conn.dialect.name != "postgresql":
        return True, find(conn, key_id, idempotency_key)
    row = sql.first(conn, _LOCK_AND_FIND, (lock_id, key_id, idempotency_key))
    return bool(row.locked), (row if row.request_hash is not None else None)
