"""A foreign PC/SC client cannot wedge a vpcd slot (``card.md`` §What real cards do).

A client that uses pyscard directly (as any PC/SC program would, bypassing the
terminal's checks) sends every 1-byte value and the long-APDU sizes through
the real pcscd and vsmartcard's driver to our connector; after each, the same
slot must answer a normal command within a second.  It runs against a private
pcscd, so that a regression wedges only this test's slot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from card.icc import VirtualCard
from card.vpcd import STALL_TIMEOUT, VpcdConnector
from terminal import apdu

pytestmark = pytest.mark.pcsc

#: The sizes around what the driver can frame (2-byte length) and pcscd can take.
LONG_SIZES = [261, 65535, 65536, 65537, 65548, 70000]

FOREIGN_CLIENT = r"""
import json, sys, time
from smartcard import scard

name, normal_hex, items = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
NORMAL = list(bytes.fromhex(normal_hex))
hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)


def connect(deadline):
    while time.monotonic() < deadline:
        hresult, handle, _ = scard.SCardConnect(
            context, name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0
        )
        if hresult == scard.SCARD_S_SUCCESS:
            return handle
        time.sleep(0.01)
    return None


def normal(handle, deadline):
    # The normal command, reconnecting while the slot re-inserts the card.
    while time.monotonic() < deadline:
        handle = handle or connect(deadline)
        if handle is None:
            break
        hresult, answer = scard.SCardTransmit(handle, scard.SCARD_PCI_T0, NORMAL)
        if hresult == scard.SCARD_S_SUCCESS and len(answer) >= 2:
            return handle, bytes(answer[-2:]).hex().upper()
        scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
        handle = None
        time.sleep(0.01)
    return handle, None


handle = connect(time.monotonic() + 10)
for item in items:
    command = bytes.fromhex(item) if isinstance(item, str) else bytes(item)
    started = time.monotonic()
    hresult, answer = scard.SCardTransmit(handle, scard.SCARD_PCI_T0, list(command))
    sent = time.monotonic()
    handle, sw = normal(handle, sent + 1.0)
    print(json.dumps({
        "item": item, "hresult": hresult & 0xFFFFFFFF, "answer": bytes(answer[:32]).hex().upper(),
        "exchange_s": round(sent - started, 3), "sw": sw,
        "normal_s": round(time.monotonic() - sent, 3),
    }), flush=True)
"""


def run_foreign_client(private, name: str, items: list) -> list[dict]:
    """Send ``items`` (hex strings, or sizes of zero-filled commands); one result each."""
    client = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_CLIENT, name, apdu.select_aid().hex(), json.dumps(items)],
        env=private.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        out, err = client.communicate(timeout=20 + 3 * len(items) / 16)
    except subprocess.TimeoutExpired:
        client.kill()
        out, err = client.communicate()
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    done = {json.dumps(r["item"]) for r in results}
    stuck = [item for item in items if json.dumps(item) not in done]
    assert not stuck, f"the client hung at {stuck[:1]} (the slot is wedged); stderr: {err[-500:]}"
    return results


@pytest.fixture
def slot(private_pcscd, issue_card):
    private = private_pcscd(n=2)
    target = private.readers[0]
    connector = VpcdConnector(VirtualCard.open(issue_card()), port=target.port)
    connector.start()
    try:
        yield private, target, connector
    finally:
        connector.stop()


def answered(result: dict) -> bool:
    return result["sw"] is not None and (result["sw"] == "9000" or result["sw"][:2] == "61")


def test_every_one_byte_command_leaves_the_slot_answering(slot) -> None:
    private, target, connector = slot
    results = run_foreign_client(private, target.name, [f"{code:02X}" for code in range(256)])
    late = [r for r in results if not answered(r)]
    assert not late, f"the slot did not answer within 1 s after {late[:3]}"
    answers = {r["item"]: r for r in results}
    too_short = [f"{code:02X}" for code in range(256) if code not in (0, 1, 2, 4)]
    assert all(answers[code]["answer"] == "6700" for code in too_short)
    # 04 is the ATR request on the wire: a client sending it as an APDU gets the ATR.
    assert answers["04"]["answer"] == connector.card.atr.hex().upper()
    # 00/01/02 are control codes on the wire: the driver waits for an answer that cannot
    # come, so the connector re-inserts the card after STALL_TIMEOUT of silence.
    for code in ("00", "01", "02"):
        assert answers[code]["answer"] == "", answers[code]  # no response APDU at all
        assert STALL_TIMEOUT - 0.1 <= answers[code]["exchange_s"] < STALL_TIMEOUT + 2, answers[code]
    assert connector.stalls == 3


def test_long_commands_leave_the_slot_answering(slot) -> None:
    private, target, _connector = slot
    results = run_foreign_client(private, target.name, LONG_SIZES)
    late = [r for r in results if not answered(r)]
    assert not late, f"the slot did not answer within 1 s after {late[:3]}"
    by_size = {r["item"]: r for r in results}
    assert by_size[65535]["hresult"] == 0 and by_size[65535]["answer"][-4:-2] in ("67", "6D")
    # 65 536 bytes and more cannot be framed: the driver drops the card (and the
    # terminal's reader layer refuses such commands before they reach pcscd).
    assert by_size[65536]["hresult"] != 0, by_size[65536]
