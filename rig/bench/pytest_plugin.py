"""pytest fixtures for hospital-software vendors: the bench, cards, readers, the service.

Installed with the project (entry point ``pytest11``: ``sscard_bench``), so a vendor's
test needs no conftest::

    def test_blocked_pin_is_reported(sscard_reader, sscard_card):
        card = sscard_card(state="blocked_pin")
        sscard_reader.insert(card)
        ...  # the HIS under test reads sscard_reader.name through PC/SC

Fixtures (every name starts with ``sscard_``):

``sscard_bench`` (session)
    a running bench: ``python -m card bench`` in a temporary folder, or the bench
    at ``$SSCARD_BENCH_URL`` with ``$SSCARD_BENCH_TOKEN`` when set. ``.client`` is a
    :class:`rig.bench.client.BenchClient`; ``.readers`` the bench's readers.
    ``--sscard-readers N`` (default 2) sets how many readers a started bench has.
``sscard_card`` (function)
    ``sscard_card(**profile) -> dict``: a new card (profile fields as in
    ``docs/testing-your-his.md``; ``sscard_card(image=path)`` uses an existing image).
``sscard_reader`` (function)
    an empty bench reader for this test (:class:`Reader`): ``insert(card)``,
    ``remove()``, ``swap(card)``, ``fault(kind, **fields)``, ``clear_faults()``,
    ``type_pin(pin)``, ``log()``, ``name``, ``index``; emptied and its faults
    cleared after the test.
``sscard_demo_world`` (session)
    ``python -m settlement demo-setup --json`` in a temporary folder: the demo
    world's JSON (people with card images, API keys, gateway credentials).
``sscard_service`` (session)
    ``python -m settlement serve`` on that world: ``.url``, ``.world``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rig.bench.client import BenchApiError, BenchClient, BenchProcess


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sscard", "sscard test bench")
    group.addoption(
        "--sscard-readers", type=int, default=2, help="readers of a bench the plugin starts"
    )


@dataclass
class RunningBench:
    client: BenchClient
    readers: list[dict[str, Any]]
    url: str
    process: BenchProcess | None = None


@pytest.fixture(scope="session")
def sscard_bench(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBench]:
    url, token = os.environ.get("SSCARD_BENCH_URL"), os.environ.get("SSCARD_BENCH_TOKEN")
    if url and token:
        client = BenchClient(url, token)
        yield RunningBench(client, client.readers(), url)
        client.close()
        return
    home = tmp_path_factory.mktemp("sscard-bench")
    process = BenchProcess.start(home, readers=request.config.getoption("--sscard-readers"))
    try:
        yield RunningBench(process.client, process.readers, process.url, process)
    finally:
        process.stop()


@pytest.fixture
def sscard_card(sscard_bench: RunningBench) -> Callable[..., dict[str, Any]]:
    def make(image: str | os.PathLike[str] | None = None, **profile: str) -> dict[str, Any]:
        if image is not None:
            return sscard_bench.client.import_card(image)
        return sscard_bench.client.create_card(**profile)

    return make


class Reader:
    """One bench reader lent to a test (see the module docstring)."""

    def __init__(self, client: BenchClient, reader: dict[str, Any]) -> None:
        self.client = client
        self.index: int = reader["index"]
        self.name: str = reader["name"]

    @staticmethod
    def _id(card: dict[str, Any] | str) -> str:
        return card if isinstance(card, str) else card["id"]

    def insert(self, card: dict[str, Any] | str) -> dict[str, Any]:
        return self.client.insert(self.index, self._id(card))

    def swap(self, card: dict[str, Any] | str) -> dict[str, Any]:
        return self.client.swap(self.index, self._id(card))

    def remove(self) -> dict[str, Any]:
        return self.client.remove(self.index)

    def fault(self, kind: str, **fields: object) -> dict[str, Any]:
        return self.client.add_fault(self.index, kind, **fields)

    def clear_faults(self) -> dict[str, Any]:
        return self.client.clear_faults(self.index)

    def type_pin(self, pin: str, pad: str | int | None = None) -> dict[str, Any]:
        return self.client.type_pin(self.index, pin, pad)

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        return self.client.log(self.index, since)["entries"]

    def reset(self) -> None:
        self.client.clear_faults(self.index)
        try:
            self.client.remove(self.index)
        except BenchApiError as exc:
            if exc.code != "reader_empty":
                raise


@pytest.fixture
def sscard_reader(sscard_bench: RunningBench) -> Iterator[Reader]:
    for reader in sscard_bench.client.readers():
        free = reader["card"] is None and reader["claimed_by_pid"] is None
        if free and not reader["faults"]:
            lent = Reader(sscard_bench.client, reader)
            break
    else:
        pytest.fail("every bench reader holds a card: remove one, or start more readers")
    try:
        yield lent
    finally:
        lent.reset()


@pytest.fixture(scope="session")
def sscard_demo_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("sscard-world")
    done = subprocess.run(
        [sys.executable, "-m", "settlement", "demo-setup", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"settlement demo-setup failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


@dataclass
class RunningService:
    url: str
    world: dict[str, Any]
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def sscard_service(sscard_demo_world: dict[str, Any]) -> Iterator[RunningService]:
    port = _free_port()
    home = Path(sscard_demo_world["home"])
    env = {**os.environ, "SSCARD_HOME": str(home)}
    with open(home / "service.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "settlement", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the service did not start; see {home / 'service.log'}")
        time.sleep(0.2)
    try:
        yield RunningService(url, sscard_demo_world, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
