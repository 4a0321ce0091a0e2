"""Power cuts (card.md §Persistence and tearing).

A subprocess streams VERIFY (right and wrong) and UPDATE RECORD commands and
is killed with SIGKILL at random moments. After every cut the image must load,
and its try counter and record must be what the completed commands left, or
what the one interrupted command may legitimately have left: a spent try is
never given back.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from card.crypto import Algorithm, ssse_mac
from card.icc import VirtualCard
from card.image import CardImage, PinRecord
from tests.card.conftest import make_card

ROUNDS = 20
ROOT = Path(__file__).resolve().parents[2]


def _run_round(image: Path, keystore_path: Path, seed: int, delay: float) -> list[str]:
    errors = image.with_name("worker.err")
    with errors.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.card.power_cut_worker",
                str(image),
                str(keystore_path),
                str(seed),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        stdout = proc.stdout
        assert stdout is not None
        try:
            first = stdout.readline()
            assert first == "READY\n", errors.read_text()
            time.sleep(delay)
        finally:
            os.kill(proc.pid, signal.SIGKILL)  # the power cut
            rest = stdout.read()  # through the same buffer readline() used
            stdout.close()
            proc.wait(timeout=30)
    return rest.splitlines()


def _unblock(path: Path, keystore) -> None:
    card = VirtualCard.open(path)
    card.power_on()
    image = card.image
    alg = image.algorithm
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"))
    challenge = card.transmit(bytes((0, 0x84, 0, 0, alg.block_size)))[:-2]
    key03 = keystore.card_key(alg, 0x03, image.region, image.card_factor)
    header = bytes.fromhex("842C030004")
    assert card.transmit(header + ssse_mac(alg, key03, header, challenge)) == b"\x90\x00"


def test_power_cut_never_corrupts_nor_refunds(
    keystore, keystore_path: Path, tmp_path: Path
) -> None:
    rng = random.Random(20261123)
    path = tmp_path / "card.json"
    make_card(keystore, Algorithm.SM4, path)
    cuts_mid_command = 0
    total_commands = 0
    for round_no in range(ROUNDS):
        before = CardImage.load(path)
        if before.ssse_pin.blocked:
            # a cut during the right PIN at one try left legitimately blocks the card
            _unblock(path, keystore)
            before = CardImage.load(path)
        tries, nation = before.ssse_pin_tries_left, before.record_value("EF06", 5)
        lines = _run_round(path, keystore_path, rng.randrange(1 << 30), rng.uniform(0.02, 0.35))
        after = CardImage.load(path)  # never corrupt: must parse and validate
        assert not after.damaged
        in_flight = None
        for line in lines:
            kind, _, rest = line.partition(" ")
            index, _, what = rest.partition(" ")
            if kind == "S":
                in_flight = what
                continue
            if kind != "R":
                continue  # a line cut short by the kill
            total_commands += 1
            sw = what
            # replay the completed command on our model; the card's answer must agree
            if in_flight == "right":
                assert sw == "9000", (round_no, index, sw)
                tries = 3
            elif in_flight == "wrong":
                tries -= 1
                assert sw == f"63C{tries:X}", (round_no, index, sw, tries)
            else:
                assert sw == "9000", (round_no, index, sw)
                nation = bytes.fromhex(in_flight.split()[1])
            in_flight = None
        allowed_tries = {tries}
        allowed_nation = {nation}
        if in_flight is not None:
            cuts_mid_command += 1
            if in_flight == "right":
                allowed_tries |= {tries - 1, 3}
            elif in_flight == "wrong":
                allowed_tries |= {tries - 1}
            else:
                allowed_nation |= {bytes.fromhex(in_flight.split()[1])}
        assert after.ssse_pin_tries_left in allowed_tries, (round_no, in_flight, tries)
        assert after.record_value("EF06", 5) in allowed_nation, (round_no, in_flight)
    assert total_commands > ROUNDS  # the stream really ran
    assert not list(tmp_path.glob(".card.json.*.tmp"))  # torn temp files are cleaned on load
    print(f"{cuts_mid_command} of {ROUNDS} cuts landed inside a command, {total_commands} commands")
    assert cuts_mid_command >= ROUNDS // 3  # most cuts land inside a command (fsync dominates)


class PowerCut(BaseException):
    """Raised where the power would fail."""


def test_try_is_persisted_before_the_comparison(
    card: VirtualCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"))

    def cut(self: PinRecord, digits: str) -> bool:
        raise PowerCut

    monkeypatch.setattr(PinRecord, "matches", cut)
    with pytest.raises(PowerCut):
        card.transmit(bytes.fromhex("0020000003123456"))  # the right PIN, cut mid-comparison
    assert CardImage.load(card.image.path).ssse_pin_tries_left == 2


def test_a_failed_write_never_answers_success(card: VirtualCard) -> None:
    """card.md: persistent state is written *before* the response; if it cannot be
    written the command fails (6985) and the card says why (``storage_failure``)."""
    path = card.image.path
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"))
    path.unlink()
    path.mkdir()  # the image's place is now a directory: every write fails
    assert card.transmit(bytes.fromhex("0020000003123456")) == b"\x69\x85"
    assert card.storage_failure is not None and str(path) in str(card.storage_failure)
    assert card.transmit(bytes.fromhex("00200000")) != b"\x90\x00"  # not verified
    assert card.transmit(bytes.fromhex("00B2072C00"))[-2:] == b"\x90\x00"  # reads still work
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))


def test_bank_pin_change_script_spends_the_old_pins_try_first(
    card: VirtualCard, keystore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """card.md §What real cards do: 84 24 00 01 checks the old PIN like VERIFY, so a cut
    mid-comparison costs the try (card.md §Persistence and tearing)."""
    from card.emv_script import pin_change_script
    from tests.card.conftest import PAN

    card.transmit(bytes.fromhex("00A4040008A00000033301010100"))
    card.transmit(bytes.fromhex("80A8000002830000"))
    answer = card.transmit(bytes.fromhex("80AE80001D") + bytes(29) + b"\x00")
    atc, arqc = int.from_bytes(answer[3:5], "big"), answer[5:13]
    script = pin_change_script(keystore.bank("102"), PAN, 1, atc, arqc, "2468", old_pin="123456")

    def cut(self: PinRecord, digits: str) -> bool:
        raise PowerCut

    monkeypatch.setattr(PinRecord, "matches", cut)
    with pytest.raises(PowerCut):
        card.transmit(script)
    assert CardImage.load(card.image.path).bank_pin_tries_left == 2
    monkeypatch.undo()
    assert CardImage.load(card.image.path).bank_pin.matches("123456")  # the PIN unchanged
