"""Liveness and the write-path baseline (docs/api.md §Setup: ``GET /v1/health``, ``POST /v1/probe``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from settlement.store.db import Database
from settlement.store.tables import T_PROBE


def check_database(db: Database) -> None:
    """One round trip to the database (raises if it cannot answer)."""
    with db.read() as conn:
        conn.execute(sa.select(1))


def insert_probe(conn: Connection, key_id: str, now: datetime) -> int:
    """One durable insert and nothing else: the benchmark's baseline write; its id."""
    return conn.execute(T_PROBE.insert().values(at=now, key_id=key_id)).inserted_primary_key[0]
