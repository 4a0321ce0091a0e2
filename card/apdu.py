"""Command APDUs (ISO 7816-3 §12.1, short form only).

``parse`` splits the bytes into header, data and Le, deciding the case from
the length alone. Extended length (Lc byte ``00`` followed by more bytes) is
not supported by this card and answers ``6700``.
"""

from __future__ import annotations

from dataclasses import dataclass

from card.sw import SW, CardError


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None: no Le field; 0 means "up to 256"

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))


def parse(apdu: bytes) -> Command:
    """Split a short APDU; malformed lengths raise ``CardError(6700)``."""
    n = len(apdu)
    if n < 4:
        raise CardError(SW.WRONG_LENGTH)
    cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
    if n == 4:
        return Command(cla, ins, p1, p2, b"", None)
    if n == 5:
        return Command(cla, ins, p1, p2, b"", apdu[4])
    lc = apdu[4]
    if lc == 0:
        raise CardError(SW.WRONG_LENGTH)  # extended length: not supported
    if n == 5 + lc:
        return Command(cla, ins, p1, p2, bytes(apdu[5:]), None)
    if n == 6 + lc:
        return Command(cla, ins, p1, p2, bytes(apdu[5 : 5 + lc]), apdu[n - 1])
    raise CardError(SW.WRONG_LENGTH)


def check_le(cmd: Command, expected: int) -> None:
    """For commands with side effects: refuse a wrong Le before acting (``6Cxx``)."""
    if cmd.le is not None and cmd.le != 0 and cmd.le != expected:
        raise CardError(SW.WRONG_LE | (expected & 0xFF))
