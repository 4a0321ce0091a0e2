"""The hand-written hot-path SQL (settlement/store/sql.py) stores and reads exactly what SQLAlchemy does.

Rows written by :mod:`settlement.store.sql` are read by the ORM elsewhere (views,
reports, reversal) and the other way round, so the stored text of times and
days must be byte-identical on SQLite, and driver errors must surface as the
SQLAlchemy exception classes the callers catch. Runs on a real SQLite file and
on the real PostgreSQL server of the test run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from settlement.migrate import upgrade
from settlement.store import sql
from settlement.store.db import Database, as_date, as_utc, for_update
from settlement.store.tables import T_CHALLENGE

INSERT = sql.Sql(
    "INSERT INTO challenge (challenge_id, card_no, purpose, terminal_id, nonce, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
SELECT = sql.Sql("SELECT challenge_id, expires_at, used_at FROM challenge WHERE challenge_id = ?")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fast.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


def test_fast_and_core_writes_are_identical(database):
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)  # microsecond 0: SQLAlchemy still writes .000000
    with database.write() as conn:
        sql.execute(conn, INSERT, ("c_fast", "X1", "admission", "T1", "00" * 8, at))
        conn.execute(
            T_CHALLENGE.insert().values(
                challenge_id="c_core",
                card_no="X1",
                purpose="admission",
                terminal_id="T1",
                nonce="00" * 8,
                expires_at=at,
            )
        )
    with database.read() as conn:
        if database.sqlite:
            stored = dict(
                conn.exec_driver_sql("SELECT challenge_id, expires_at FROM challenge").all()
            )
            assert stored["c_fast"] == stored["c_core"] == "2026-03-04 05:06:07.000000"
        core = {row.challenge_id: row.expires_at for row in conn.execute(sa.select(T_CHALLENGE))}
        fast = sql.first(conn, SELECT, ("c_fast",))
    assert fast.challenge_id == "c_fast" and fast.used_at is None
    assert as_utc(fast.expires_at) == at
    assert as_utc(core["c_fast"]) == as_utc(core["c_core"]) == at


def test_dates_and_missing_rows(database):
    with database.read() as conn:
        assert sql.first(conn, SELECT, ("nothing",)) is None
        assert sql.all_rows(conn, SELECT, ("nothing",)) == []
    assert as_date("2026-03-04") == date(2026, 3, 4)
    assert as_date(date(2026, 3, 4)) == date(2026, 3, 4)
    assert as_date(None) is None


def test_driver_errors_are_sqlalchemy_errors(database):
    at = datetime(2026, 3, 4, tzinfo=UTC)
    row = ("c_dup", "X1", "admission", "T1", "00" * 8, at)
    with database.write() as conn:
        sql.execute(conn, INSERT, row)
    with pytest.raises(IntegrityError), database.write() as conn:
        sql.execute(conn, INSERT, row)
    with pytest.raises(IntegrityError), database.write() as conn:
        sql.execute_many(conn, INSERT, [(*row[:1], *row[1:]), row])


def test_no_percent_signs():
    with pytest.raises(ValueError):
        sql.Sql("SELECT 1 WHERE 'a' LIKE '%'")


def test_as_utc_reads_every_stored_form():
    """The one read-as-UTC helper: SQLite text (hand-written SQL), naive (SQLAlchemy on
    SQLite, stored in UTC) and aware values in any zone all come back aware in UTC."""
    at = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
    shanghai = timezone(timedelta(hours=8))
    assert as_utc("2026-03-04 05:06:07.000890") == at
    assert as_utc(datetime(2026, 3, 4, 5, 6, 7, 890)) == at
    assert as_utc(at.astimezone(shanghai)) == at
    assert as_utc(at.astimezone(shanghai)).tzinfo == UTC
    assert as_utc(None) is None


def test_for_update_locks_on_postgresql_only(database):
    """The one way to lock: hand-written SQL and Core statements alike get ``FOR UPDATE`` on
    PostgreSQL; on SQLite (BEGIN IMMEDIATE serialises writers) they stay as they are."""
    core = sa.select(T_CHALLENGE).where(T_CHALLENGE.c.challenge_id == "c1")
    with database.write() as conn:
        locked_sql = for_update(SELECT, conn)
        locked_core = for_update(core, conn)
        compiled = str(locked_core.compile(dialect=conn.dialect))
        assert sql.first(conn, locked_sql, ("c1",)) is None
        assert conn.execute(locked_core).first() is None
    if database.sqlite:
        assert locked_sql.sqlite == SELECT.sqlite
        assert "FOR UPDATE" not in compiled
    else:
        assert locked_sql.postgresql.endswith(" FOR UPDATE")
        assert not SELECT.postgresql.endswith(" FOR UPDATE")
        assert "FOR UPDATE" in compiled


def test_many_rows_in_one_statement(database, monkeypatch):
    """execute_many: on PostgreSQL one multi-row INSERT per chunk of rows (numbered
    placeholders), the same rows stored as one INSERT per row would store."""
    assert INSERT.postgresql_rows(2) == (
        "INSERT INTO challenge (challenge_id, card_no, purpose, terminal_id, nonce, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"
    )
    assert SELECT.postgresql_rows(2) is None  # not an INSERT ... VALUES: executemany
    monkeypatch.setattr(sql, "_MAX_ROWS_PER_INSERT", 2)  # 5 rows: chunks of 2, 2, 1
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    rows = [(f"c_many{i}", "X1", "admission", "T1", f"{i:016x}", at) for i in range(5)]
    with database.write() as conn:
        sql.execute_many(conn, INSERT, rows)
    with database.read() as conn:
        stored = [sql.first(conn, SELECT, (row[0],)) for row in rows]
    assert [row.challenge_id for row in stored] == [row[0] for row in rows]
    assert all(as_utc(row.expires_at) == at and row.used_at is None for row in stored)


def test_statements_after_a_failed_one(database):
    """The kept cursor: a statement that failed (and its transaction) leaves nothing behind
    for the next transaction on the same connection."""
    at = datetime(2026, 3, 4, tzinfo=UTC)
    row = ("c_again", "X1", "admission", "T1", "00" * 8, at)
    with database.write() as conn:
        sql.execute(conn, INSERT, row)
    for _ in range(3):
        with pytest.raises(IntegrityError), database.write() as conn:
            sql.execute(conn, INSERT, row)
    with database.read() as conn:
        assert sql.first(conn, SELECT, ("c_again",)).challenge_id == "c_again"
        assert sql.all_rows(conn, SELECT, ("c_again",))[0].used_at is None
