"""``python -m terminal readcardbas`` and ``python -m terminal pinpad`` (harness.md §Reading a
card as an HIS does): exit 0 done, 2 bad input, 1 refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from tests.readerlib.conftest import REPO
from tests.readerlib.test_his import init_json, inserted


@pytest.fixture
def run(readerlib_build):
    home = tempfile.mkdtemp(prefix="sscard-cli-")

    def run(
        *args: str, pcscd_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **(pcscd_env or os.environ),
            "SSCARD_HOME": home,
            "SSCARD_READERLIB": str(readerlib_build.library),
            "PYTHONPATH": str(REPO),
        }
        return subprocess.run(
            [sys.executable, "-m", "terminal", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def test_bad_input_exits_2(run):
    bad_json = run("readcardbas", "--reader", "0", "--init", "{not json")
    assert bad_json.returncode == 2 and "--init" in bad_json.stderr
    bad_pin = run("readcardbas", "--reader", "0", "--pin", "12", "--init", "{}")
    assert bad_pin.returncode == 2 and "PIN" in bad_pin.stderr
    no_psam = json.dumps({"IP": "127.0.0.1", "PORT": 1, "ACCESS_KEY": "sk_x"})
    refused = run("readcardbas", "--reader", "0", "--init", no_psam)
    assert refused.returncode == 2 and "EXT.psam" in refused.stderr
    assert refused.stdout == ""


def test_pinpad_without_a_waiting_library(run):
    answer = run("pinpad", "--reader", "5", "--wait", "0.2", "123456")
    assert answer.returncode == 1 and "no PIN pad" in answer.stderr
    assert run("pinpad", "--reader", "5", "12ab56").returncode == 2


def test_missing_library_is_refused(run, monkeypatch):
    env_library = "/nonexistent/libsscardreader.so"
    answer = subprocess.run(
        [sys.executable, "-m", "terminal", "readcardbas", "--init", "{}"],
        env={**os.environ, "SSCARD_READERLIB": env_library, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 1 and "scripts/setup.sh" in answer.stderr


@pytest.mark.pcsc
def test_readcardbas_reads_verifies_and_prints_two_lines(run, world, private_pcscd):
    private = private_pcscd(n=2)
    patient = world.patient()
    init = init_json(world, None, wait=10)
    client = world.hospital.client(world.url)
    with inserted(patient, private.readers[1]):
        wrong = run(
            "readcardbas", "--reader", "1", "--pin", "000000", "--init", init, pcscd_env=private.env
        )
        assert wrong.returncode == 1 and "还可以尝试2次" in wrong.stderr
        done = run(
            "readcardbas", "--reader", "1", "--pin", "123456", "--init", init, pcscd_env=private.env
        )
        assert done.returncode == 0, done.stderr
        card_info, token = done.stdout.splitlines()
        assert card_info.split("|")[2] == patient.card_no and card_info.endswith("|")
        assert card_info.split("|")[10] == "SSCARD0001"
        assert client.card_authentication(token)["pin_verified"] is True
        plain = run("readcardbas", "--reader", "1", "--init", init, pcscd_env=private.env)
        assert plain.returncode == 0, plain.stderr
        assert client.card_authentication(plain.stdout.splitlines()[1])["pin_verified"] is False
    empty = run("readcardbas", "--reader", "0", "--init", init, pcscd_env=private.env)
    assert empty.returncode == 1 and "没有卡" in empty.stderr
