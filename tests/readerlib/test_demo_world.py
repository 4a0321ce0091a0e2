"""The harness's path end to end (harness.md): ``python -m settlement demo-setup``, ``serve``,
a demo card in a reader, ``python -m terminal readcardbas --pin`` with the demo world's hospital
key and PSAM; the token it prints is PIN-verified at the service and admits the person."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

from terminal.client.settlement import SettlementClient
from tests.readerlib.conftest import REPO
from tests.readerlib.test_his import inserted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_world():
    home = tempfile.mkdtemp(prefix="sscard-demo-")  # short: the PIN pad's socket lives here
    env = {**os.environ, "SSCARD_HOME": home, "PYTHONPATH": str(REPO)}
    env.pop("SSCARD_DATABASE_URL", None)
    env.pop("SSCARD_KEYSTORE", None)
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "settlement",
            "demo-setup",
            "--home",
            home,
            "--people",
            "2",
            "--json",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    world = json.loads(made.stdout)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "settlement", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield world, port, env
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(home, ignore_errors=True)


class _Patient:
    def __init__(self, person: dict) -> None:
        self.image = person["card_image"]


@pytest.mark.pcsc
def test_readcardbas_on_the_demo_world(demo_world, readerlib_build, private_pcscd):
    world, port, env = demo_world
    person = world["people"][0]
    private = private_pcscd(n=2)
    init = json.dumps(
        {
            "IP": "127.0.0.1",
            "PORT": port,
            "ACCESS_KEY": world["api_keys"]["hospital"],
            "ORG_ID": world["fixmedins_code"],
            "EXT": {"psam": world["psam"]["hospital"], "wait": 10},
        }
    )
    env = {**env, "PCSCLITE_CSOCK_NAME": private.env["PCSCLITE_CSOCK_NAME"]}
    env["SSCARD_READERLIB"] = str(readerlib_build.library)
    with inserted(_Patient(person), private.readers[0]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "terminal",
                "readcardbas",
                "--reader",
                "0",
                "--pin",
                person["ssse_pin"],
                "--init",
                init,
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    card_info, token = done.stdout.splitlines()
    fields = card_info.split("|")
    assert fields[1:4] == [person["certno"], person["card_no"], person["card_sn"]]
    assert fields[4] == person["psn_name"]
    with SettlementClient(f"http://127.0.0.1:{port}", world["api_keys"]["hospital"]) as desk:
        assert desk.card_authentication(token)["pin_verified"] is True
        admission = desk.admit(
            {
                "psn_no": person["psn_no"],
                "insutype": person["insutype"],
                "card_authentication": token,
            }
        )
    assert admission["card_no"] == person["card_no"]
