"""The settlement service for a run: start our own, or use one that is already running.

Default (issue 7): migrate a fresh database (a SQLite file in the work
directory unless ``--database-url`` says otherwise), bootstrap an admin key
and start ``python -m settlement serve`` under uvicorn on an ephemeral
loopback port, all through the service's own documented CLI
(``docs/api.md`` §CLI); stop it after the run. The simulation then talks to
it only over HTTP. With ``--service-url`` and ``--api-key`` (an admin key) a
running service is used instead and left alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx


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
    env.setdefault("SSCARD_TIMEZONE", "Asia/Shanghai")
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
    """Where the service is, the admin key, and (if we started it) its process."""

    url: str
    admin_key: str
    database: str
    started: bool
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _log: object | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the service we started (SIGTERM, then SIGKILL after 10 s); never a foreign one."""
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
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceStartError(f"the settlement service exited with {process.returncode}")
        try:
            answer = httpx.get(f"{url}/v1/health", timeout=2.0)
            if answer.status_code == 200:
                return answer.json()
            last = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise ServiceStartError(f"the settlement service at {url} did not become healthy: {last}")


def start_service(workdir: Path, database_url: str, keystore: Path) -> ServiceHandle:
    """Migrate, bootstrap an admin key and serve on an ephemeral port (our own process)."""
    env = service_env(workdir, database_url, keystore)
    _settlement_cli(["migrate", "--database-url", database_url], env, "database migration")
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
                "--database-url",
                database_url,
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
    return ServiceHandle(url, admin_key, str(health.get("database", "?")), False)
