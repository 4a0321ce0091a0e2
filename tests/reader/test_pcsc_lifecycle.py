"""Reader lifetimes and failure diagnosis on the real stack (pcscd + vpcd + pyscard).

* Every ``PcscReader`` holds a PC/SC context, i.e. a connection and a thread in
  pcscd, which refuses new contexts ("Access denied") once it serves a few
  hundred.  ``close()`` must give it back, or a hospital desk dies after a few
  hundred visits.
* A card pulled mid-session is ``CardRemoved`` even when the very next
  transmit fails before pcscd has noticed the removal; a failed exchange with
  the card still in the reader stays ``CardUnresponsive``.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from pathlib import Path

import pytest

from card.icc import VirtualCard
from card.vpcd import VpcdConnector
from terminal import apdu
from terminal.readers import pcsc
from terminal.readers.base import CardRemoved, CardUnresponsive, Reader, ReaderError
from terminal.readers.pcsc import PcscReader, list_readers

pytestmark = pytest.mark.pcsc

WAIT = 5.0
#: More than pcscd's default limit of 200 client threads (``pcscd --max-thread``).
MANY = 300


def test_hundreds_of_readers_opened_and_closed_in_a_row(pcsc_rig) -> None:
    name = pcsc_rig.readers[0].name
    kept = []  # closed readers stay referenced: only close(), not the GC, may free contexts
    started = time.monotonic()
    for _ in range(MANY):
        reader = PcscReader(name)
        reader.card_present()  # establishes the reader's context
        reader.close()
        kept.append(reader)
    elapsed = time.monotonic() - started
    assert all(r.closed for r in kept)
    assert name in list_readers()  # pcscd still accepts clients
    with PcscReader(name) as fresh:
        fresh.card_present()
    assert elapsed < 20, f"{MANY} readers took {elapsed:.1f} s"


def test_a_closed_reader_refuses_use_and_closes_its_connections(pcsc_rig, issue_card) -> None:
    inserted = pcsc_rig.insert(issue_card())
    with pcsc_rig.reader(inserted) as reader:
        assert isinstance(reader, Reader)
        conn = reader.connect()
        assert conn.transmit(apdu.select_aid()).sw == 0x9000
        assert conn.transmit(apdu.verify("123456")).sw == 0x9000
    assert reader.closed
    reader.close()  # idempotent
    with pytest.raises(CardRemoved, match="closed"):
        conn.transmit(apdu.select_aid())
    with pytest.raises(ReaderError, match="closed"):
        reader.card_present()
    with PcscReader(inserted.reader.name) as again, again.connect() as conn2:
        conn2.transmit(apdu.select_aid())
        assert conn2.transmit(apdu.verify(None)).sw & 0xFFF0 == 0x63C0  # reset on close
    inserted.remove()


LEAKER = """
import sys
from terminal.readers.pcsc import PcscReader
name, close = sys.argv[1], sys.argv[2] == "close"
held = []
for n in range(int(sys.argv[3])):
    reader = PcscReader(name)
    try:
        reader.card_present()
    except Exception as exc:
        print("refused", n, type(exc).__name__, exc)
        sys.exit(0)
    if close:
        reader.close()
    held.append(reader)
print("ok")
"""


def test_open_readers_do_exhaust_pcscd_and_closed_ones_do_not(private_pcscd) -> None:
    """The control: the limit is real (on a private pcscd, so nobody else is refused)."""
    private = private_pcscd(n=2)
    name = private.readers[0].name

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", LEAKER, name, mode, str(MANY)],
            env=private.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    leaked = run("keep")
    assert leaked.startswith("refused"), leaked
    assert int(leaked.split()[1]) < MANY, leaked
    assert run("close") == "ok"


def test_card_pulled_mid_session_is_removed_not_unresponsive(pcsc_rig, issue_card) -> None:
    inserted = pcsc_rig.insert(issue_card())  # a `python -m card insert` child process
    with pcsc_rig.reader(inserted) as reader:
        conn = reader.connect()
        assert conn.transmit(apdu.select_aid()).sw == 0x9000
        inserted.kill()  # pulled: no time for pcscd to poll before the next command
        started = time.monotonic()
        with pytest.raises(CardRemoved, match="removed"):
            conn.transmit(apdu.read_record(apdu.SFI_ISSUANCE, 1))
        assert time.monotonic() - started < 3.0
        with pytest.raises(CardRemoved):
            conn.transmit(apdu.select_aid())  # the session stays lost
        reader.wait_for_removal(WAIT)


def test_failed_exchange_with_the_card_present_stays_unresponsive(
    pcsc_rig, issue_card, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserted = pcsc_rig.insert_card(VirtualCard.open(issue_card()))
    with pcsc_rig.reader(inserted) as reader, reader.connect() as conn:
        assert conn.transmit(apdu.select_aid()).sw == 0x9000
        # pcscd rejects an empty command (SCARD_E_INVALID_PARAMETER): the exchange fails
        # while the card stays in the reader.  (The reader layer refuses it before pcscd
        # since #12, test_reader_interface; let this one through to reach pcscd.)
        monkeypatch.setattr(pcsc, "check_command", lambda apdu: None)
        with pytest.raises(CardUnresponsive, match="present"):
            conn.transmit_raw(b"")
        assert not conn.card_gone(grace=0.2)
        assert conn.transmit(apdu.select_aid()).sw == 0x9000  # the session goes on
    inserted.remove()


def test_a_connection_keeps_an_unreferenced_reader_open(pcsc_rig, issue_card) -> None:
    inserted = pcsc_rig.insert(issue_card())
    conn = PcscReader(inserted.reader.name).connect()  # nobody else holds the reader
    gc.collect()
    assert conn.transmit(apdu.select_aid()).sw == 0x9000
    conn.close()
    inserted.remove()


STOPPED_UNDER = """
import sys
from terminal.readers import open_reader
from terminal.readers.base import ReaderError
from terminal import apdu
reader = open_reader(sys.argv[1])
reader.wait_for_card(30)
conn = reader.connect()
assert conn.transmit(apdu.select_aid()).sw == 0x9000
print("connected", flush=True)
sys.stdin.readline()  # pcscd is stopped now
for step in (lambda: conn.transmit(apdu.select_aid()), lambda: open_reader(0)):
    try:
        step()
        print("no error")
    except ReaderError as exc:
        print(type(exc).__name__, exc)
"""


def test_pcscd_stopped_mid_session_is_a_clear_error(private_pcscd, issue_card) -> None:
    private = private_pcscd(n=2)
    target = private.readers[0]
    connector = VpcdConnector(VirtualCard.open(issue_card()), port=target.port)
    connector.start()
    client = subprocess.Popen(
        [sys.executable, "-c", STOPPED_UNDER, target.name],
        env=private.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert client.stdout.readline().strip() == "connected", client.stderr.read()
        private.stop()
        out, err = client.communicate("\n", timeout=30)
    finally:
        connector.stop()
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err
    lost, refused = out.strip().splitlines()
    assert lost.startswith("CardRemoved pcscd stopped or restarted during the session")
    assert refused.startswith("PcscdNotRunning pcscd (the PC/SC daemon) is not running")
