"""The card slot in front of each desk and bank counter: in-process or a real PC/SC reader.

A patient hands the card over, the clerk puts it in the desk's reader, the
terminal flow talks to it, the card comes out. ``inprocess`` keeps the card
(``card.icc.VirtualCard`` on its image file) in this process behind
``terminal.readers.inprocess.InProcessReader``; ``pcsc`` inserts the card image
into the desk's own virtual reader of the rig (``rig``: pcscd + vpcd) and
the terminal talks to it through pyscard like to any reader.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from terminal.readers.base import CardConnection


class Slot(Protocol):
    name: str

    def session(self, image: Path) -> contextlib.AbstractContextManager[CardConnection]: ...

    def close(self) -> None: ...


class InProcessSlot:
    """A card reader in this process: the card image is loaded, inserted, used, removed."""

    def __init__(self, name: str) -> None:
        from terminal.readers.inprocess import InProcessReader

        self.name = name
        self.reader = InProcessReader(name=name)

    @contextlib.contextmanager
    def session(self, image: Path) -> Iterator[CardConnection]:
        from card.icc import VirtualCard

        card = VirtualCard.open(image)
        self.reader.insert(card)
        try:
            with self.reader.connect() as connection:
                yield connection
        finally:
            self.reader.remove()

    def close(self) -> None:
        self.reader.remove()


class PcscSlot:
    """A desk's PC/SC reader: the card goes into a free vpcd reader of the rig for the visit.

    The card is served by a :class:`card.vpcd.VpcdConnector` thread of this
    process (``rig.insert.insert_in_thread``, which claims a free rig reader, so
    concurrent desks and other processes never share a slot); the terminal
    reaches it only through pcscd and pyscard, like any reader.

    The visit opens the ``PcscReader`` of whichever rig reader it was given and
    closes it at the end, releasing its PC/SC context: nothing outlives the
    visit (one SCardEstablishContext/SCardReleaseContext pair a visit costs
    well under a millisecond against the visit's seconds).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.readers_used: set[str] = set()

    @contextlib.contextmanager
    def session(self, image: Path) -> Iterator[CardConnection]:
        from card.icc import VirtualCard
        from rig.insert import insert_in_thread
        from terminal.readers.pcsc import PcscReader

        inserted = insert_in_thread(VirtualCard.open(image))
        try:
            self.readers_used.add(inserted.reader.name)
            with PcscReader(inserted.reader.name) as reader:
                reader.wait_for_card(timeout=10.0)
                with reader.connect() as connection:
                    yield connection
        finally:
            inserted.remove()

    def close(self) -> None:
        """Nothing held between visits: each visit removes its card."""


def pcsc_slots(names: list[str], concurrent: int) -> dict[str, PcscSlot]:
    """PC/SC slots, with pcscd running and at least ``concurrent`` rig readers."""
    from rig.conf import MAX_READERS
    from rig.pcscd import ensure

    ensure(max(1, min(concurrent, MAX_READERS)))
    return {name: PcscSlot(name) for name in names}


def inprocess_slots(names: list[str]) -> dict[str, InProcessSlot]:
    return {name: InProcessSlot(name) for name in names}
