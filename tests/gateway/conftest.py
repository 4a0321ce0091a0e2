"""A demo world (``python -m settlement demo-setup``) served by a real uvicorn, for the gateway tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.readerlib.conftest import readerlib_build  # noqa: F401 - the reader library fixture

REPO = Path(__file__).resolve().parents[2]


def demo_env(home: Path) -> dict[str, str]:
    """The environment of a vendor who only knows the demo folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
    env["SSCARD_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return env


def run_settlement(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settlement", *args],
        env=demo_env(home),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=REPO,
    )


def demo_setup(home: Path, *args: str) -> dict:
    proc = run_settlement(home, "demo-setup", "--home", str(home), "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@dataclass
class DemoService:
    world: dict
    url: str
    process: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(home: Path, world: dict) -> DemoService:
    """``SSCARD_HOME=home python -m settlement serve --port P``, waited for until healthy."""
    port = _free_port()
    log = open(home / "service.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "settlement", "serve", "--port", str(port)],
        env=demo_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1.0).status_code == 200:
                return DemoService(world, url, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError((home / "service.log").read_text(errors="replace")[-3000:])


def stop(service: DemoService) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait(timeout=5)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo-world")


@pytest.fixture(scope="session")
def demo_world(demo_home: Path) -> dict:
    return demo_setup(demo_home, "--people", "6")


@pytest.fixture(scope="session")
def demo_service(demo_home: Path, demo_world: dict) -> Iterator[DemoService]:
    service = serve(demo_home, demo_world)
    try:
        yield service
    finally:
        stop(service)
