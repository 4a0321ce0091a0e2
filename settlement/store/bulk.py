"""Bulk writes for loading a large history at once (issue #19): ``COPY`` on PostgreSQL,
``executemany`` on SQLite, and ``ANALYZE`` afterwards.

Not for the service's requests (those go through the aggregate stores one stay at a time):
this is for a loader that fills a database with years of people, stays, fee lines and
settlements (``benchmarks/history.py``). Values are stored exactly as the stores store them
(:mod:`settlement.store.sql`: UTC times, SQLite's date/time text), so the reports and the
service read loaded rows like their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from settlement.store import sql, tables

#: The tables a history load may fill (everything else is written through the stores).
LOADABLE = frozenset(
    {
        "institution",
        "terminal",
        "person",
        "coverage_period",
        "card",
        "admission",
        "fee_line",
        "settlement",
        "reversal",
        "benefit_year",
        "account_entry",
        "audit_log",
    }
)


def _checked(table: str, columns: Sequence[str]) -> sa.Table:
    if table not in LOADABLE:
        raise ValueError(f"table {table!r} is not bulk-loadable")
    known = tables.SQLModel.metadata.tables[table].c
    unknown = [name for name in columns if name not in known]
    if unknown:
        raise ValueError(f"table {table!r} has no column(s) {', '.join(unknown)}")
    return tables.SQLModel.metadata.tables[table]


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]
) -> int:
    """Append ``rows`` (tuples in the order of ``columns``) to ``table``; how many.

    PostgreSQL: one ``COPY … FROM STDIN`` (binary-free text protocol, the driver adapts dates,
    times and booleans); SQLite: one prepared ``INSERT`` run by ``executemany``. Runs inside
    the caller's transaction: nothing is visible until it commits.
    """
    loaded = _checked(table, columns)
    names = ", ".join(columns)
    raw = conn.connection.dbapi_connection
    count = 0
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    batch: list[Sequence] = []
    statement = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    convert = [  # the date/time columns: stored as text, as the stores store them
        i
        for i, name in enumerate(columns)
        if isinstance(loaded.c[name].type, sa.Date | sa.DateTime)
    ]
    seen: dict = {}  # value -> its text (the lines of a stay share their times)
    for row in rows:
        if convert:
            row = list(row)
            for i in convert:
                value = row[i]
                text = seen.get(value)
                if text is None:
                    text = seen[value] = sql.sqlite_value(value)
                row[i] = text
        batch.append(row)
        if len(batch) >= 10_000:
            raw.executemany(statement, batch)
            count += len(batch)
            batch.clear()
            seen.clear()
    if batch:
        raw.executemany(statement, batch)
        count += len(batch)
    return count


def update_balances(conn: Connection, balances: Iterable[tuple[str, int]]) -> None:
    """Set ``person.acct_balance`` of each (``psn_no``, balance) pair."""
    raw = conn.connection.dbapi_connection
    statement = "UPDATE person SET acct_balance = ? WHERE psn_no = ?"
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            cursor.executemany(statement.replace("?", "%s"), [(b, p) for p, b in balances])
        return
    raw.executemany(statement, [(b, p) for p, b in balances])


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics after a load (``ANALYZE``), so that the first report
    on a loaded database is planned on its real size."""
    conn.exec_driver_sql("ANALYZE")
