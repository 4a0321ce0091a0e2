"""SSSE command APDUs, exactly as card.md §Commands; status words come from :mod:`card.sw`.

This is the *protocol* layer of the terminal: it builds command bytes and
reads status words by their names in :class:`card.sw.SW`; it never talks to a reader itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from card.sw import SW, describe

#: AID of the social security environment (card.md §Applications): "sx1.sh." + GBK 社会保障.
SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
DF04_FID = bytes.fromhex("DF04")
SFI_ISSUANCE = 0x05  # EF05 card issuance data
SFI_HOLDER = 0x06  # EF06 cardholder data

#: Status words are the card's own table (card.md §Commands): :mod:`card.sw`.
describe_sw = describe


class CardStatusError(Exception):
    """The card answered a command with a status word other than ``9000``."""

    def __init__(self, command: str, sw: int) -> None:
        self.command = command
        self.sw = sw
        super().__init__(f"{command}: card answered {sw:04X} ({describe_sw(sw)})")


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK


def _case3(cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    if not 0 < len(data) < 256:
        raise ValueError("command data must be 1..255 bytes")
    return bytes([cla, ins, p1, p2, len(data)]) + data


def select_aid(aid: bytes = SSSE_AID, *, fci: bool = True) -> bytes:
    """``00 A4 04 00 Lc AID`` (FCI wanted; a T=0 card answers ``61xx``), or P2 ``0C`` (no FCI)."""
    return _case3(0x00, 0xA4, 0x04, 0x00 if fci else 0x0C, aid)


def select_fid(fid: bytes, *, under_current_df: bool = False) -> bytes:
    """``00 A4 00 0C 02 FID`` (or P1 ``02`` for an EF under the current DF); no FCI wanted."""
    if len(fid) != 2:
        raise ValueError("file ids are 2 bytes")
    return _case3(0x00, 0xA4, 0x02 if under_current_df else 0x00, 0x0C, fid)


def read_record(sfi: int, number: int, le: int = 0) -> bytes:
    """``00 B2 P1 P2 Le``: record ``number`` of EF ``sfi`` (P2 = SFI<<3 | 4)."""
    if not 0 <= sfi < 31 or not 0 < number < 256:
        raise ValueError("bad SFI or record number")
    return bytes([0x00, 0xB2, number, (sfi << 3) | 4, le])


def read_record_by_tag(sfi: int, tag: int, le: int = 0) -> bytes:
    """``00 B2 tag P2 Le`` with P2 = SFI<<3: the first record whose identifier is ``tag``."""
    return bytes([0x00, 0xB2, tag, sfi << 3, le])


def pin_block(pin: str) -> bytes:
    """A PIN as packed BCD, ``F``-padded to whole bytes (2–6 bytes, card.md VERIFY)."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    digits = pin + ("F" if len(pin) % 2 else "")
    return bytes.fromhex(digits)


def verify(pin: str | None) -> bytes:
    """``00 20 00 00 Lc PIN``; without a PIN, ``00 20 00 00`` asks for the tries left."""
    if pin is None:
        return bytes([0x00, 0x20, 0x00, 0x00])
    return _case3(0x00, 0x20, 0x00, 0x00, pin_block(pin))


def change_pin(old: str, new: str) -> bytes:
    """``80 5E 01 00 Lc old FF new`` (PBOC CHANGE PIN by the holder)."""
    return _case3(0x80, 0x5E, 0x01, 0x00, pin_block(old) + b"\xff" + pin_block(new))


def get_challenge(length: int) -> bytes:
    """``00 84 00 00 Le``; every card answers Le 4, 8 or 16 (card.md §What real cards do)."""
    return bytes([0x00, 0x84, 0x00, 0x00, length])


def external_authenticate(kid: int, cryptogram: bytes) -> bytes:
    """``00 82 00 kid Lc ENC(Kkid, challenge)``."""
    return _case3(0x00, 0x82, 0x00, kid, cryptogram)


#: INTERNAL AUTHENTICATE P2 00 answers 8 bytes (the left half on an SM4 card)
INTERNAL_AUTH_ANSWER = 8


def internal_authenticate(kid: int, block: bytes, answer_length: int | None = None) -> bytes:
    """``00 88 00 kid Lc data Le``; the card returns ``ENC(Kkid, data)``.

    Le is ``answer_length``, by default the block's length; P2 ``00`` (key 01 as
    real readers send it) answers :data:`INTERNAL_AUTH_ANSWER` bytes.
    """
    return _case3(0x00, 0x88, 0x00, kid, block) + bytes([answer_length or len(block)])


def reset_retry_counter_header(new_pin: str | None) -> tuple[bytes, bytes]:
    """Header and plain data of RESET RETRY COUNTER before the MAC is appended.

    ``84 2C 03 00 04 MAC`` unblocks only; ``84 2C 02 00 Lc newPIN MAC`` sets a
    new PIN and unblocks. Lc counts the 4 MAC bytes.
    """
    if new_pin is None:
        return bytes([0x84, 0x2C, 0x03, 0x00, 0x04]), b""
    data = pin_block(new_pin)
    return bytes([0x84, 0x2C, 0x02, 0x00, len(data) + 4]), data


def update_record(sfi: int, number: int, record: bytes) -> bytes:
    """``00 DC P1 P2 Lc record`` (P2 = SFI<<3 | 4; SFI 0 = current EF)."""
    return _case3(0x00, 0xDC, number, (sfi << 3) | 4, record)


def parse_tlv_record(record: bytes) -> tuple[int, bytes]:
    """A one-TLV record (tag, length, value) of the SSSE files."""
    if len(record) < 2 or record[1] != len(record) - 2:
        raise ValueError(f"malformed record {record.hex().upper()}")
    return record[0], record[2:]
