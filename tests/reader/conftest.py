"""Card images and reader slots for the reader tests (real cards from ``card.issue``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from card.icc import VirtualCard
from card.issue import CardHolder, citizen_id, new_card
from card.keystore import KeyStore
from card.vpcd import VpcdConnector
from rig import claims
from terminal.readers.base import Reader
from terminal.readers.inprocess import InProcessReader

HOLDERS = [("张三", "1"), ("李四", "1"), ("王芳", "2"), ("赵敏", "2")]


@pytest.fixture(scope="session")
def reader_keystore() -> KeyStore:
    return KeyStore.generate()


@pytest.fixture
def issue_card(tmp_path: Path, reader_keystore: KeyStore) -> Callable[..., Path]:
    """``issue_card(card_number=..., name=...) -> image path`` (a fully personalised card)."""
    counter = itertools.count(1)

    def make(card_number: str | None = None, name: str | None = None) -> Path:
        n = next(counter)
        holder_name, sex = HOLDERS[(n - 1) % len(HOLDERS)]
        holder = CardHolder(
            name=name or holder_name,
            ssn=citizen_id("430100", date(1980, 1, n % 28 + 1), n, sex),
            sex=sex,
        )
        path = tmp_path / f"card{n}.json"
        new_card(
            path,
            holder,
            keystore=reader_keystore,
            card_number=card_number or f"X{n:08d}",
        )
        return path

    return make


class Slot:
    """One reader slot under test, whatever the implementation."""

    reader: Reader

    def insert(self, image: Path) -> None:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.remove()


class InProcessSlot(Slot):
    def __init__(self) -> None:
        self.reader = InProcessReader(name="in-process test slot")

    def insert(self, image: Path) -> None:
        self.reader.insert(VirtualCard.open(image))

    def remove(self) -> None:
        self.reader.remove()


class PcscSlot(Slot):
    """A claimed rig reader; the card goes in through a connector thread."""

    def __init__(self) -> None:
        from terminal.readers.pcsc import PcscReader

        self.claim = claims.claim()
        self.reader = PcscReader(self.claim.reader.name)
        self.connector: VpcdConnector | None = None

    def insert(self, image: Path) -> None:
        self.connector = VpcdConnector(VirtualCard.open(image), port=self.claim.reader.port)
        self.connector.start()

    def remove(self) -> None:
        connector, self.connector = self.connector, None
        if connector is not None:
            connector.stop()

    def close(self) -> None:
        self.remove()
        self.reader.close()
        self.claim.release()


@pytest.fixture(params=["inprocess", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def slot(request: pytest.FixtureRequest) -> Iterator[Slot]:
    """The same tests run against the in-process reader and a real PC/SC reader."""
    if request.param == "pcsc":
        request.getfixturevalue("pcsc_rig")
        made: Slot = PcscSlot()
    else:
        made = InProcessSlot()
    try:
        yield made
    finally:
        made.close()
