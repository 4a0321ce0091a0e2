"""Must-show tests of issue 4 on the real stack: pcscd + vpcd + our card + pyscard.

Cards go in as separate ``python -m rig.cli insert`` processes (as a
user would run ``python -m card insert``), so killing one is pulling a card.
The pcscd-restart test uses a private pcscd (own socket and ports) so that it
never disturbs other test processes sharing the system pcscd.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from card.icc import VirtualCard
from card.image import CardImage
from terminal import apdu
from terminal.readers import open_reader
from terminal.readers.base import CardRemoved, ReaderError
from terminal.readers.inprocess import InProcessReader

pytestmark = pytest.mark.pcsc

WAIT = 5.0


def card_number(conn) -> str:
    assert conn.transmit(apdu.select_aid()).sw == 0x9000
    data, sw = conn.transmit(apdu.read_record(apdu.SFI_ISSUANCE, 7))
    assert sw == 0x9000
    return apdu.parse_tlv_record(data)[1].decode()


def ssse_tries_left(image: Path) -> int:
    """Tries left on the SSSE PIN, asked of the image through an in-process reader."""
    reader = InProcessReader(VirtualCard.open(image))
    with reader.connect() as conn:
        conn.transmit(apdu.select_aid())
        sw = conn.transmit(apdu.verify(None)).sw
    assert sw & 0xFFF0 == 0x63C0, f"{sw:04X}"
    return sw & 0x0F


def test_card_process_insert_read_verify_remove(pcsc_rig, issue_card) -> None:
    image = issue_card(card_number="X00000019")
    inserted = pcsc_rig.insert(image)
    reader = pcsc_rig.reader(inserted)
    with reader.connect() as conn:
        assert conn.atr == CardImage.load(image).atr
        assert card_number(conn) == "X00000019"
        data, sw = conn.transmit(apdu.read_record(apdu.SFI_HOLDER, 2))
        assert sw == 0x9000 and apdu.parse_tlv_record(data)[0] == 0x09
        assert conn.transmit(apdu.verify("123456")).sw == 0x9000
    inserted.remove()
    assert inserted.process.returncode == 0
    reader.wait_for_removal(WAIT)


def test_three_cards_in_three_readers_at_the_same_time(pcsc_rig, issue_card) -> None:
    numbers = ["X00000101", "X00000102", "X00000103"]  # a hospital's three desks
    inserted = [pcsc_rig.insert(issue_card(card_number=n)) for n in numbers]
    assert len({card.reader.name for card in inserted}) == 3
    start = threading.Barrier(len(inserted))
    seen: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def desk(card) -> None:
        try:
            reader = pcsc_rig.reader(card)
            with reader.connect() as conn:
                start.wait(WAIT)
                got = []
                for _ in range(40):
                    got.append(card_number(conn))
                    data, sw = conn.transmit(apdu.get_challenge(16))
                    assert sw == 0x9000 and len(data) == 16
                seen[card.reader.name] = got
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=desk, args=(card,)) for card in inserted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for card, number in zip(inserted, numbers, strict=True):
        assert set(seen[card.reader.name]) == {number}
        card.remove()


def test_killed_card_process_is_a_removal_and_the_image_survives(pcsc_rig, issue_card) -> None:
    image = issue_card()
    inserted = pcsc_rig.insert(image)
    reader = pcsc_rig.reader(inserted)
    conn = reader.connect()
    conn.transmit(apdu.select_aid())
    assert conn.transmit(apdu.verify("999999")).sw == 0x63C2  # persisted before the answer
    inserted.kill()
    started = time.monotonic()
    reader.wait_for_removal(WAIT)
    assert time.monotonic() - started < 2.0  # pcscd polls every 400 ms
    with pytest.raises(CardRemoved):
        conn.transmit(apdu.read_record(apdu.SFI_ISSUANCE, 1))
    conn.disconnect()
    CardImage.load(image)  # still a valid image
    assert ssse_tries_left(image) == 2


CLIENT = """
import sys
from terminal.readers import open_reader
from terminal import apdu
reader = open_reader(sys.argv[1])
print("waiting", file=sys.stderr, flush=True)
reader.wait_for_card(float(sys.argv[2]) if len(sys.argv) > 2 else 10)
with reader.connect() as conn:
    conn.transmit(apdu.select_aid())
    data, sw = conn.transmit(apdu.read_record(apdu.SFI_ISSUANCE, 7))
    print(apdu.parse_tlv_record(data)[1].decode(), f"{sw:04X}")
"""


def run_client(private, reader_name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, reader_name],
        env=private.env,
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def next_event(process: subprocess.Popen[str], timeout: float = 15.0) -> dict:
    box: dict = {}

    def read() -> None:
        box.update(json.loads(process.stdout.readline()))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout)
    assert box, "the card process reported nothing"
    return box


def card_process(image: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rig.cli",
            "insert",
            str(image),
            "--port",
            str(port),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_card_reconnects_when_pcscd_restarts(private_pcscd, issue_card) -> None:
    private = private_pcscd(n=2)
    target, empty = private.readers
    card = card_process(issue_card(card_number="X00000777"), target.port)
    late_card = None
    # A terminal already waiting on the empty reader must survive the restart too.  It
    # waits up to 90 s: everything below takes over 10 s on a loaded 2-core machine.
    waiting = subprocess.Popen(
        [sys.executable, "-c", CLIENT, empty.name, "90"],
        env=private.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert next_event(card)["event"] == "inserted"
        assert run_client(private, target.name) == "X00000777 9000"
        assert waiting.stderr.readline().strip() == "waiting"  # it has opened the reader
        time.sleep(0.5)  # and is in SCardGetStatusChange
        private.restart()
        assert next_event(card)["event"] == "reconnected"
        assert run_client(private, target.name) == "X00000777 9000"
        assert card.poll() is None
        assert waiting.poll() is None, waiting.communicate()[1]
        late_card = card_process(issue_card(card_number="X00000778"), empty.port)
        out, err = waiting.communicate(timeout=90)
        assert waiting.returncode == 0, err
        assert out.strip() == "X00000778 9000"
    finally:
        for process in (card, late_card, waiting):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)
    assert card.returncode == 0


def test_pcscd_not_running_is_a_clear_error(tmp_path) -> None:
    script = (
        "from terminal.readers import list_readers\n"
        "from terminal.readers.base import PcscdNotRunning\n"
        "try:\n    list_readers()\nexcept PcscdNotRunning as exc:\n    print('OK', exc)\n"
    )
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "nothing.comm")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.startswith("OK pcscd"), done.stdout + done.stderr
    assert "rig start" in done.stdout


def test_unknown_reader_name_is_a_clear_error(pcsc_rig) -> None:
    with pytest.raises(ReaderError, match="no reader named like"):
        open_reader("no such reader anywhere")


def test_opensc_tool_and_pcsc_scan_see_the_card(pcsc_rig, issue_card) -> None:
    image = issue_card()
    atr = CardImage.load(image).atr
    scan = subprocess.Popen(
        ["stdbuf", "-oL", "pcsc_scan", "-n"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(
        target=lambda: lines.extend(iter(scan.stdout.readline, "")), daemon=True
    ).start()
    try:
        time.sleep(1.0)  # pcsc_scan has listed the readers
        inserted = pcsc_rig.insert(image)
        listing = subprocess.run(
            ["opensc-tool", "-l"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        index = next(
            m.group(1)
            for m in re.finditer(r"^(\d+)\s+.*?(SSCard.*)$", listing, re.MULTILINE)
            if m.group(2).strip() == inserted.reader.name
        )
        shown = subprocess.run(
            ["opensc-tool", "-r", index, "-a"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert atr.hex(":") in shown.stdout.lower(), shown.stdout + shown.stderr
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not any("Card inserted" in line for line in lines):
            time.sleep(0.05)
        text = "".join(lines)
        assert "Card inserted" in text, text[-2000:]
        assert atr.hex(" ").upper() in text.upper()
        inserted.remove()
    finally:
        scan.terminate()
        scan.wait(10)


def test_atr_polling_is_cheap_and_leaves_the_card_alone(pcsc_rig, issue_card) -> None:
    """pcscd asks for the ATR every 400 ms: the answer must not touch the card's state."""
    image = issue_card()
    before = image.read_bytes()
    card = VirtualCard.open(image)
    inserted = pcsc_rig.insert_card(card)
    try:
        polled = inserted.connector.served
        time.sleep(1.3)  # three polls or more
        assert inserted.connector.served - polled >= 2
        assert image.read_bytes() == before
        reader = pcsc_rig.reader(inserted)
        assert reader.atr() == card.atr
        with reader.connect() as conn:  # and the card still answers as freshly inserted
            assert card_number(conn)
        assert image.read_bytes() == before
    finally:
        inserted.remove()
