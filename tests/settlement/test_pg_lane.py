"""The hand-written statements on PostgreSQL (settlement/store/pg_lane.py): straight on libpq,
several per round trip, with the same results, errors and order as one statement at a time.

Runs on the real PostgreSQL server of the test run, in a database of its own per test.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from settlement.store import pg_lane, sql
from settlement.store.db import Database

pytestmark = pytest.mark.postgres

INSERT = sql.Sql("INSERT INTO t (id, v) VALUES (?, ?)")
UPDATE = sql.Sql("UPDATE t SET v = ? WHERE id = ?")
SELECT = sql.Sql("SELECT v FROM t WHERE id = ?")
COUNT = sql.Sql("SELECT count(*) FROM t")


@pytest.fixture
def db(fresh_postgres_url):
    database = Database(fresh_postgres_url)
    with database.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL)")
    yield database
    database.dispose()


@pytest.fixture
def round_trips(monkeypatch) -> list[int]:
    """Counts the lane's round trips to the server."""
    seen = [0]
    real = pg_lane.Lane._round_trip

    def counted(self, *, commit):
        seen[0] += 1
        return real(self, commit=commit)

    monkeypatch.setattr(pg_lane.Lane, "_round_trip", counted)
    return seen


def _rows(db: Database) -> list[tuple]:
    with db.read() as conn:
        return [tuple(row) for row in conn.exec_driver_sql("SELECT id, v FROM t ORDER BY id")]


def test_deferred_statements_travel_with_the_next_read_in_order(db, round_trips):
    with db.write() as conn:
        sql.defer(conn, INSERT, (1, "a"))
        sql.defer(conn, UPDATE, ("b", 1))
        assert round_trips[0] == 0  # nothing sent yet
        assert sql.first(conn, SELECT, (1,)) == ("b",)  # after both, in order
        assert round_trips[0] == 1  # BEGIN, two writes and the read: one round trip
        sql.defer(conn, INSERT, (2, "c"))
    assert round_trips[0] == 2  # the last write and the COMMIT: one more
    assert _rows(db) == [(1, "b"), (2, "c")]


def test_a_deferred_statements_error_is_raised_by_the_next_statement(db):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
    with pytest.raises(IntegrityError), db.write() as conn:
        sql.defer(conn, INSERT, (2, "b"))
        sql.defer(conn, INSERT, (1, "again"))  # the primary key is taken
        sql.execute(conn, COUNT)
    assert _rows(db) == [(1, "a")]  # the whole transaction was rolled back


def test_a_deferred_statements_error_is_raised_by_the_commit(db):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
    with pytest.raises(IntegrityError), db.write() as conn:
        sql.defer(conn, INSERT, (2, "b"))
        sql.defer(conn, INSERT, (1, "again"))
    assert _rows(db) == [(1, "a")]
    with db.write() as conn:  # the connection is usable again
        sql.defer(conn, INSERT, (3, "c"))
    assert _rows(db) == [(1, "a"), (3, "c")]


def test_a_rollback_forgets_the_deferred_statements(db):
    with db.engine.connect() as conn:
        with conn.begin() as transaction:
            sql.defer(conn, INSERT, (1, "a"))
            transaction.rollback()
        assert pg_lane.lane(conn.connection.dbapi_connection).pending == []
        with conn.begin():
            assert sql.first(conn, COUNT) == (0,)
    assert _rows(db) == []


def test_a_sqlalchemy_statement_sends_the_deferred_ones_first(db):
    with db.write() as conn:
        sql.defer(conn, INSERT, (1, "a"))
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1


def test_a_prefetched_read_costs_no_round_trip_of_its_own(db, round_trips):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
        before = round_trips[0]
        sql.prefetch(conn, SELECT, (1,))
        assert sql.first(conn, COUNT) == (1,)  # the prefetched read travels with this one
        assert sql.first(conn, SELECT, (1,)) == ("a",)  # and is answered from memory
        assert round_trips[0] == before + 1


def test_a_prefetched_read_is_not_used_after_a_write(db, round_trips):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
        sql.prefetch(conn, SELECT, (1,))
        sql.execute(conn, COUNT)  # the prefetch ran: "a"
        sql.defer(conn, UPDATE, ("b", 1))  # a write of the same transaction after it
        assert sql.first(conn, SELECT, (1,)) == ("b",)  # read again, after the write
        sql.prefetch(conn, SELECT, (1,))
        sql.execute(conn, COUNT)
        sql.execute(conn, UPDATE, ("c", 1))  # any other statement forgets it too
        assert sql.first(conn, SELECT, (1,)) == ("c",)


def test_statements_stay_prepared_after_a_rollback_and_an_error(db):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
    raw = None
    for _ in range(3):
        with pytest.raises(IntegrityError), db.write() as conn:
            raw = conn.connection.dbapi_connection
            assert sql.first(conn, SELECT, (1,)) == ("a",)
            sql.execute(conn, INSERT, (1, "dup"))
    assert pg_lane.lane(raw)._prepared  # prepared once, kept ...
    with db.write() as conn:  # ... and still there on the server after the rollbacks
        assert sql.first(conn, SELECT, (1,)) == ("a",)


VALUES = sql.Sql(
    "SELECT CAST(? AS text) AS a, CAST(? AS bigint) AS b, CAST(? AS timestamptz) AS c,"
    " CAST(? AS date) AS d, CAST(? AS boolean) AS e, CAST(? AS bytea) AS f,"
    " CAST(? AS numeric) AS g, CAST(? AS text) AS h"
)


def test_values_are_bound_and_read_as_a_psycopg_cursor_does(db, fresh_postgres_url):
    params = (
        "中文 text",
        2**40,
        datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        date(2026, 3, 4),
        True,
        b"\x00\x01\xff",
        Decimal("12.345600"),
        None,
    )
    with db.read() as conn:
        got = sql.first(conn, VALUES, params)
        raw = conn.connection.dbapi_connection
        expected = psycopg.RawCursor(raw).execute(VALUES.postgresql, params).fetchone()
    assert tuple(got) == tuple(expected)
    assert got[0] == "中文 text" and got[2] == params[2] and got[5] == params[5]


def test_a_dropped_connection_is_an_error_the_writers_recover_from(db, postgres_server):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
    with db.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        conn.commit()
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DBAPIError), conn.begin():
            sql.first(conn, SELECT, (1,))
        assert conn.invalidated or conn.connection.dbapi_connection.closed
    with db.write() as conn:  # a fresh connection from the pool works
        assert sql.first(conn, SELECT, (1,)) == ("a",)


@pytest.fixture
def busy_process(fresh_postgres_url):
    """A database whose connections open while the process holds more than 1 024 files, as
    a long-running service (or this test run) may: their sockets are numbered above 1 023."""
    held = []
    try:
        while len(held) < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        for fd in held:
            os.close(fd)
        pytest.skip("this process may not open 1 100 files")
    database = Database(fresh_postgres_url)
    try:
        with database.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL)")
            assert conn.connection.dbapi_connection.fileno() > 1023
        yield database
    finally:
        database.dispose()
        for fd in held:
            os.close(fd)


def _long_pipeline(db: Database) -> None:
    """Thousands of deferred statements with large values and large answers, then one read:
    more than the sockets' buffers hold in either direction."""
    many = [(n, f"{n:08d}" * 200) for n in range(3000)]
    with db.write() as conn:
        for row in many:
            sql.defer(conn, INSERT, row)
            sql.defer(conn, SELECT, (row[0],))  # each answers its 1 600 characters
        assert sql.first(conn, COUNT) == (3000,)
    assert _rows(db)[-1] == many[-1]


def test_a_long_pipeline_is_sent_and_read_whole(db, round_trips):
    _long_pipeline(db)
    assert round_trips[0] == 1  # the statements with the read (psycopg sends the COMMIT)


def test_a_long_pipeline_on_a_socket_numbered_above_1023(busy_process, round_trips):
    """The server is held on a table lock while the pipeline is sent: the socket fills, and
    the lane must wait on it (select() refuses a socket numbered above 1 023; poll() not)."""
    url = busy_process.engine.url.set(drivername="postgresql")
    locker = psycopg.connect(url.render_as_string(hide_password=False))
    locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(0.5, locker.rollback)
    release.start()
    try:
        _long_pipeline(busy_process)
    finally:
        release.join()
        locker.close()
    assert round_trips[0] == 1


def test_a_prefetched_read_is_not_used_by_the_next_transaction(db, postgres_server):
    with db.write() as conn:
        sql.execute(conn, INSERT, (1, "a"))
    with db.engine.connect() as conn:
        with conn.begin():
            sql.prefetch(conn, SELECT, (1,))
            sql.execute(conn, COUNT)  # the prefetch ran ("a") and is not used
        with db.write() as other:
            sql.execute(other, UPDATE, ("b", 1))
        with conn.begin():
            assert sql.first(conn, SELECT, (1,)) == ("b",)
