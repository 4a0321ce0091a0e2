"""Database engines and write transactions for SQLite and PostgreSQL.

SQLite (the embedded default): one file in WAL mode with ``synchronous=FULL``
so a committed transaction is on disk before the response leaves; every write
transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front,
so two writers never deadlock on a lock upgrade), and inside one process write
transactions queue on a lock instead of spinning in SQLite's busy handler.

PostgreSQL: READ COMMITTED with explicit row locks (``SELECT ... FOR UPDATE``)
where money moves; commits are durable with the server defaults
(``synchronous_commit=on``). The event loop's writes run on a few writer threads
per process, each with its own connection kept open (:class:`_PgWriters`); each
piece of work is its own transaction (the server groups concurrent commits'
WAL flushes itself).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from settlement.store import pg_lane
from settlement.store.sql import Sql

SQLITE_BUSY_TIMEOUT_MS = 15_000
#: Writer threads (each with one connection) per service process on PostgreSQL: as many write
#: transactions as a process has in flight at once; more requests queue for the next free one.
#: A hot write is a few round trips of well under a millisecond each, so three keep up with a
#: process's event loop; more only add thread switches and server processes competing for
#: the same cores (2 cores, 2 processes, quiet machine: 2 / 3 / 4 / 8 writers gave about
#: 175 / 170 / 145 / 137 complete stays per second, CPU per stay rising with the count).
PG_WRITERS = 3
#: How much of the database file SQLite reads through a memory map (PRAGMA mmap_size).
SQLITE_MMAP_BYTES = 1 << 30
#: The statement that opens a SQLite transaction, by the ``sqlite_begin`` execution option.
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}
T = TypeVar("T")
S = TypeVar("S", bound=Any)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file of ``url`` readable by its owner only (0600; a folder made for it
    0700) before SQLite opens it: SQLite gives its WAL and shared-memory files the database
    file's mode, so they are 0600 too (docs/api.md §Files)."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    path = path.split("?", 1)[0]
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def create_engine(url: str) -> Engine:
    """An engine with the pragmas / options this service relies on."""
    url = normalise_url(url)
    if is_sqlite(url):
        private_sqlite_file(url)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=64,
            max_overflow=64,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    # hide_parameters: a database error never carries personal data into a log (issue 16).
    engine = sa.create_engine(
        url,
        pool_size=32,
        max_overflow=32,
        pool_pre_ping=False,
        hide_parameters=True,
        connect_args=pg_lane.CONNECT_ARGS,
    )
    pg_lane.watch(engine)
    return engine


def create_engine_for_cli(url: str) -> Engine:
    """A small engine for one-shot commands (no pool kept around)."""
    url = normalise_url(url)
    if is_sqlite(url):
        private_sqlite_file(url)
        engine = sa.create_engine(url, poolclass=NullPool, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(
        url, poolclass=NullPool, hide_parameters=True, connect_args=pg_lane.CONNECT_ARGS
    )
    pg_lane.watch(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from the sqlite3 module: we issue BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Pages are read through a memory map instead of a read() call each: a connection's
        # page cache is emptied whenever another connection (another worker, another pooled
        # connection) has committed, so most transactions re-read their pages. Writes still go
        # through the WAL with the same syncs: durability is unchanged.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver connection: SQLAlchemy's statement execution (context, events, cursor
        # wrapping) cost more than the BEGIN itself, once per transaction; a driver error is
        # raised as the SQLAlchemy exception callers catch (OperationalError: busy, locked).
        begin = _BEGIN[conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")]
        try:
            conn.connection.dbapi_connection.execute(begin)
        except sqlite3.Error as error:
            raise sa.exc.DBAPIError.instance(begin, (), error, sqlite3.Error) from error


class Database:
    """One engine plus the write discipline (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = create_engine(self.url)
        self.sqlite = is_sqlite(self.url)
        self._write_lock = threading.Lock() if self.sqlite else None
        self._lock_file: int | None = None
        if self.sqlite and "///" in self.url and ":memory:" not in self.url:
            # Writers of all worker processes queue on one file lock (flock wakes the next
            # writer at once, unlike SQLite's sleeping busy handler).
            lock_path = self.url.split("///", 1)[1] + ".writelock"
            self._lock_file = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._committer: _GroupCommitter | _PgWriters | None = None
        self._committer_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return "sqlite" if self.sqlite else "postgresql"

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction: committed on normal exit, rolled back on error.

        ``durable=False`` (SQLite only) commits without waiting for the disk
        (``synchronous=NORMAL`` for that one transaction): used only for
        ephemeral rows whose loss in a crash is harmless — proof challenges,
        which a terminal simply asks for again. Everything that moves money
        or records an admission is committed with ``synchronous=FULL``.
        """
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn, self._sqlite_write_on(conn, durable):
            yield conn

    @contextmanager
    def _sqlite_write_on(self, conn: Connection, durable: bool) -> Iterator[None]:
        """A SQLite write transaction on ``conn`` under the write locks (:meth:`write`)."""
        with self._write_locks(), self._sqlite_transaction(conn, durable):
            yield

    @contextmanager
    def _write_locks(self) -> Iterator[None]:
        """This process's write lock, then the one shared by every worker process."""
        with self._write_lock, self._process_lock():
            yield

    @contextmanager
    def _sqlite_transaction(self, conn: Connection, durable: bool) -> Iterator[None]:
        """A SQLite write transaction on ``conn`` (the caller holds the write locks)."""
        raw = conn.connection.dbapi_connection
        if not durable:
            raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                yield
        finally:
            if not durable:
                raw.execute("PRAGMA synchronous=FULL")

    def run_write(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Run ``work(conn)`` in a write transaction and return its result once committed.

        On SQLite the work goes through the group committer: one writer thread
        runs the queued pieces of work back to back, each inside its own
        SAVEPOINT, in one transaction, and commits them with a single fsync
        before any of their callers gets its result (group commit). Each piece
        still sees the effects of the pieces before it, exactly as if they had
        run one after the other; a piece that raises is rolled back to its
        savepoint alone. On PostgreSQL each piece is its own transaction (the
        server does its own group commit), run on the calling thread.
        """
        if not self.sqlite:
            with self.write() as conn:
                return work(conn)
        return self._writer().submit(work, durable).result()

    async def run_write_async(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """:meth:`run_write` for a coroutine: the same transaction and durability.

        The event loop hands the work straight to the SQLite group committer or
        to a PostgreSQL writer thread (:class:`_PgWriters`: its own connection,
        no pool check-out) and awaits its commit, with no thread-pool hop.
        """
        return await asyncio.wrap_future(self._writer().submit(work, durable))

    def _writer(self) -> _GroupCommitter | _PgWriters:
        """The write path of :meth:`run_write_async`: SQLite's group committer or the
        PostgreSQL writer threads (made on first use)."""
        if self._committer is None:
            with self._committer_lock:
                if self._committer is None:
                    self._committer = _GroupCommitter(self) if self.sqlite else _PgWriters(self)
        return self._committer

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        if self._lock_file is None:
            yield
            return
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (SQLite: deferred BEGIN, no write lock)."""
        with self.engine.connect() as conn:
            if self.sqlite:
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._committer_lock:
            committer, self._committer = self._committer, None
        if committer is not None:
            committer.stop()
        self.engine.dispose()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None


class _GroupCommitter:
    """The SQLite writer thread of :meth:`Database.run_write` (group commit)."""

    MAX_BATCH = 64

    def __init__(self, db: Database) -> None:
        self.db = db
        #: The writer's own connection, kept between batches: no pool check-out and check-in
        #: per batch, and its page cache stays valid while no other connection writes.
        self.conn: Connection | None = None
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="sqlite-group-commit", daemon=True)
        self.thread.start()

    def submit(self, work: Callable[[Connection], T], durable: bool) -> Future:
        """Queue ``work``; the future is resolved once its batch has committed (or failed)."""
        done: Future = Future()
        self.queue.put((work, durable, done))
        return done

    def stop(self) -> None:
        """End the writer thread after the work queued so far; its connection is closed."""
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None or self._commit(first):
                self._close()
                return

    def _drain(self, batch: list) -> bool:
        """Add the work queued now to ``batch`` (up to :data:`MAX_BATCH`); True if ``stop``
        was among it (the work queued before it is in the batch)."""
        while len(batch) < self.MAX_BATCH:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            _close(conn)

    def _commit(self, first: tuple) -> bool:
        """Commit ``first`` and the work queued behind it as one batch; True if ``stop`` was
        queued among it.

        The batch is drained from the queue once the write locks are held: work queued
        while another worker process's batch held the database joins this batch and its
        one fsync, instead of waiting for a batch of its own.
        """
        batch = [first]
        stopping = False
        outcomes: list[tuple[Future, object, BaseException | None]] = []
        try:
            with self.db._write_locks():
                stopping = self._drain(batch)
                durable = any(item[1] for item in batch)
                if self.conn is None:
                    self.conn = self.db.engine.connect()
                self._run_batch(self.conn, batch, durable, outcomes)
        except BaseException as error:  # noqa: BLE001 - the commit itself failed: nobody's work stands
            self._close()  # the next batch starts on a fresh connection
            for _work, _durable, done in batch:
                if not done.done():  # (a cancelled future is done)
                    done.set_exception(error)
            return stopping
        for done, result, error in outcomes:
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)
        return stopping

    def _run_batch(self, conn: Connection, batch: list, durable: bool, outcomes: list) -> None:
        """Each piece of ``batch`` in its savepoint, in one transaction committed on exit."""
        with self.db._sqlite_transaction(conn, durable):
            # Plain SQL savepoints on the driver connection: the same semantics as
            # ``conn.begin_nested()`` at a fraction of the cost per piece of work.
            raw = conn.connection.dbapi_connection
            for work, _durable, done in batch:
                if not done.set_running_or_notify_cancel():
                    continue  # its caller is gone (cancelled): not run, nothing to answer
                raw.execute("SAVEPOINT group_commit_piece")
                try:
                    result = work(conn)
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    raw.execute("ROLLBACK TO SAVEPOINT group_commit_piece")
                    raw.execute("RELEASE SAVEPOINT group_commit_piece")
                    outcomes.append((done, None, error))
                else:
                    raw.execute("RELEASE SAVEPOINT group_commit_piece")
                    outcomes.append((done, result, None))


class _PgWriters:
    """The PostgreSQL writer threads of :meth:`Database.run_write_async`.

    ``PG_WRITERS`` threads take queued pieces of work in turn; each runs a piece as one
    transaction on its own connection, kept open between pieces (no pool check-out and
    reset per transaction, and the statements :mod:`settlement.store.pg_lane` prepared on
    it stay there), and resolves the piece's future once committed (or failed). When one
    connection broke (the server restarted, dropped its connections, failed over), every
    writer drops its connection before its next piece (the others are as dead: their next
    piece would be refused too) and opens a new one: after one refused piece (503 to its
    client) the service works again.
    """

    def __init__(self, db: Database, count: int = PG_WRITERS) -> None:
        self.db = db
        #: Bumped when a writer's connection broke: connections opened before are dropped.
        self.generation = 0
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._run, name=f"pg-writer-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, work: Callable[[Connection], T], _durable: bool = True) -> Future:
        """Queue ``work``; the future is resolved once its transaction has committed (or failed).
        Every piece is durable on PostgreSQL (``synchronous_commit=on``)."""
        done: Future = Future()
        self.queue.put((work, done))
        return done

    def stop(self) -> None:
        """End the writer threads after the work queued so far; their connections are closed."""
        for _thread in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        conn: Connection | None = None
        generation = self.generation
        while (item := self.queue.get()) is not None:
            work, done = item
            if not done.set_running_or_notify_cancel():
                continue  # its caller is gone (cancelled): not run, nothing to answer
            if conn is not None and generation != self.generation:
                _close(conn, drop=True)  # another writer's connection broke: so has this one
                conn = None
            try:
                if conn is None:
                    generation = self.generation
                    conn = self.db.engine.connect()
                with conn.begin():
                    result = work(conn)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                if conn is not None and _broken(conn):
                    _close(conn, drop=True)
                    conn = None
                    if generation == self.generation:
                        self.generation += 1
                done.set_exception(error)
            else:
                done.set_result(result)
        if conn is not None:
            _close(conn)


def _broken(conn: Connection) -> bool:
    """Whether ``conn`` can no longer be used (closed, invalidated, its socket lost)."""
    if conn.closed or conn.invalidated:
        return True
    raw = conn.connection.dbapi_connection
    return raw is None or raw.closed or getattr(raw, "broken", False)


def _close(conn: Connection, *, drop: bool = False) -> None:
    """Close ``conn``; a broken one (or any, with ``drop``) is dropped from the pool instead of
    returned to it."""
    try:
        if not conn.invalidated and (drop or _broken(conn)):
            conn.invalidate()
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection is dropped all the same
        conn.invalidate()


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | str | None) -> datetime | None:
    """A stored ``DateTime`` read back as an aware UTC time: the one way to read time.

    Times are stored in UTC (:mod:`settlement.store.sql` writes them as SQLAlchemy
    does); SQLite gives them back naive (through SQLAlchemy) or as text (through
    the hand-written SQL), PostgreSQL aware in the session's zone.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_date(value: date | str | None) -> date | None:
    """A stored ``Date`` read back (SQLite text through the hand-written SQL)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def for_update(stmt: S, conn: Connection) -> S:
    """The locking form of a read: the one way to lock a row.

    ``SELECT ... FOR UPDATE`` on PostgreSQL (READ COMMITTED, explicit row locks
    where money moves); on SQLite the statement unchanged, since every write
    transaction's ``BEGIN IMMEDIATE`` already serialises writers. Takes a
    SQLAlchemy ``Select`` or a hand-written :class:`~settlement.store.sql.Sql`.
    """
    if isinstance(stmt, Sql):
        return stmt.locked
    if conn.dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt
