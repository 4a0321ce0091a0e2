"""The hand-written statements on PostgreSQL, straight on libpq, several per round trip.

:mod:`settlement.store.sql` runs its statements here on PostgreSQL (issue #19: the service's
CPU per settlement). Each psycopg connection gets one :class:`Lane`; it

- binds parameters and reads rows with psycopg's own adapters (the same values as a psycopg
  cursor gives: text results, the connection's dumpers and loaders), but without a cursor's
  Python bookkeeping per statement;
- prepares each statement once per connection (named ``_sscard_N``), in the same round trip
  as its first execution;
- sends the statements whose results nobody reads (:meth:`Lane.defer`: inserts, updates) with
  the next statement that is read, or with the ``COMMIT``, in one libpq pipeline: one round
  trip for all of them. The transaction's ``BEGIN`` goes with its first statement the same way.

Order is kept: a deferred statement runs on the server before anything sent after it, and a
statement psycopg or SQLAlchemy sends on the same connection flushes the deferred ones first
(:func:`watch`). What moves is only when an error is seen: a deferred statement's error
(a unique violation, say) is raised by the next statement or the commit, in the same
transaction, as the same SQLAlchemy exception. So only statements whose failure the caller
does not catch on the spot may be deferred.

Waiting for the server releases the GIL (``poll``), as psycopg's own wait does.
"""

from __future__ import annotations

import select
from typing import Any

from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

_OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_IDLE = pq.TransactionStatus.IDLE
_TEXT = pq.Format.TEXT
#: Statements prepared per connection at most; further texts run unprepared.
MAX_PREPARED = 512
#: psycopg's own statement preparation off on the connections a lane runs on: psycopg answers a
#: ROLLBACK (or DROP, ALTER) on a connection where it prepared statements with DEALLOCATE ALL,
#: which would drop the lane's prepared statements too. The lane prepares the hot statements;
#: the rest (SQLAlchemy's) run unprepared.
CONNECT_ARGS = {"prepare_threshold": None}
_FORMATS: dict[int, list[PyFormat]] = {}


class Result:
    """What a cursor would give after ``execute``: ``rowcount``, ``fetchone()``, ``fetchall()``,
    ``description`` (the column names)."""

    __slots__ = ("_at", "_names", "rowcount", "rows")

    def __init__(self, rows: list[tuple], rowcount: int, names: tuple[str, ...]) -> None:
        self.rows = rows
        self.rowcount = rowcount
        self._names = names
        self._at = 0

    @property
    def description(self) -> list[tuple[str]]:
        return [(name,) for name in self._names]

    def fetchone(self) -> tuple | None:
        if self._at >= len(self.rows):
            return None
        self._at += 1
        return self.rows[self._at - 1]

    def fetchall(self) -> list[tuple]:
        rows, self._at = self.rows[self._at :], len(self.rows)
        return rows


class _Preparing:
    """In a pipeline's expected results: the preparation of the statement ``key``."""

    __slots__ = ("key",)

    def __init__(self, key: tuple) -> None:
        self.key = key


class Lane:
    """The statements of one psycopg connection (see the module docstring)."""

    __slots__ = ("_names", "_poll", "_prepared", "fetched", "pending", "pgconn", "raw", "tx")

    def __init__(self, raw) -> None:
        self.raw = raw
        self.pgconn = raw.pgconn
        self.tx = Transformer(raw)
        #: Statement (text, parameter types) -> its prepared name on this connection (from the
        #: moment its preparation is sent; removed again if the preparation failed).
        self._prepared: dict[tuple, bytes] = {}
        self._names = 0
        #: Statements waiting for the next round trip: (text, parameters, keep the result).
        self.pending: list[tuple[str, tuple, bool]] = []
        #: Results of :meth:`prefetch` statements that ran, by (text, parameters).
        self.fetched: dict[tuple, Result] = {}
        self._poll = select.poll()
        self._poll.register(self.pgconn.socket, select.POLLIN)

    def defer(self, text: str, params: tuple) -> None:
        """Run ``text`` with the next statement that is read, or with the commit."""
        self.fetched.clear()  # a write after them: prefetched results may be stale
        self.pending.append((text, params, False))

    def prefetch(self, text: str, params: tuple) -> None:
        """Send the read ``text`` with the next round trip and keep its result for the
        :meth:`execute` of the same text and parameters that follows in the same transaction,
        if nothing else is run or deferred in between (then the result is forgotten and the
        read runs again)."""
        self.pending.append((text, tuple(params), True))

    def execute(self, text: str, params: tuple) -> Result:
        """Run ``text`` (after the deferred statements, in the same round trip); its result.
        The result of a matching :meth:`prefetch` that ran already is given without a round
        trip; any other statement forgets the prefetched results."""
        if self.fetched:
            try:
                if self.pgconn.transaction_status != _IDLE:  # (kept only within a transaction)
                    return self.fetched.pop((text, params))
            except (KeyError, TypeError):
                pass
            self.fetched.clear()
        self.pending.append((text, params, False))
        return self._round_trip(commit=False)

    def flush(self) -> None:
        """Send the deferred statements now (before another statement on the connection,
        which may change what was prefetched: those results are forgotten)."""
        if self.pending:
            self._round_trip(commit=False)
        self.fetched.clear()

    def commit(self) -> None:
        """Send the deferred statements and ``COMMIT`` in one round trip (nothing to commit
        outside a transaction)."""
        self.fetched.clear()
        if self.pending or self.pgconn.transaction_status != _IDLE:
            self._round_trip(commit=True)

    def discard(self) -> None:
        """Forget the deferred statements (their transaction is being rolled back)."""
        self.pending.clear()
        self.fetched.clear()

    def _round_trip(self, *, commit: bool) -> Result | None:
        items, self.pending = self.pending, []
        bound = [self._bind(*item) for item in items]  # nothing sent if one fails
        pg = self.pgconn
        expected: list[Any] = []
        pg.enter_pipeline_mode()
        try:
            if bound and not self.raw.autocommit and pg.transaction_status == _IDLE:
                # the transaction's BEGIN, as psycopg would send it
                pg.send_query_params(self.raw._get_tx_start_command(), None)
                expected.append(None)
            for text, key, values, formats, keep in bound:
                expected.extend(self._send(text, key, values, formats, keep))
            if commit:
                pg.send_query_params(b"COMMIT", None)
                expected.append(None)
            pg.pipeline_sync()
            self._send_all()
            return self._read(expected)
        finally:
            if pg.pipeline_status != pq.PipelineStatus.OFF and not pg.is_busy():
                pg.exit_pipeline_mode()

    def _bind(self, text: str, params: tuple, keep: bool) -> tuple:
        """(text, prepared-statement key, parameters as sent, their formats, where to keep
        the result: the prefetch key or None)."""
        tx = self.tx
        formats = _FORMATS.get(len(params))
        if formats is None:
            formats = _FORMATS[len(params)] = [PyFormat.AUTO] * len(params)
        values = tx.dump_sequence(params, formats)
        return (
            text,
            (text, tuple(tx.types)),
            values,
            list(tx.formats),
            (text, params) if keep else None,
        )

    def _send(self, text: str, key: tuple, values: list, formats: list, keep) -> list[Any]:
        """Queue one statement (and its preparation); what :meth:`_read` expects of it."""
        pg = self.pgconn
        name = self._prepared.get(key)
        expected: list[Any] = []
        if name is None and len(self._prepared) < MAX_PREPARED:
            name = self._prepared[key] = f"_sscard_{self._names}".encode()
            self._names += 1
            pg.send_prepare(name, text.encode(), param_types=key[1])
            expected.append(_Preparing(key))
        if name is None:
            pg.send_query_params(text.encode(), values, key[1], formats, _TEXT)
        else:
            pg.send_query_prepared(name, values, formats, _TEXT)
        expected.append(keep or "statement")
        return expected

    def _send_all(self) -> None:
        """Send what libpq holds. While the socket takes no more, take in what the server
        answers meanwhile (a long pipeline: the server may wait for us to read)."""
        pg = self.pgconn
        if not pg.flush():
            return
        # poll, not select: select() refuses a socket numbered above 1023 (a busy process)
        self._poll.modify(pg.socket, select.POLLIN | select.POLLOUT)
        try:
            while True:  # flush() is 1 while the socket's buffer is full
                if any(events & select.POLLIN for _, events in self._poll.poll()):
                    pg.consume_input()
                if not pg.flush():
                    return
        finally:
            self._poll.modify(pg.socket, select.POLLIN)

    def _next(self):
        """The next result (waiting for the server without the GIL); None between queries."""
        pg = self.pgconn
        pg.consume_input()
        while pg.is_busy():
            self._poll.poll()
            pg.consume_input()
        return pg.get_result()

    def _read(self, expected: list[Any]) -> Result | None:
        """The results of a pipeline, in order, up to its sync point; the last statement's
        result; the first error (after the pipeline is read to its end). ``expected`` holds,
        per command sent: None (BEGIN, COMMIT), :class:`_Preparing`, ``"statement"``, or a
        prefetch's key (its result is kept in :attr:`fetched`)."""
        error: Exception | None = None
        last: Result | None = None
        for what in expected:
            result = self._next()
            while self._next() is not None:  # a query's results end with None
                pass
            if result.status in _OK:
                if what == "statement":
                    last = self._result(result)
                elif isinstance(what, tuple):
                    self.fetched[what] = self._result(result)  # a prefetch
                continue
            if isinstance(what, _Preparing):  # failed, or not run
                self._prepared.pop(what.key, None)
            if error is None and result.status != _ABORTED:
                error = pg_errors.error_from_result(result, encoding=self.raw.info.encoding)
        while (result := self._next()) is not None and result.status != _SYNC:
            pass
        if error is not None:
            raise error
        return last

    def _result(self, result) -> Result:
        ntuples = result.ntuples
        rows: list[tuple] = []
        if result.status == pq.ExecStatus.TUPLES_OK:
            if ntuples:
                self.tx.set_pgresult(result)
                rows = self.tx.load_rows(0, ntuples, tuple)
            names = tuple(result.fname(i).decode() for i in range(result.nfields))
        else:
            names = ()
        rowcount = result.command_tuples
        return Result(rows, ntuples if rowcount is None else rowcount, names)


def lane(raw) -> Lane:
    """The :class:`Lane` of a psycopg connection (made on first use, kept on it)."""
    found = getattr(raw, "_sscard_lane", None)
    if found is None:
        found = raw._sscard_lane = Lane(raw)
    return found


def watch(engine: Engine) -> None:
    """Keep deferred statements in order on ``engine``'s connections: sent before any other
    statement, sent with the commit, forgotten on a rollback or when the pool resets a
    connection."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before_statement(conn, _cursor, _statement, _params, _context, _many) -> None:
        found = _lane_of(_raw_of(conn))
        if found is not None and (found.pending or found.fetched):
            found.flush()  # (SQLAlchemy wraps a driver error raised here)

    @event.listens_for(engine, "commit")
    def _on_commit(conn) -> None:
        found = _lane_of(_raw_of(conn))
        if found is None:
            return
        found.fetched.clear()  # prefetched reads are of this transaction only
        if found.pending:
            try:
                found.commit()
            except pg_errors.Error as error:  # the same exception the commit would raise
                raise sa_exc.DBAPIError.instance("COMMIT", None, error, pg_errors.Error) from error

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn) -> None:
        _discard(_raw_of(conn))

    @event.listens_for(engine, "rollback_savepoint")
    def _on_rollback_savepoint(conn, _name, _context) -> None:
        _discard(_raw_of(conn))

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection, _record, _state) -> None:
        _discard(dbapi_connection)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, _record) -> None:
        _discard(dbapi_connection)


def _raw_of(conn):
    """The psycopg connection under a SQLAlchemy one; None once it is closed or invalidated."""
    if conn.closed or conn.invalidated:
        return None
    return conn.connection.dbapi_connection


def _lane_of(raw) -> Lane | None:
    return getattr(raw, "_sscard_lane", None) if raw is not None else None


def _discard(raw) -> None:
    found = _lane_of(raw)
    if found is not None:
        found.discard()
