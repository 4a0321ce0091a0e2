"""A PostgreSQL primary with a synchronous streaming standby, from Debian's binaries (#19).

Not a benchmark itself: ``failover.py`` uses it, docs/deploy.md §High availability describes the
same set-up for a real deployment. Built on :class:`benchmarks._pg.PostgresServer`:

- the primary keeps PostgreSQL's durable defaults (``fsync``, ``synchronous_commit=on``) and
  names its standby in ``synchronous_standby_names``: a commit is acknowledged only once the
  standby has flushed its WAL, so an acknowledged settlement survives the primary;
- the standby is ``pg_basebackup -R -X stream`` of the primary (``standby.signal`` and
  ``primary_conninfo`` written by ``-R``) started as a hot standby with
  ``cluster_name=standby`` (the application name the primary waits for);
- :meth:`Replicated.stop_primary` is ``pg_ctl stop -m immediate`` (the server goes away as in a
  crash, no shutdown checkpoint) and :meth:`Replicated.promote` ``pg_ctl promote``;
- :meth:`Replicated.url` is the libpq multi-host URL the service is given: both unix-socket
  directories and ports with ``target_session_attrs=read-write``, so libpq connects to whichever
  server takes writes.
"""

from __future__ import annotations

import atexit
import time
from typing import Self

import psycopg

from benchmarks._pg import SUPERUSER, PostgresServer, PostgresUnavailable, free_port

STANDBY_NAME = "standby"


class Standby(PostgresServer):
    """A hot standby of ``primary``: a base backup instead of initdb, then the same start."""

    def __init__(self, primary: PostgresServer) -> None:
        super().__init__(
            primary.bin_dir,
            durable=True,
            settings={"cluster_name": STANDBY_NAME, "hot_standby": "on"},
        )
        self.primary = primary

    def start(self) -> Standby:
        began = time.monotonic()
        self._make_base()
        backup = self.run_tool(
            "pg_basebackup",
            "-D", str(self.data_dir),
            "-h", str(self.primary.socket_dir),
            "-p", str(self.primary.port),
            "-U", SUPERUSER,
            "-R", "-X", "stream", "-c", "fast",
            timeout=120,
        )  # fmt: skip
        if backup.returncode != 0:
            self._cleanup()
            raise PostgresUnavailable(f"pg_basebackup failed:\n{backup.stdout}\n{backup.stderr}")
        self.port = free_port()
        options = " ".join(
            (
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                *(f"-c {name}={value}" for name, value in self.settings.items()),
            )
        )
        started = self.run_tool(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if started.returncode != 0:
            tail = self.log_tail()
            self._cleanup()
            raise PostgresUnavailable(f"the standby did not start:\n{started.stderr}\n{tail}")
        atexit.register(self.stop)  # as the primary: stopped even if the caller does not
        self.start_seconds = time.monotonic() - began
        return self


class Replicated:
    """A primary and its synchronous standby (module docstring)."""

    def __init__(self) -> None:
        self.primary = PostgresServer(
            durable=True, settings={"synchronous_standby_names": STANDBY_NAME}
        )
        self.standby: Standby | None = None

    def start(self, timeout: float = 60) -> Self:
        """Start both and wait until the standby streams synchronously."""
        self.primary.start()
        self.standby = Standby(self.primary).start()
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.primary.dsn(), autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                    (STANDBY_NAME,),
                ).fetchone()
                if row and row[0] == "sync":
                    return self
                time.sleep(0.1)
        raise PostgresUnavailable("the standby did not become a synchronous standby")

    def stop(self) -> None:
        for server in (self.standby, self.primary):
            if server is not None:
                server.stop()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def create_database(self, name: str) -> None:
        self.primary.create_database(name)

    def url(self, database: str) -> str:
        """The service's URL: both servers, the writable one chosen by libpq."""
        hosts = f"{self.primary.socket_dir},{self.standby.socket_dir}"
        ports = f"{self.primary.port},{self.standby.port}"
        return (
            f"postgresql+psycopg://{SUPERUSER}@/{database}?host={hosts}&port={ports}"
            "&target_session_attrs=read-write&connect_timeout=2"
        )

    def stop_primary(self) -> float:
        """``pg_ctl stop -m immediate`` of the primary; the seconds it took."""
        return _timed_pg_ctl(
            self.primary, "the primary did not stop", "-m", "immediate", "-w", "stop"
        )

    def promote(self) -> float:
        """``pg_ctl promote`` of the standby (waits until it takes writes); the seconds."""
        return _timed_pg_ctl(
            self.standby, "the standby was not promoted", "-w", "-t", "60", "promote"
        )


def _timed_pg_ctl(server: PostgresServer, failure: str, *args: str) -> float:
    """``pg_ctl -D <server's data dir> ARGS`` (raises ``failure: <stderr>``); the seconds."""
    began = time.monotonic()
    done = server.run_tool("pg_ctl", "-D", str(server.data_dir), *args)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{failure}: {done.stderr}")
    return time.monotonic() - began
