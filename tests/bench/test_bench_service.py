"""A lost card through the bench: the loss is reported to the settlement service (issue 18).

The demo world (``settlement demo-setup``) served by ``settlement serve``; the bench
started with ``--service-url`` / ``--service-key`` (the card centre's key) imports a
demo person's card as lost, and the service then knows it lost.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rig.bench.client import BenchApiError, BenchProcess

pytestmark = pytest.mark.pcsc


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("world")
    done = subprocess.run(
        [sys.executable, "-m", "settlement", "demo-setup", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    world = json.loads(done.stdout)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(home / "service.log", "ab") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "settlement", "serve", "--port", str(port)],
            env={**os.environ, "SSCARD_HOME": str(home)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    world["url"] = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{world['url']}/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert service.poll() is None and time.monotonic() < deadline, "service did not start"
        time.sleep(0.2)
    try:
        yield world
    finally:
        service.terminate()
        service.wait(20)


def test_an_imported_card_reported_lost(
    pcsc_rig: object, world: dict[str, Any], tmp_path: Path
) -> None:
    key = world["api_keys"]["card_centre"]
    with BenchProcess.start(
        tmp_path / "bench", readers=1, keystore=world["keystore"], service=(world["url"], key)
    ) as bench:
        person = world["people"][0]
        card = bench.client.import_card(person["card_image"], state="lost")
        assert card["state"] == "lost" and card["card_no"] == person["card_no"]
        answer = httpx.get(
            f"{world['url']}/v1/cards/{person['card_no']}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.json()["status"] == "lost"
        with pytest.raises(BenchApiError) as again:  # the service refuses a second loss
            bench.client.import_card(person["card_image"], state="lost")
        assert again.value.code == "service_refused"
        active = bench.client.import_card(world["people"][1]["card_image"])
        assert active["state"] == "active"


def test_lost_needs_the_service(pcsc_rig: object, world: dict[str, Any], tmp_path: Path) -> None:
    with BenchProcess.start(tmp_path / "bench", readers=1) as bench:
        with pytest.raises(BenchApiError) as refused:
            bench.client.import_card(world["people"][2]["card_image"], state="lost")
        assert refused.value.code == "needs_service"
        with pytest.raises(BenchApiError) as profile:
            bench.client.create_card(state="lost")
        assert profile.value.code == "needs_service"
