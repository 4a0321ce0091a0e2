"""The in-process card: the interface terminals, the reader rig and tests use.

``VirtualCard`` is one physical card: power on (ATR, fresh session), warm
reset, power off, and ``transmit`` (command APDU bytes → response data +
SW1 SW2). ``transmit`` never raises; a card that is not powered is powered
first, as a reader does on insertion. Calls are serialised by a lock, so a
vpcd thread and a test may share one card.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from card.chip import Chip
from card.image import CardImage


class Icc(Protocol):
    """The shape of an integrated circuit card that readers and the vpcd connector drive.

    :class:`VirtualCard` is the implementation; tests may pass anything of this shape.
    """

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> bytes: ...

    def reset(self) -> bytes: ...

    def power_off(self) -> None: ...

    def transmit(self, apdu: bytes) -> bytes: ...


class VirtualCard:
    """A card image with its card OS."""

    def __init__(self, image: CardImage, *, strict: bool = False) -> None:
        self.image = image
        self._chip = Chip(image, strict=strict)
        self._atr = image.atr
        self._powered = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str, *, strict: bool = False) -> VirtualCard:
        """Load the image at ``path`` (raises :class:`card.image.CardImageError`)."""
        return cls(CardImage.load(path), strict=strict)

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def storage_failure(self) -> Exception | None:
        """The last failure to write the card image (its command answered ``6985``)."""
        return self._chip.storage_failure

    @property
    def powered(self) -> bool:
        return self._powered

    def power_on(self) -> bytes:
        """Cold reset: a fresh session; returns the ATR."""
        with self._lock:
            self._chip.reset_session()
            self._powered = True
        return self._atr

    def reset(self) -> bytes:
        """Warm reset: a fresh session; persistent state untouched."""
        return self.power_on()

    def power_off(self) -> None:
        with self._lock:
            self._chip.reset_session()
            self._powered = False

    def transmit(self, apdu: bytes) -> bytes:
        """Response data + SW1 SW2 for any bytes (anything not bytes-like: ``6700``)."""
        try:
            raw = bytes(apdu)
        except (TypeError, ValueError):
            return b"\x67\x00"
        with self._lock:
            if not self._powered:
                self._chip.reset_session()
                self._powered = True
            return self._chip.execute(raw)

    def __repr__(self) -> str:
        return f"VirtualCard({self.image.card_number or 'blank'}, {self.image.algorithm.value})"
