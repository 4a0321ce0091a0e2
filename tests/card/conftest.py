"""Fixtures of the card tests: one generated key store, cards on disk or in memory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import CardHolder, new_blank_card, new_card
from card.keystore import KeyStore

HOLDER = CardHolder(
    name="张三",
    ssn="430100198005171119",
    sex="1",
    nation="01",
    latin_name="ZHANG/SAN",
)
FACTOR = bytes.fromhex("0102030405060708")
PAN = "6222020000000000018"


@pytest.fixture(scope="session")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("ks") / "keystore.json")


@pytest.fixture(scope="session")
def keystore_path(keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ks2") / "keystore.json"
    keystore.save(path)
    return path


@pytest.fixture(params=[Algorithm.TDES, Algorithm.SM4], ids=["3des", "sm4"])
def algorithm(request: pytest.FixtureRequest) -> Algorithm:
    return request.param


def make_card(keystore: KeyStore, algorithm: Algorithm, path: Path | None, **kw) -> VirtualCard:
    defaults = {
        "keystore": keystore,
        "algorithm": algorithm,
        "region": "430100",
        "card_number": "X00000019",
        "card_factor": FACTOR,
        "issue_date": date(2024, 1, 15),
        "expiry_date": date(2034, 1, 15),
        "psn_no": "43010000000000012345",
        "pan": PAN,
        "pan_sequence": 1,
    }
    defaults.update(kw)
    holder = defaults.pop("holder", HOLDER)
    new_card(path, holder, **defaults)
    if path is None:
        raise ValueError("use make_memory_card for in-memory cards")
    card = VirtualCard.open(path, strict=True)
    card.power_on()
    return card


@pytest.fixture
def card(keystore: KeyStore, algorithm: Algorithm, tmp_path: Path) -> VirtualCard:
    """A personalised card on disk, powered on, strict (bugs raise)."""
    return make_card(keystore, algorithm, tmp_path / "card.json")


@pytest.fixture
def blank_card(keystore: KeyStore, algorithm: Algorithm, tmp_path: Path) -> VirtualCard:
    path = tmp_path / "blank.json"
    new_blank_card(
        path, keystore=keystore, algorithm=algorithm, region="430100", card_factor=FACTOR
    )
    card = VirtualCard.open(path, strict=True)
    card.power_on()
    return card


class Terminal:
    """A tiny test-side terminal: hex in, (data, sw) out."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card

    def __call__(self, apdu: str | bytes) -> tuple[bytes, int]:
        raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        response = self.card.transmit(raw)
        return response[:-2], int.from_bytes(response[-2:], "big")

    def ok(self, apdu: str | bytes) -> bytes:
        data, sw = self(apdu)
        assert sw == 0x9000, f"{apdu!r} -> {sw:04X}"
        return data


@pytest.fixture
def term(card: VirtualCard) -> Terminal:
    return Terminal(card)
