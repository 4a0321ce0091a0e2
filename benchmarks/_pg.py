"""A private, throw-away PostgreSQL server (Debian's ``postgresql`` binaries), for tests,
benchmarks and scenario scripts alike (issue #19).

Not a benchmark itself: the tests' fixture (``tests/fixtures/postgres.py``) and the benchmarks
that run on PostgreSQL (``settlement_load.py --database postgresql``, ``history.py``) use it::

    from benchmarks._pg import PostgresServer

    with PostgresServer() as server:                  # initdb + start on a free port
        url = server.create_database("bench")         # postgresql+psycopg://… (SQLAlchemy)
        dsn = server.dsn("bench")                     # postgresql://… (psycopg.connect)

How it works: the newest ``/usr/lib/postgresql/<ver>/bin`` is used (override with
``SSCARD_PG_BIN=/path/to/bin``); ``initdb`` (trust auth, no sync) into a temp dir under /tmp,
owned by the ``postgres`` user and run through ``runuser`` when we run as root (PostgreSQL
refuses to run as root); the server listens on 127.0.0.1 on a free port with its unix socket in
the temp dir (``data_from``: a copy of a stopped cluster's data directory instead of ``initdb``,
e.g. a cached history, see ``benchmarks/_history_cache.py``). By default durability is switched off (``fsync=off``, ``synchronous_commit=off``,
``full_page_writes=off``: fine for throw-away test data); ``durable=True`` keeps PostgreSQL's
own durable defaults (what a service runs with, and what a benchmark should measure).
``settings`` adds or overrides ``-c name=value`` server settings (``wal_level``,
``synchronous_standby_names`` … for a replica set-up); :meth:`PostgresServer.run_tool` runs any
other server binary (``pg_basebackup``, ``pg_ctl promote``) as the right user.
:meth:`PostgresServer.stop` stops the server and removes the temp dir (also at interpreter exit).

Manual try-out: ``python benchmarks/_pg.py [--durable]`` starts one, prints its URL, and stops
it on Ctrl-C or ``kill PID`` (SIGTERM).
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Self

import psycopg

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
SETUP_HINT = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin. "
    "Run `scripts/setup.sh` (as root) to install the Debian `postgresql` package, "
    "or point SSCARD_PG_BIN at a directory holding initdb, pg_ctl and postgres."
)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Throw-away data: no fsync, no WAL flush at commit, no full-page images.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
BASE_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "max_wal_size": "256MB",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says what to do."""


def find_pg_bin() -> Path:
    """The directory with ``initdb``/``pg_ctl``/``postgres``: ``$SSCARD_PG_BIN`` or the newest
    ``/usr/lib/postgresql/<version>/bin``."""
    override = os.environ.get("SSCARD_PG_BIN")
    candidates = [Path(override)] if override else []
    if not override and PG_ROOT.is_dir():
        versions = [p for p in PG_ROOT.iterdir() if p.name.replace(".", "").isdigit()]
        versions.sort(key=lambda p: tuple(int(x) for x in p.name.split(".")), reverse=True)
        candidates = [p / "bin" for p in versions]
    for bin_dir in candidates:
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    raise PostgresUnavailable(SETUP_HINT)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_name(url: str) -> str:
    """The database name at the end of a URL made by :class:`PostgresServer`."""
    return url.rsplit("/", 1)[1].split("?", 1)[0]


class PostgresServer:
    """One throw-away PostgreSQL cluster: ``start()``, ``create_database()``, ``stop()``."""

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        durable: bool = False,
        settings: dict[str, str] | None = None,
        data_from: Path | None = None,
    ) -> None:
        self.bin_dir = bin_dir or find_pg_bin()
        self.data_from = data_from
        self.base_dir: Path | None = None
        self.port: int | None = None
        self.start_seconds: float | None = None
        self.settings = {**BASE_SETTINGS, **({} if durable else FAST_SETTINGS), **(settings or {})}
        self._as_postgres = os.geteuid() == 0

    # -- paths and commands -------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self._base / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base / "run"

    @property
    def log_file(self) -> Path:
        return self._base / "postgres.log"

    @property
    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresUnavailable("the PostgreSQL server has not been started")
        return self.base_dir

    def run_tool(
        self, tool: str, *args: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run the server binary ``tool`` (``pg_ctl``, ``pg_basebackup`` …) as the server's user,
        in the temp dir, with the C locale; never raises for a non-zero exit."""
        return self._run(str(self.bin_dir / tool), *args, timeout=timeout)

    def _run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self._base,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log (for error messages)."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- lifecycle ----------------------------------------------------------------------
    def _make_base(self) -> None:
        if self._as_postgres and shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root but `runuser` is missing (util-linux)")
        owner = None
        if self._as_postgres:
            try:
                owner = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no `postgres` user to run the server as; "
                    "run `scripts/setup.sh` (the Debian package creates it)"
                ) from None
        # Unix socket paths are limited to ~107 bytes: keep the temp dir short.
        tmp_root = "/tmp" if len(tempfile.gettempdir()) > 40 else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="sscard-pg-", dir=tmp_root))
        self.socket_dir.mkdir()
        if owner is not None:
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def start(self) -> PostgresServer:
        """initdb into a fresh temp dir and start the server on a free 127.0.0.1 port; if that
        is interrupted (Ctrl-C, a signal), nothing is left behind."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> PostgresServer:
        began = time.monotonic()
        self._make_base()
        if self.data_from is not None:
            self._copy_data()
            return self._launch(began)
        init = self.run_tool(
            "initdb",
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )  # fmt: skip
        if init.returncode != 0:
            self._cleanup()
            raise PostgresUnavailable(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        return self._launch(began)

    def _copy_data(self) -> None:
        """A copy of the stopped cluster ``data_from`` (``cp -a``: its owner and modes kept)."""
        copied = subprocess.run(
            ["cp", "-a", str(self.data_from), str(self.data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if copied.returncode != 0:
            self._cleanup()
            raise PostgresUnavailable(f"copying {self.data_from} failed: {copied.stderr}")

    def _launch(self, began: float) -> PostgresServer:
        last_error = ""
        for _attempt in range(3):  # another process may grab the free port in between
            self.port = free_port()
            options = " ".join(
                (
                    f"-p {self.port}",
                    f"-k {self.socket_dir}",
                    *(f"-c {name}={value}" for name, value in self.settings.items()),
                )
            )
            started = self.run_tool(
                "pg_ctl",
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-o", options,
                "-w", "-t", "30",
                "start",
            )  # fmt: skip
            if started.returncode == 0:
                # Also stop on interpreter exit, should a caller end without stopping it.
                atexit.register(self.stop)
                self.start_seconds = time.monotonic() - began
                return self
            last_error = f"{started.stdout}\n{started.stderr}\n{self.log_tail()}"
            if "already in use" not in last_error:
                break
        self._cleanup()
        raise PostgresUnavailable(f"PostgreSQL did not start:\n{last_error}")

    def postmaster_pid(self) -> int:
        """The running server's main process (its backends are its children)."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Stop the server (fast: the data is thrown away) and remove the temp dir."""
        if self.base_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self.run_tool(
                "pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30", "stop"
            )  # fmt: skip
        self._cleanup()
        atexit.unregister(self.stop)

    def _cleanup(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ----------------------------------------------------------------------
    def dsn(self, database: str = "postgres") -> str:
        """Plain libpq URL (for ``psycopg.connect``)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """SQLAlchemy URL with the psycopg (3) driver."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10)

    def create_database(self, name: str | None = None, template: str = "template0") -> str:
        """Create an empty database (or a copy of ``template``) and return its SQLAlchemy URL.

        The template must have no open connections while it is copied (PostgreSQL's rule).
        """
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        for identifier in (name, template):
            if not _NAME.match(identifier):
                raise ValueError(f"database name {identifier!r} must match {_NAME.pattern}")
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" ENCODING \'UTF8\'')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connections still open to it."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_NAME.pattern}")
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Start a server, print its URL, wait for Ctrl-C, stop it."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durable", action="store_true", help="keep fsync and durable commits")
    parser.add_argument("--database", default="sscard", help="database to create (sscard)")
    args = parser.parse_args()

    def stop(_signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # kill PID stops the server too (and SIGINT, Ctrl-C)
    signal.signal(signal.SIGINT, stop)
    with PostgresServer(durable=args.durable) as server:
        print(server.create_database(args.database), flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
