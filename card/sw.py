"""Status words of the card, by name (card.md §Commands, "Status words used").

Handlers raise :class:`CardError` carrying a status word; the card OS turns it
into the two trailing bytes of the response. Nothing else ever leaves a
handler, so every input gets exactly one status word.
"""

from __future__ import annotations

from enum import IntEnum


class SW(IntEnum):
    """ISO 7816-4 status words used by this card."""

    OK = 0x9000
    BYTES_AVAILABLE = 0x6100  # | xx: data waiting for GET RESPONSE (T=0)
    DATA_MAY_BE_CORRUPTED = 0x6281  # a stored record failed its integrity check
    AUTH_FAILED = 0x6300  # EXTERNAL AUTHENTICATE cryptogram wrong
    PIN_TRIES_LEFT = 0x63C0  # | x: wrong PIN, x tries left
    WRONG_LENGTH = 0x6700
    SECURITY_STATUS = 0x6982  # security status not satisfied (no PIN / key / bad MAC)
    PIN_BLOCKED = 0x6983  # authentication method blocked
    CONDITIONS = 0x6985  # conditions of use not satisfied
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    WRONG_P1P2 = 0x6A86
    REF_NOT_FOUND = 0x6A88  # referenced data (key, PIN reference, tag) not found
    WRONG_PARAMETERS = 0x6B00  # wrong P1-P2 (record number 0)
    WRONG_LE = 0x6C00  # | xx: exact length
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


#: A reading of each status word for people (terminal messages, logs).
DESCRIPTIONS: dict[int, str] = {
    SW.OK: "ok",
    SW.DATA_MAY_BE_CORRUPTED: "part of returned data may be corrupted",
    SW.AUTH_FAILED: "authentication failed",
    SW.WRONG_LENGTH: "wrong length",
    SW.SECURITY_STATUS: "security status not satisfied",
    SW.PIN_BLOCKED: "PIN blocked",
    SW.CONDITIONS: "conditions of use not satisfied",
    SW.FILE_NOT_FOUND: "file not found",
    SW.RECORD_NOT_FOUND: "record not found",
    SW.WRONG_P1P2: "wrong P1/P2",
    SW.REF_NOT_FOUND: "key not found on the card",
    SW.WRONG_PARAMETERS: "wrong parameters",
    SW.INS_NOT_SUPPORTED: "instruction not supported",
    SW.CLA_NOT_SUPPORTED: "class not supported",
}


def describe(sw: int) -> str:
    """A human reading of a status word, e.g. ``63C2`` → ``wrong PIN, 2 tries left``."""
    if sw & 0xFFF0 == SW.PIN_TRIES_LEFT:
        return f"wrong PIN, {sw & 0x0F} tries left"
    if sw & 0xFF00 == SW.BYTES_AVAILABLE:
        return f"{sw & 0xFF} more bytes available"
    if sw & 0xFF00 == SW.WRONG_LE:
        return f"wrong Le, use {sw & 0xFF}"
    return DESCRIPTIONS.get(sw, "unknown status")


def is_wrong_pin(sw: int) -> bool:
    """``63Cx``: a wrong PIN, ``x`` tries left (:func:`tries_left` builds it)."""
    return sw & 0xFFF0 == SW.PIN_TRIES_LEFT


class CardError(Exception):
    """A command refused by the card with status word ``sw``."""

    __slots__ = ("sw",)

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


def tries_left(count: int) -> int:
    """``63Cx`` with ``x`` tries left."""
    return SW.PIN_TRIES_LEFT | (count & 0x0F)


def wrong_le(length: int) -> int:
    """``6Cxx`` where ``xx`` is the right Le (``00`` = 256)."""
    return SW.WRONG_LE | (length & 0xFF)


def bytes_available(length: int) -> int:
    """``61xx``: ``xx`` bytes wait for GET RESPONSE (``00`` = 256 or more)."""
    return SW.BYTES_AVAILABLE | (length if length < 256 else 0)
