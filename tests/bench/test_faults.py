"""The fault layer (card/faults.py), the reader log's masking and card profiles, in process.

Through pcscd the same faults are tested in ``test_bench_api.py``.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest

from card.faults import Fault, FaultError, FaultLayer
from card.icc import VirtualCard
from card.image import CardImage
from card.keystore import KeyStore
from card.layout import SSSE_AID
from rig.bench.log import ReaderLog, mask_command
from rig.bench.profiles import Profile, ProfileError

SELECT_SSSE = bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_AID)]) + SSSE_AID
VERIFY_RIGHT = bytes.fromhex("0020000003123456")
VERIFY_WRONG = bytes.fromhex("0020000003654321")


@pytest.fixture(scope="module")
def keystore() -> KeyStore:
    return KeyStore.generate()


@pytest.fixture
def image(tmp_path: Path, keystore: KeyStore) -> Path:
    path = tmp_path / "card.json"
    Profile().make(path, keystore)
    return path


class Recorder:
    def __init__(self, layer: FaultLayer) -> None:
        self.exchanges: list[dict[str, object]] = []
        self.drops: list[str] = []
        self.pulls: list[str] = []
        layer.on_apdu = self.exchanges.append
        layer.drop = self.drops.append
        layer.pull = self.pulls.append


def _layer(image: Path) -> tuple[FaultLayer, Recorder]:
    layer = FaultLayer(VirtualCard.open(image))
    return layer, Recorder(layer)


def tries(image: Path) -> int:
    return CardImage.load(image).ssse_pin_tries_left


def test_no_fault_passes_everything(image: Path) -> None:
    layer, seen = _layer(image)
    assert layer.transmit(SELECT_SSSE)[-2:] in (b"\x90\x00", b"\x61\x1e")
    assert layer.transmit(VERIFY_RIGHT) == b"\x90\x00"
    assert [e["fault"] for e in seen.exchanges] == [None, None]


def test_delay_answers_late(image: Path) -> None:
    layer, seen = _layer(image)
    layer.add(Fault("delay", ms=150))
    started = time.perf_counter()
    layer.transmit(SELECT_SSSE)
    assert time.perf_counter() - started >= 0.15
    assert seen.exchanges[0]["fault"] == "delay"


def test_sw_answers_for_the_card_on_matching_commands_only(image: Path) -> None:
    layer, _ = _layer(image)
    layer.add(Fault("sw", match=bytes.fromhex("0020"), sw=bytes.fromhex("6A82"), count=1))
    layer.transmit(SELECT_SSSE)
    assert layer.transmit(VERIFY_WRONG) == bytes.fromhex("6A82")
    assert tries(image) == 3  # the wrong PIN never reached the card
    assert layer.faults() == []  # count 1: spent
    assert layer.transmit(VERIFY_WRONG) == bytes.fromhex("63C2")


def test_torn_verify_with_the_right_pin_costs_a_try(image: Path) -> None:
    layer, seen = _layer(image)
    layer.add(Fault("tear", match=bytes.fromhex("0020")))
    layer.transmit(SELECT_SSSE)
    layer.transmit(VERIFY_RIGHT)
    assert seen.pulls == ["tear"]
    assert seen.exchanges[-1]["response"] is None  # the answer never left
    assert tries(image) == 2  # decrement written, the restore cut (card.md anti-tearing)
    again = FaultLayer(VirtualCard.open(image))
    again.transmit(SELECT_SSSE)
    assert again.transmit(VERIFY_RIGHT) == b"\x90\x00"
    assert tries(image) == 3


def test_tear_after_n_counts_matching_apdus(image: Path) -> None:
    layer, seen = _layer(image)
    layer.add(Fault("tear", after=3))
    layer.transmit(SELECT_SSSE)
    layer.transmit(VERIFY_WRONG)
    assert seen.pulls == []
    layer.transmit(VERIFY_WRONG)
    assert seen.pulls == ["tear"]
    assert tries(image) == 1  # a torn wrong VERIFY still costs its try


def test_remove_pulls_the_card_before_the_command_reaches_it(image: Path) -> None:
    layer, seen = _layer(image)
    layer.add(Fault("remove", match=bytes.fromhex("0020"), ms=50))
    layer.transmit(SELECT_SSSE)
    started = time.perf_counter()
    layer.transmit(VERIFY_WRONG)
    assert time.perf_counter() - started >= 0.05
    assert seen.pulls == ["remove"]
    assert tries(image) == 3


def test_mute_holds_until_cleared_then_drops(image: Path) -> None:
    layer, seen = _layer(image)
    layer.add(Fault("mute", after=2))
    layer.transmit(SELECT_SSSE)
    done = threading.Event()
    threading.Thread(target=lambda: (layer.transmit(VERIFY_RIGHT), done.set())).start()
    assert not done.wait(0.3)
    assert seen.drops == []
    assert layer.clear() == 1
    assert done.wait(2)
    assert seen.drops == ["mute"]


def test_mute_with_ms_gives_up_by_itself(image: Path) -> None:
    layer, seen = _layer(image)
    layer.add(Fault("mute", ms=100))
    layer.transmit(SELECT_SSSE)
    assert seen.drops == ["mute"]


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "fire"},
        {"kind": "sw", "sw": "6A"},
        {"kind": "sw", "sw": "zz"},
        {"kind": "delay"},
        {"kind": "tear", "after": 0},
        {"kind": "delay", "ms": "100"},
        {"kind": "mute", "ms": 10**9},
        {"kind": "tear", "colour": "red"},
        [1, 2],
    ],
)
def test_bad_faults_are_refused(data: object) -> None:
    with pytest.raises(FaultError):
        Fault.from_json(data)


def test_log_masks_pins_and_keys(tmp_path: Path) -> None:
    assert mask_command(VERIFY_RIGHT) == "0020000003******"
    assert mask_command(bytes.fromhex("805E0100071234FF654321")) == "805E010007" + "*" * 12
    assert mask_command(bytes.fromhex("00B2010C00")) == "00B2010C00"
    log = ReaderLog(0, tmp_path)
    log.apdu({"command": VERIFY_RIGHT, "response": b"\x90\x00", "ms": 1.0, "fault": None})
    log.close()
    text = log.path.read_text()
    assert "123456" not in text and '"sw": "9000"' in text
    assert [e["seq"] for e in log.read()] == [1]


def test_profiles_make_the_states(tmp_path: Path, keystore: KeyStore) -> None:
    expired = Profile.from_json({"state": "expired", "algorithm": "3des"}).make(
        tmp_path / "e.json", keystore
    )
    assert expired.expiry is not None and expired.expiry < date.today()
    blocked = Profile.from_json({"state": "blocked_pin"}).make(tmp_path / "b.json", keystore)
    assert CardImage.load(blocked.path).ssse_pin_tries_left == 0
    card = VirtualCard.open(tmp_path / "b.json")
    card.transmit(SELECT_SSSE)
    assert card.transmit(VERIFY_RIGHT) == bytes.fromhex("6983")
    with pytest.raises(ProfileError) as lost:
        Profile.from_json({"state": "lost"})
    assert lost.value.code == "needs_service"
    for bad in ({"state": "stolen"}, {"expiry": "soon"}, {"algorithm": "aes"}, {"pin": "1"}):
        with pytest.raises(ProfileError):
            Profile.from_json(bad)
