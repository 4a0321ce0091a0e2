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

REPO = Path(__file__).resolve().parents[2]


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


def test_the_his_verify_pin_takes_the_pin_typed_through_the_bench(
    pcsc_rig: object, world: dict[str, Any], tmp_path: Path
) -> None:
    """An HIS process (ctypes over libsscardreader.so) reads a demo card and waits in
    VerifyPIN; the bench API types the PIN on that reader's pad; VerifyPIN succeeds."""
    from smartcard.System import readers as pcsc_readers

    library = Path(sys.prefix) / "lib" / "libsscardreader.so"  # the venv's, setup.sh builds it
    assert library.exists(), "bash scripts/setup.sh builds the reader library"
    his_home = tmp_path / "his"
    env = {**os.environ, "SSCARD_HOME": str(his_home), "PYTHONPATH": str(REPO)}
    with BenchProcess.start(tmp_path / "bench", readers=1, env=env) as bench:
        name = bench.readers[0]["name"]
        position = [str(r) for r in pcsc_readers()].index(name)
        person = world["people"][3]
        bench.client.insert(0, bench.client.import_card(person["card_image"])["id"])
        init = {
            "IP": "127.0.0.1",
            "PORT": int(world["url"].rsplit(":", 1)[1]),
            "ACCESS_KEY": world["api_keys"]["hospital"],
            "ORG_ID": world["fixmedins_code"],
            "EXT": {"psam": world["psam"]["hospital"], "reader": position, "wait": 20},
        }
        his = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "readerlib" / "driver_ctypes.py"), str(library)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert his.stdin is not None and his.stdout is not None
        try:
            his.stdin.write(f"init {json.dumps(init)}\nread\nverify\n")
            his.stdin.flush()
            assert his.stdout.readline().startswith("0 ")  # Init
            assert his.stdout.readline().startswith("0 ")  # ReadCardBas
            assert bench.client.type_pin(0, person["ssse_pin"]) == {"typed": 1}
            assert his.stdout.readline().startswith("0 ")  # VerifyPIN, with the typed PIN
        finally:
            his.stdin.close()
            his.wait(20)
        entries = bench.client.log(0)["entries"]
        assert "pin_typed" in [e["event"] for e in entries]
        verifies = [e for e in entries if e.get("command", "").startswith("0020")]
        assert verifies and verifies[-1]["sw"] == "9000"
        assert verifies[-1]["command"].endswith("*" * 6)
