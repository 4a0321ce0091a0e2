"""Hand-written SQL for the hot paths (challenge, admission, fees, settlement, idempotency).

Issue 5 asks for ≥ 200 complete settlements per second on 2 cores; building
and compiling a SQLAlchemy Core statement costs far more Python time than
SQLite takes to run it. The statements here are plain SQL strings executed on
the DBAPI connection underneath the SQLAlchemy :class:`Connection` — the same
connection, so the same transaction, savepoints and durability as everything
else. Placeholders are written ``?``; for PostgreSQL they become ``$1, $2 ...`` and the
statements run straight on libpq through :mod:`settlement.store.pg_lane` (prepared once per
connection; the statements whose results nobody reads — :func:`defer` — travel with the next
statement or the commit in one round trip). Many rows are inserted on PostgreSQL as one
multi-row ``INSERT ... VALUES (...), (...)`` instead of one statement per row
(:func:`execute_many`).

Only the stores (``settlement/store/``) use it. Values are stored exactly as
SQLAlchemy stores them (so reports and the ORM read them back unchanged): on
SQLite a ``DateTime`` is the text ``YYYY-MM-DD HH:MM:SS.ffffff`` of the (UTC)
wall-clock fields and a ``Date`` is ``YYYY-MM-DD``; on PostgreSQL the driver
adapts them natively. Read them back with :func:`settlement.store.db.as_utc`
and :func:`settlement.store.db.as_date`.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from settlement.store import pg_lane

_ROW_TYPES: dict[tuple[str, ...], type] = {}


#: Most rows one multi-row INSERT carries on PostgreSQL (the protocol allows 65 535 parameters).
_MAX_ROWS_PER_INSERT = 500


def _numbered(text: str, first: int = 1) -> str:
    """``text`` with its ``?`` placeholders numbered ``$first, $first+1 ...`` (psycopg raw)."""
    parts = text.split("?")
    out = [parts[0]]
    for n, part in enumerate(parts[1:], start=first):
        out.append(f"${n}{part}")
    return "".join(out)


class Sql:
    """One statement, with its text for each dialect."""

    __slots__ = ("_insert_parts", "_many", "locked", "postgresql", "row_type", "sqlite")

    def __init__(self, text: str, *, _lock: bool = False) -> None:
        if "%" in text or "$" in text:
            raise ValueError("no literal % or $ in fast SQL (psycopg placeholders)")
        self.sqlite = text
        self.postgresql = _numbered(text) + (" FOR UPDATE" if _lock else "")
        #: The named-tuple type of its rows (:func:`first`, :func:`all_rows`), once known.
        self.row_type: type | None = None
        self._insert_parts = _insert_parts(text)
        self._many: dict[int, str] = {}
        # The statement with a row lock on PostgreSQL, used through settlement.store.db.for_update
        # (SQLite's BEGIN IMMEDIATE already serialises writers).
        self.locked: Sql = self if _lock else Sql(text, _lock=True)

    def postgresql_rows(self, count: int) -> str | None:
        """The PostgreSQL text inserting ``count`` rows in one statement, or None if this
        is not a plain ``INSERT ... VALUES (...)``."""
        if self._insert_parts is None:
            return None
        text = self._many.get(count)
        if text is None:
            head, row, tail = self._insert_parts
            width = row.count("?")
            rows = ", ".join(_numbered(row, 1 + i * width) for i in range(count))
            text = self._many[count] = f"{head}{rows}{tail}"
        return text


def _insert_parts(text: str) -> tuple[str, str, str] | None:
    """(``INSERT ... VALUES ``, ``(?, ?, ...)``, the rest) of a one-row INSERT, else None."""
    at = text.upper().rfind(" VALUES (")
    if not text.lstrip().upper().startswith("INSERT") or at < 0:
        return None
    start = at + len(" VALUES ")
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[:start], text[start : end + 1], text[end + 1 :]
    return None


def _sqlite_value(value: Any) -> Any:
    # The bind processors of SQLAlchemy's SQLite DATETIME / DATE, in the same format.
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # stored in UTC, like SQLAlchemy's path (as_utc reads UTC)
            value = value.astimezone(UTC)
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
        )
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, bool):
        return int(value)
    return value


#: A value as SQLite stores it through the hand-written SQL (bulk loads use it too).
sqlite_value = _sqlite_value

#: Types SQLite stores unchanged (``bool`` is not among them: it is stored as 0/1, and an exact
#: type check keeps it out).
_STORED_AS_IS = frozenset({str, int, type(None), float, bytes})


def _raw(conn: Connection):
    return conn.connection.dbapi_connection


def _sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _wrapped(conn: Connection, text: str, params, error: Exception) -> Exception:
    """The SQLAlchemy exception for a driver error (``IntegrityError``, ``OperationalError``...),
    as ``Connection.execute`` would raise it, so callers catch the same classes."""
    return sa_exc.DBAPIError.instance(text, params, error, conn.dialect.loaded_dbapi.Error)


def _sqlite_params(params: tuple) -> tuple:
    """``params`` as SQLite stores them; the same tuple when every value is stored as it is
    (text, integers, ``None``: most statements), without building a new one."""
    for value in params:
        if type(value) not in _STORED_AS_IS:
            return tuple(_sqlite_value(v) for v in params)
    return params


def stored(conn: Connection, value: Any) -> Any:
    """``value`` as the driver of ``conn`` stores it (SQLite: a time as its text): lets a
    caller convert a value shared by many rows once, for :func:`execute_many`."""
    return _sqlite_value(value) if _sqlite(conn) else value


def execute(conn: Connection, sql: Sql, params: tuple = ()):
    """Run one statement; its cursor (SQLite) or result (PostgreSQL): ``rowcount``,
    ``fetchone()``, ``fetchall()``, ``description``, to be read before the next statement."""
    if _sqlite(conn):
        text, params = sql.sqlite, _sqlite_params(params)
        try:
            return _raw(conn).execute(text, params)
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrapped(conn, text, params, error) from error
    try:
        return pg_lane.lane(_raw(conn)).execute(sql.postgresql, params)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, sql.postgresql, params, error) from error


def defer(conn: Connection, sql: Sql, params: tuple = ()) -> None:
    """Run a statement whose result nobody reads: at once on SQLite; on PostgreSQL with the
    next statement or the commit, in the same round trip (:mod:`settlement.store.pg_lane`).
    Its error, if any, is raised there: defer only statements whose failure the caller does
    not catch on the spot."""
    if _sqlite(conn):
        execute(conn, sql, params)
    else:
        pg_lane.lane(_raw(conn)).defer(sql.postgresql, params)


def prefetch(conn: Connection, sql: Sql, params: tuple = ()) -> None:
    """A read the caller runs next (:func:`execute`, :func:`first`, :func:`all_rows` with the
    same statement and parameters): on PostgreSQL it travels with the next round trip, so
    several reads cost one (:meth:`settlement.store.pg_lane.Lane.prefetch`); nothing on SQLite.
    Only for reads whose result no write of the same transaction in between could change."""
    if not _sqlite(conn):
        pg_lane.lane(_raw(conn)).prefetch(sql.postgresql, params)


def execute_many(conn: Connection, sql: Sql, rows: list[tuple], *, later: bool = False) -> None:
    """One statement for many parameter rows: ``executemany`` on SQLite; on PostgreSQL one
    multi-row INSERT per up to ``_MAX_ROWS_PER_INSERT`` rows (one execution on the server
    instead of one per row), deferred (:func:`defer`) with ``later``."""
    if not rows:
        return
    try:
        if _sqlite(conn):
            _raw(conn).executemany(sql.sqlite, [_sqlite_params(row) for row in rows])
            return
        lane = pg_lane.lane(_raw(conn))
        if sql.postgresql_rows(1) is None:
            for row in rows:
                lane.defer(sql.postgresql, row)
        else:
            step = max(1, min(_MAX_ROWS_PER_INSERT, 65_535 // max(1, len(rows[0]))))
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                lane.defer(sql.postgresql_rows(len(chunk)), [v for row in chunk for v in row])
        if not later:
            lane.flush()
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, sql.sqlite, rows, error) from error


def _row_type(description) -> type:
    names = tuple(column[0] for column in description)
    row_type = _ROW_TYPES.get(names)
    if row_type is None:
        row_type = _ROW_TYPES[names] = namedtuple("Record", names)
    return row_type


def first(conn: Connection, sql: Sql, params: tuple = ()):
    """The first row as a named tuple (attribute access like a SQLAlchemy ``Row``), or None."""
    cursor = execute(conn, sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    row_type = sql.row_type or _learn_row_type(sql, cursor.description)
    return row_type(*row)


def all_rows(conn: Connection, sql: Sql, params: tuple = ()) -> list:
    cursor = execute(conn, sql, params)
    rows = cursor.fetchall()
    if not rows:
        return []
    row_type = sql.row_type or _learn_row_type(sql, cursor.description)
    return [row_type(*row) for row in rows]


def _learn_row_type(sql: Sql, description) -> type:
    """The row type of ``sql`` from its first result (the same columns on both dialects):
    reading a cursor's ``description`` costs more than the statement's own parameters."""
    row_type = sql.row_type = _row_type(description)
    return row_type
