"""The Reader interface, run against both implementations (in-process and PC/SC).

The PC/SC runs go through the real pcscd, vsmartcard's vpcd driver and our
connector; the in-process runs call ``card.icc.VirtualCard`` directly.  Both
must behave the same at the interface (terminal/readers/base.py).
"""

from __future__ import annotations

import threading
import time

import pytest

from card.image import CardImage
from terminal import apdu
from terminal.readers.base import (
    CardConnection,
    CardRemoved,
    CardStillPresent,
    InvalidCommand,
    NoCard,
    Reader,
    Response,
)

WAIT = 5.0


def read_records(conn: CardConnection, sfi: int, count: int) -> dict[int, bytes]:
    records = {}
    for number in range(1, count + 1):
        data, sw = conn.transmit(apdu.read_record(sfi, number))
        assert sw == 0x9000, f"record {number}: {sw:04X}"
        tag, value = apdu.parse_tlv_record(data)
        records[tag] = value
    return records


def test_the_implementation_matches_the_protocol(slot) -> None:
    assert isinstance(slot.reader, Reader)


def test_insert_read_ef05_ef06_verify_remove(slot, issue_card) -> None:
    image = issue_card(card_number="X00000019", name="张三")
    slot.insert(image)
    slot.reader.wait_for_card(WAIT)
    assert slot.reader.card_present()
    with slot.reader.connect() as conn:
        assert isinstance(conn, CardConnection)
        assert conn.atr == CardImage.load(image).atr
        assert conn.atr[:4] == bytes.fromhex("3B6D0000")
        assert conn.transmit(apdu.select_aid()).sw == 0x9000
        ef05 = read_records(conn, apdu.SFI_ISSUANCE, 7)
        ef06 = read_records(conn, apdu.SFI_HOLDER, 7)
        assert ef05[0x07] == b"X00000019"
        assert ef05[0x01][8:] == conn.atr[-9:-1]  # card factor in ATR and identification code
        assert ef06[0x09].rstrip(b"\0").decode("gbk") == "张三"
        assert conn.transmit(apdu.verify("000000")).sw == 0x63C2
        assert conn.transmit(apdu.verify("123456")) == Response(b"", 0x9000)
    slot.remove()
    slot.reader.wait_for_removal(WAIT)
    assert not slot.reader.card_present()


def test_le_correction_and_get_response_reach_the_card(slot, issue_card) -> None:
    slot.insert(issue_card())
    slot.reader.wait_for_card(WAIT)
    with slot.reader.connect() as conn:
        conn.transmit(apdu.select_aid())
        # Le 01 is wrong for record 7 (9 bytes + 2 TLV bytes): the card says 6Cxx.
        raw = conn.transmit_raw(apdu.read_record(apdu.SFI_ISSUANCE, 7, le=1))
        assert raw.sw1 == 0x6C
        fixed = conn.transmit(apdu.read_record(apdu.SFI_ISSUANCE, 7, le=1))
        assert fixed.sw == 0x9000 and len(fixed.data) == raw.sw2
        # GET CHALLENGE answers 8 or 16 bytes with Le.
        data, sw = conn.transmit(apdu.get_challenge(16))
        assert sw == 0x9000 and len(data) == 16


def test_card_removed_mid_session(slot, issue_card) -> None:
    slot.insert(issue_card())
    slot.reader.wait_for_card(WAIT)
    conn = slot.reader.connect()
    assert conn.transmit(apdu.select_aid()).sw == 0x9000
    slot.remove()
    slot.reader.wait_for_removal(WAIT)
    with pytest.raises(CardRemoved, match="re-insert|connect again"):
        conn.transmit(apdu.read_record(apdu.SFI_ISSUANCE, 1))
    conn.disconnect()


def test_empty_reader_errors(slot) -> None:
    assert not slot.reader.card_present()
    with pytest.raises(NoCard, match="insert"):
        slot.reader.connect()
    started = time.monotonic()
    with pytest.raises(NoCard):
        slot.reader.wait_for_card(0.3)
    assert 0.25 <= time.monotonic() - started < 3


def test_wait_for_card_wakes_on_insertion(slot, issue_card) -> None:
    image = issue_card()
    timer = threading.Timer(0.3, slot.insert, args=(image,))
    timer.start()
    try:
        slot.reader.wait_for_card(WAIT)
    finally:
        timer.join()
    with pytest.raises(CardStillPresent):
        slot.reader.wait_for_removal(0.2)


def test_verified_pin_does_not_survive_disconnect(slot, issue_card) -> None:
    slot.insert(issue_card())
    slot.reader.wait_for_card(WAIT)
    with slot.reader.connect() as conn:
        conn.transmit(apdu.select_aid())
        assert conn.transmit(apdu.verify("123456")).sw == 0x9000
        assert conn.transmit(apdu.verify(None)).sw == 0x9000
    with slot.reader.connect() as conn:
        conn.transmit(apdu.select_aid())
        assert conn.transmit(apdu.verify(None)).sw & 0xFFF0 == 0x63C0


@pytest.mark.parametrize("length", [0, 1, 2, 3, 65536, 70000])
def test_commands_no_reader_can_carry_are_refused_before_sending(slot, issue_card, length) -> None:
    """Shorter than 4 bytes, or longer than vpcd can frame (card.md, "vpcd framing")."""
    slot.insert(issue_card())
    slot.reader.wait_for_card(WAIT)
    command = bytes([0x94]) if length == 1 else bytes(length)
    with slot.reader.connect() as conn:
        for send in (conn.transmit, conn.transmit_raw):
            with pytest.raises(InvalidCommand, match=f"not {length}: nothing was sent"):
                send(command)
        assert conn.transmit(apdu.select_aid()).sw == 0x9000  # the session goes on
    assert slot.reader.card_present()


def test_the_longest_command_is_carried(slot, issue_card) -> None:
    slot.insert(issue_card())
    slot.reader.wait_for_card(WAIT)
    with slot.reader.connect() as conn:
        # Both reach the card, which refuses them itself: INS 00 is no instruction, and
        # an extended-length UPDATE BINARY is longer than anything it accepts.
        assert conn.transmit_raw(bytes(4)).sw == 0x6D00
        longest = bytes.fromhex("00D6000000FFF8") + bytes(0xFFF8)
        assert len(longest) == 65535
        assert conn.transmit_raw(longest).sw in (0x6700, 0x6D00)
        assert conn.transmit(apdu.select_aid()).sw == 0x9000
