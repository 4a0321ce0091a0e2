"""The pytest plugin as a vendor uses it: a test file in a folder outside the repository,
run by the project's venv pytest (issue 18, "Done when").

The plugin comes in through the ``pytest11`` entry point of the installed project; a
venv installed before the entry point existed (``scripts/setup.sh`` reinstalls when
``pyproject.toml`` changes) gets it with ``-p rig.bench.pytest_plugin``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytestmark = pytest.mark.pcsc

REPO = Path(__file__).resolve().parents[2]

VENDOR_TEST = '''
"""A hospital vendor's test: no conftest, no sscard imports, only the plugin's fixtures."""
import time

from smartcard.System import readers
from smartcard.Exceptions import CardConnectionException

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")


def open_reader(name):
    for reader in readers():
        if str(reader) == name:
            connection = reader.createConnection()
            connection.connect()
            return connection
    raise AssertionError(name)


def close(connection):
    try:
        connection.release()  # disconnect and release the PC/SC context
    except CardConnectionException:
        pass


def send(connection, apdu):
    data, sw1, sw2 = connection.transmit(list(apdu))
    return bytes(data) + bytes([sw1, sw2])


def test_card_number_read_by_the_his(sscard_reader, sscard_card):
    card = sscard_card(name="王芳", sex="2", card_no="X12345678")
    sscard_reader.insert(card)
    connection = open_reader(sscard_reader.name)
    send(connection, SELECT_SSSE)
    assert b"X12345678" in send(connection, bytes.fromhex("00B2072C00"))
    close(connection)


def test_blocked_pin_and_a_slow_reader(sscard_reader, sscard_card):
    sscard_reader.insert(sscard_card(state="blocked_pin"))
    sscard_reader.fault("delay", ms=200)
    connection = open_reader(sscard_reader.name)
    started = time.perf_counter()
    send(connection, SELECT_SSSE)
    assert time.perf_counter() - started >= 0.2
    assert send(connection, bytes.fromhex("0020000003123456")) == bytes.fromhex("6983")
    close(connection)
    assert [e["command"] for e in sscard_reader.log() if e["event"] == "apdu"][-1] == (
        "0020000003******"
    )


def test_the_card_pulled_mid_command(sscard_reader, sscard_card):
    sscard_reader.insert(sscard_card())
    sscard_reader.fault("remove", match="00B2")
    connection = open_reader(sscard_reader.name)
    send(connection, SELECT_SSSE)
    try:
        send(connection, bytes.fromhex("00B2072C00"))
    except CardConnectionException:
        pass
    else:
        raise AssertionError("the read should have failed: the card left mid-command")
    close(connection)


def test_a_demo_world_card_the_service_knows(sscard_service, sscard_reader, sscard_card):
    import httpx

    person = sscard_service.world["people"][0]
    sscard_reader.insert(sscard_card(image=person["card_image"]))
    connection = open_reader(sscard_reader.name)
    send(connection, SELECT_SSSE)
    assert person["card_no"].encode() in send(connection, bytes.fromhex("00B2072C00"))
    close(connection)
    key = sscard_service.world["api_keys"]["card_centre"]
    answer = httpx.get(
        sscard_service.url + "/v1/cards/" + person["card_no"],
        headers={"Authorization": "Bearer " + key},
    )
    assert answer.status_code == 200 and answer.json()["status"] == "active"
'''


def _plugin_installed() -> bool:
    return any(ep.name == "sscard_bench" for ep in entry_points(group="pytest11"))


def test_a_vendor_suite_outside_the_repository(pcsc_rig: object, tmp_path: Path) -> None:
    vendor = tmp_path / "vendor-his-tests"
    vendor.mkdir()
    (vendor / "test_his_cards.py").write_text(VENDOR_TEST, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not _plugin_installed():
        command += ["-p", "rig.bench.pytest_plugin"]
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    env.pop("SSCARD_BENCH_URL", None)
    done = subprocess.run(
        command, cwd=vendor, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 passed" in done.stdout
    assert not (vendor / "conftest.py").exists()
    assert str(REPO) not in str(vendor)
