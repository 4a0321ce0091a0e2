"""Card images on disk (card.md §Persistence): a damaged or impossible image is refused
with :class:`CardImageError` at load time, never half-used by the card OS."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.image import CardImage, CardImageError
from tests.card.conftest import make_card


def _set(path: tuple, value):
    def mutate(data: dict) -> None:
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


MUTATIONS = {
    "not an object": lambda d: d.clear() or d.update({"x": []}),
    "unknown algorithm": _set(("algorithm",), "rsa"),
    "PIN record null": _set(("pins", "ssse"), None),
    "records a list": _set(("records",), []),
    "record not hex": _set(("records", "EF05", "1"), "zz"),
    "short key": _set(("ssse_keys",), {"01": "00"}),
    "key id not hex": _set(("ssse_keys",), {"ZZ": "00" * 16}),
    "ATC not a number": _set(("emv", "atc"), "x"),
    "ATC beyond 2 bytes": _set(("emv", "atc"), 0x10000),
    "negative ATC": _set(("emv", "atc"), -1),
    "last online ATC beyond ATC": _set(("emv", "last_online_atc"), 5),
    "negative try counter": _set(("pins", "ssse", "tries_left"), -5),
    "try counter above limit": _set(("pins", "bank", "tries_left"), 4),
    "limit beyond a nibble": lambda d: d["pins"]["ssse"].update(limit=99, tries_left=99),
    "zero hash iterations": _set(("pins", "ssse", "iterations"), 0),
    "absurd hash iterations": _set(("pins", "ssse", "iterations"), 10**12),
    "truncated PIN hash": _set(("pins", "ssse", "hash"), "00"),
    "short EMV key": _set(("emv", "keys"), {"ac": "00"}),
    "unknown lifecycle": _set(("emv", "lifecycle"), 5),
    "bank code null": _set(("bank_code",), None),
    "record number 300": _set(("records", "EF05"), {"300": "0101"}),
    "unknown record file": _set(("records", "EF99"), {"1": "0101"}),
    "record number not a number": _set(("records", "EF05"), {"x": "00"}),
    "card factor short": _set(("card_factor",), "0102"),
    "region not digits": _set(("region",), "abcdef"),
}


@pytest.fixture(scope="module")
def good_image(keystore, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("img") / "card.json"
    make_card(keystore, Algorithm.SM4, path)
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_impossible_images_are_refused(good_image: dict, tmp_path: Path, name: str) -> None:
    data = json.loads(json.dumps(good_image))
    MUTATIONS[name](data)
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CardImageError):
        VirtualCard.open(path)


def test_the_unmutated_image_loads(good_image: dict, tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text(json.dumps(good_image))
    card = VirtualCard.open(path, strict=True)
    assert card.transmit(bytes.fromhex("80CA9F3600")) == bytes.fromhex(
        "9F3602000090 00".replace(" ", "")
    )


def test_round_trip_is_exact(good_image: dict) -> None:
    assert CardImage.from_json(good_image).to_json() == good_image


def test_special_files_are_not_card_images(tmp_path: Path) -> None:
    """/dev/zero would be read forever and a FIFO would block: both refused up front."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * ((1 << 20) + 1))
    for path in (Path("/dev/zero"), fifo, tmp_path, big):
        with pytest.raises(CardImageError):
            CardImage.load(path)
