"""Hand-written SQL for the hot paths (challenge, admission, fees, settlement, idempotency).

Issue 5 asks for ≥ 200 complete settlements per second on 2 cores; building
and compiling a SQLAlchemy Core statement costs far more Python time than
SQLite takes to run it. The statements here are plain SQL strings executed on
the DBAPI connection underneath the SQLAlchemy :class:`Connection` — the same
connection, so the same transaction, savepoints and durability as everything
else. Placeholders are written ``?`` and turned into ``%s`` for psycopg.

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

_ROW_TYPES: dict[tuple[str, ...], type] = {}


class Sql:
    """One statement, with its text for each dialect."""

    __slots__ = ("locked", "postgresql", "sqlite")

    def __init__(self, text: str, *, _lock: bool = False) -> None:
        if "%" in text:
            raise ValueError("no literal % in fast SQL (psycopg placeholders)")
        self.sqlite = text
        self.postgresql = text.replace("?", "%s") + (" FOR UPDATE" if _lock else "")
        # The statement with a row lock on PostgreSQL, used through settlement.store.db.for_update
        # (SQLite's BEGIN IMMEDIATE already serialises writers).
        self.locked: Sql = self if _lock else Sql(text, _lock=True)


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
    """Run one statement; the DBAPI cursor (``rowcount``, ``fetchone``...)."""
    if _sqlite(conn):
        text, params = sql.sqlite, _sqlite_params(params)
    else:
        text = sql.postgresql
    try:
        return _raw(conn).execute(text, params)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, text, params, error) from error


def execute_many(conn: Connection, sql: Sql, rows: list[tuple]) -> None:
    """One statement for many parameter rows (``executemany``)."""
    if not rows:
        return
    try:
        if _sqlite(conn):
            _raw(conn).executemany(sql.sqlite, [_sqlite_params(row) for row in rows])
        else:
            cursor = _raw(conn).cursor()
            try:
                cursor.executemany(sql.postgresql, rows)
            finally:
                cursor.close()
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
    return _row_type(cursor.description)(*row)


def all_rows(conn: Connection, sql: Sql, params: tuple = ()) -> list:
    cursor = execute(conn, sql, params)
    rows = cursor.fetchall()
    if not rows:
        return []
    row_type = _row_type(cursor.description)
    return [row_type(*row) for row in rows]
