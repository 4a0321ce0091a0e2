"""The PostgreSQL writer threads of Database.run_write_async (settlement/store/db.py): each keeps
its connection between transactions; when the server dropped them all (a restart, a failover),
at most the first piece of work is refused and the service then works again, on every writer."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from benchmarks._pg import database_name
from settlement.store.db import PG_WRITERS, Database


def _backend_pid(conn) -> tuple[str, int]:
    return threading.current_thread().name, conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def _slow_backend_pid(conn) -> tuple[str, int]:
    conn.exec_driver_sql("SELECT pg_sleep(0.1)")
    return _backend_pid(conn)


@pytest.mark.postgres
def test_writers_keep_their_connections_and_recover_after_a_restart(
    fresh_postgres_url, postgres_server
):
    db = Database(fresh_postgres_url)

    async def scenario() -> None:
        seen = await asyncio.gather(
            *(db.run_write_async(_slow_backend_pid) for _ in range(PG_WRITERS * 2))
        )
        writers = dict(seen)
        assert len(writers) == PG_WRITERS  # every writer thread ran pieces ...
        assert len(set(seen)) == PG_WRITERS  # ... each on one connection, kept between them
        with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database_name(fresh_postgres_url),),
            )
        try:
            await db.run_write_async(_backend_pid)
        except DBAPIError:
            pass  # the first piece may meet a dropped connection: the client gets 503
        after = await asyncio.gather(
            *(db.run_write_async(_slow_backend_pid) for _ in range(PG_WRITERS * 2))
        )
        assert not {pid for _name, pid in after} & set(writers.values())

    try:
        asyncio.run(scenario())
    finally:
        db.dispose()
