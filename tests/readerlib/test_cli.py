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
from tests.readerlib.test_his import init_json, reader_of


@pytest.fixture
def run(readerlib_build):
    home = tempfile.mkdtemp(prefix="sscard-cli-")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
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
def test_readcardbas_reads_verifies_and_prints_two_lines(run, world, pcsc_rig):
    patient = world.patient()
    inserted = pcsc_rig.insert(patient.image)
    reader = str(reader_of(inserted))
    init = init_json(world, reader)
    wrong = run("readcardbas", "--reader", reader, "--pin", "000000", "--init", init)
    assert wrong.returncode == 1 and "还可以尝试2次" in wrong.stderr
    done = run("readcardbas", "--reader", reader, "--pin", "123456", "--init", init)
    assert done.returncode == 0, done.stderr
    card_info, token = done.stdout.splitlines()
    assert card_info.split("|")[2] == patient.card_no and card_info.endswith("|")
    client = world.hospital.client(world.url)
    assert client.card_authentication(token)["pin_verified"] is True
    without_pin = run("readcardbas", "--reader", reader, "--init", init)
    assert without_pin.returncode == 0
    assert client.card_authentication(without_pin.stdout.splitlines()[1])["pin_verified"] is False
