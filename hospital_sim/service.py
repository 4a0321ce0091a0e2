"""The settlement service for a run: start our own, or use one that is already running.

Three modes (issue 7: "start it in-process on an ephemeral port and stop it
after, or use a running one"):

``in-process`` (default, :func:`start_in_process`)
    Migrate a fresh database (a SQLite file in the work directory unless
    ``--database-url`` says otherwise) with ``settlement.migrate.upgrade``,
    bootstrap an admin key with ``settlement.institutions.insert_admin_key``, and serve
    ``settlement.main.create_app(Settings)`` under ``uvicorn.Server`` in a
    background thread of this process, on an ephemeral loopback port (bound to
    port 0 by uvicorn itself, so no race for the port). Stopped after the run
    (``should_exit``, then the thread is joined).
``process`` (``--service-process``, :func:`start_service`)
    The same through the service's documented CLI (``docs/api.md`` §CLI):
    ``python -m settlement migrate`` / ``bootstrap-admin`` / ``serve`` as
    child processes; the service then has a core of its own.
``url`` (``--service-url`` + ``--api-key``, :func:`use_service`)
    A running service, used and left alone.

Whichever mode, the simulation talks to the service only over HTTP.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Self

from terminal.client.http import RetryPolicy, ServiceRefused, ServiceUnavailable
from terminal.client.settlement import SettlementClient


class ServiceStartError(RuntimeError):
    """The settlement service could not be set up or did not come up."""


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(workdir: Path, database_url: str, keystore: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SSCARD_HOME"] = str(workdir)
    env["SSCARD_DATABASE_URL"] = database_url
    env["SSCARD_KEYSTORE"] = str(keystore)
    return env


def _settlement_cli(args: list[str], env: dict[str, str], what: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "settlement", *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise ServiceStartError(
            f"{what} failed (python -m settlement {' '.join(args)}):\n{proc.stderr.strip()}"
        )
    return proc.stdout


def _admin_key(output: str) -> str:
    """The admin API key printed by ``bootstrap-admin`` (a token ``sk_...``)."""
    for token in output.replace('"', " ").replace("'", " ").split():
        if token.startswith("sk_"):
            return token
    raise ServiceStartError(f"bootstrap-admin printed no API key: {output.strip()!r}")


@dataclass
class ServiceHandle:
    """Where the service is, the admin key, how it runs, and how to stop it if it is ours."""

    url: str
    admin_key: str
    database: str
    started: bool
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _log: object | None = field(default=None, repr=False)
    mode: str = "process"  # in-process | process | url
    _stopper: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the service we started (never a foreign one); idempotent.

        In-process: ask uvicorn to exit and join its thread. Child process:
        SIGTERM, then SIGKILL after 10 s.
        """
        stopper, self._stopper = self._stopper, None
        if stopper is not None:
            stopper()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_healthy(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> dict:
    """Ask the service's health check every 0.1 s until it answers; its answer."""
    deadline = time.monotonic() + timeout_s
    last = ""
    # One attempt a call: this loop is the retry (and watches the child process meanwhile).
    with SettlementClient(url, None, timeout=2.0, retry=RetryPolicy(attempts=1)) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise ServiceStartError(f"the settlement service exited with {process.returncode}")
            try:
                return client.health()
            except ServiceRefused as exc:
                last = f"HTTP {exc.status}"
            except ServiceUnavailable as exc:
                cause = exc.__cause__
                last = f"HTTP {cause.status}" if isinstance(cause, ServiceRefused) else str(exc)
            time.sleep(0.1)
    raise ServiceStartError(f"the settlement service at {url} did not become healthy: {last}")


def start_service(workdir: Path, database_url: str, keystore: Path) -> ServiceHandle:
    """Migrate, bootstrap an admin key and serve on an ephemeral port (a child process)."""
    env = service_env(workdir, database_url, keystore)
    # The database URL goes in the environment (service_env), never on a command line where
    # `ps` and error messages would show its password.
    _settlement_cli(["migrate"], env, "database migration")
    admin_key = _admin_key(
        _settlement_cli(["bootstrap-admin", "--name", "hospital-sim"], env, "admin bootstrap")
    )
    log_path = workdir / "service.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed by ServiceHandle.stop
    for _attempt in range(3):
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "settlement",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, 30.0, process)
        except ServiceStartError:
            if process.poll() is None:
                process.kill()
                process.wait()
            continue  # the port was taken in between: try another
        return ServiceHandle(url, admin_key, database_url, True, process, log_path, log)
    log.close()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise ServiceStartError(f"the settlement service would not start; its log ends:\n{tail}")


def use_service(url: str, admin_key: str) -> ServiceHandle:
    """A running service (not ours: never stopped by us)."""
    url = url.rstrip("/")
    health = wait_healthy(url, 10.0)
    return ServiceHandle(url, admin_key, str(health.get("database", "?")), False, mode="url")


#: Loggers of the in-process service; their records go to WORKDIR/service.log, not the console.
SERVICE_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "settlement")
#: How long the in-process server may take to bind and answer /v1/health.
START_TIMEOUT = 30.0
#: How long a stopping server may take to finish its requests before it is abandoned.
STOP_TIMEOUT = 10.0


def _log_to_file(log_path: Path) -> Callable[[], None]:
    """Route the service's loggers to ``log_path``; returns the undo."""
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in SERVICE_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, list(logger.handlers)))
        logger.handlers = [handler]
        logger.propagate = False

    def undo() -> None:
        for logger, propagate, handlers in saved:
            logger.handlers = handlers
            logger.propagate = propagate
        handler.close()

    return undo


def shown_url(database_url: str) -> str:
    """A database URL fit for the console: its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy can parse: only its scheme
        return database_url.split("://", 1)[0] + "://…"


def _first_line(exc: BaseException) -> str:
    """The driver's own message (SQLAlchemy wraps it, adds SQL and a help link)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip() or type(inner).__name__
    return text.splitlines()[0]


def start_in_process(
    workdir: Path, database_url: str, keystore: Path, *, today: date | None = None
) -> ServiceHandle:
    """Migrate, bootstrap an admin key and serve the ASGI app in a thread of this process.

    Uses the settlement package's public entry points only (``settlement.migrate.upgrade``,
    ``settlement.store.db.Database``, ``settlement.institutions.insert_admin_key``,
    ``settlement.main.create_app``, ``settlement.config.Settings``); the settings
    are those of ``Settings.from_env`` with this run's database and key store, so
    no environment variable of this process is changed. ``today`` fixes the service's
    business date (``SSCARD_TODAY``: the payment day's June date, simulation only).
    """
    from settlement.config import Settings
    from settlement.main import create_app

    admin_key = _bootstrap_database(database_url)
    settings = dataclasses.replace(
        Settings.from_env(database_url, home=workdir),  # the run's outside registers
        keystore_path=str(keystore),
        fixed_today=today,
    )
    app = create_app(settings)
    log_path = workdir / "service.log"
    url, stop = _serve_in_thread(app, log_path)
    return ServiceHandle(
        url, admin_key, database_url, True, log_path=log_path, mode="in-process", _stopper=stop
    )


def _bootstrap_database(database_url: str) -> str:
    """Migrate the database and make an admin API key for this run; the key."""
    from settlement.institutions import insert_admin_key
    from settlement.migrate import upgrade
    from settlement.store.db import Database

    try:
        upgrade(database_url)
        db = Database(database_url)
        try:
            with db.write() as conn:
                return str(insert_admin_key(conn, "hospital-sim")["api_key"])
        finally:
            db.dispose()
    except Exception as exc:
        raise ServiceStartError(
            f"database setup failed ({shown_url(database_url)}): {_first_line(exc)}"
        ) from exc


def _serve_in_thread(app: object, log_path: Path) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` on a free port in a daemon thread, logging to ``log_path``, until it
    answers its health check; its URL and the function that stops it."""
    import uvicorn

    undo_logging = _log_to_file(log_path)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,  # the kernel picks a free port when uvicorn binds: nobody can take it first
        log_config=None,  # keep this process's logging; the service's goes to service.log
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failure.append(exc)

    thread = threading.Thread(target=serve, name="settlement-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
            undo_logging()
            _dispose(app)
            detail = repr(failure[0]) if failure else "it did not start"
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise ServiceStartError(f"the in-process settlement service failed: {detail}\n{tail}")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():  # requests that will not finish: do not wait for them forever
            server.force_exit = True
            thread.join(STOP_TIMEOUT)
        _dispose(app)
        undo_logging()

    try:
        wait_healthy(url, START_TIMEOUT)
    except ServiceStartError:
        stop()
        raise
    return url, stop


def _dispose(app: object) -> None:
    """Close the service's database connections (the app keeps its Service in ``state``)."""
    service = getattr(getattr(app, "state", None), "service", None)
    db = getattr(service, "db", None)
    if db is not None:
        db.dispose()
