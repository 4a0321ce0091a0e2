"""An in-process reader: a ``card.icc.VirtualCard`` in this process, no pcscd in between.

Same interface as the PC/SC reader (``terminal.readers.base``), for unit tests, the
hospital simulation's fast mode and benchmarks.  ``insert(card)`` and
``remove()`` play the part of the holder's hand; a session whose card is
removed gets :class:`~terminal.readers.base.CardRemoved`, exactly like over PC/SC.
"""

from __future__ import annotations

import threading
import weakref
from typing import Self

from card.icc import Icc
from terminal.readers.base import (
    CardRemoved,
    CardStillPresent,
    CardUnresponsive,
    NoCard,
    Response,
    check_command,
    exchange_t0,
)


class InProcessReader:
    """A card slot holding (or not) one in-process card."""

    def __init__(self, card: Icc | None = None, name: str = "in-process reader") -> None:
        self.name = name
        self._card: Icc | None = None
        self._insertions = 0  # bumps on every insert, so a stale connection notices
        self._changed = threading.Condition()
        self._lock = threading.Lock()  # one APDU at a time, like a real slot
        self._connections: weakref.WeakSet[InProcessConnection] = weakref.WeakSet()
        if card is not None:
            self.insert(card)

    def __repr__(self) -> str:
        state = "card" if self._card is not None else "empty"
        return f"InProcessReader({self.name!r}, {state})"

    # --- the holder's hand ----------------------------------------------------------

    def insert(self, card: Icc) -> None:
        """Put a card into the slot (replacing nothing: the slot must be empty)."""
        with self._changed:
            if self._card is not None:
                raise ValueError(f"{self.name} already holds a card: remove it first")
            self._card = card
            self._insertions += 1
            self._changed.notify_all()

    def remove(self) -> Icc | None:
        """Take the card out (powering it off); returns it, or None if the slot was empty."""
        with self._changed:
            card, self._card = self._card, None
            self._changed.notify_all()
        if card is not None:
            with self._lock:
                card.power_off()
        return card

    # --- Reader protocol ------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End open connections (resetting the card); the card stays in the slot.

        The in-process reader holds no operating-system resource, so unlike
        the PC/SC reader it stays usable after ``close``.
        """
        for connection in list(self._connections):
            connection.disconnect()

    def card_present(self) -> bool:
        return self._card is not None

    def wait_for_card(self, timeout: float | None = None) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._card is not None, timeout):
                raise NoCard(f"no card was inserted into {self.name} within {timeout} s")

    def wait_for_removal(self, timeout: float | None = None) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._card is None, timeout):
                raise CardStillPresent(
                    f"the card is still in {self.name} after {timeout} s: ask the holder to "
                    "take it out"
                )

    def connect(self) -> InProcessConnection:
        with self._changed:
            card, insertion = self._card, self._insertions
        if card is None:
            raise NoCard(f"no card in {self.name}: insert a card and retry")
        with self._lock:
            atr = card.power_on()
        connection = InProcessConnection(self, card, insertion, atr)
        self._connections.add(connection)
        return connection


class InProcessConnection:
    """A powered in-process card; ``transmit`` handles 61xx / 6Cxx like the PC/SC one."""

    def __init__(self, reader: InProcessReader, card: Icc, insertion: int, atr: bytes):
        self.reader_name = reader.name
        self.atr = atr
        self._reader = reader
        self._card: Icc | None = card
        self._insertion = insertion

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def _live_card(self) -> Icc:
        reader = self._reader
        if self._card is None:
            raise CardRemoved(f"the connection to {self.reader_name} is closed: connect again")
        if reader._card is not self._card or reader._insertions != self._insertion:
            raise CardRemoved(
                f"the card was removed from {self.reader_name} during the session: "
                "re-insert it and start again"
            )
        return self._card

    def transmit_raw(self, apdu: bytes) -> Response:
        """One command APDU, one response APDU, no T=0 helpers (InvalidCommand: not sent)."""
        check_command(apdu)
        with self._reader._lock:
            card = self._live_card()
            rapdu = card.transmit(bytes(apdu))
        if len(rapdu) < 2:
            raise CardUnresponsive(f"the card in {self.reader_name} gave no status word")
        return Response.from_bytes(rapdu)

    def transmit(self, apdu: bytes) -> Response:
        return exchange_t0(self.transmit_raw, bytes(apdu))

    def reset(self) -> bytes:
        """Warm reset: clears the card's session state, keeps its persistent state."""
        with self._reader._lock:
            self.atr = self._live_card().reset()
        return self.atr

    def disconnect(self) -> None:
        """End the session; the card stays in the reader and is reset (no state carries over)."""
        card, self._card = self._card, None
        if card is not None and self._reader._card is card:
            with self._reader._lock:
                card.reset()

    def close(self) -> None:
        """Same as :meth:`disconnect` (the name every closable resource has)."""
        self.disconnect()
