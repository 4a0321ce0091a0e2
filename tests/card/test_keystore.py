"""The issuer key store (issue 3: generated on first use, mode 0600, path configurable)
and what a card image may hold (card.md §Keys: "a card image holds only its own
diversified keys"; PINs never in clear)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from card.crypto import Algorithm
from card.issue import new_blank_card, new_card
from card.keystore import SSSE_KEY_IDS, KeyStore, KeyStoreError, default_path
from tests.card import independent as ref
from tests.card.conftest import FACTOR, HOLDER


def test_generated_on_first_use_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keystore.json"
    assert not path.exists()
    first = KeyStore.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # every algorithm and key id of card.md §Keys, 16 bytes each, all different
    keys = [first.ssse[alg][kid] for alg in Algorithm for kid in SSSE_KEY_IDS]
    assert all(len(k) == 16 for k in keys) and len(set(keys)) == len(keys)
    assert {"102", "103", "104", "105", "301"} <= set(first.banks)
    # the second use loads the same keys instead of generating new ones
    again = KeyStore.load_or_create(path)
    assert again.ssse == first.ssse and again.banks == first.banks
    # an explicit save keeps the mode too
    os.chmod(path, 0o644)
    again.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name != "keystore.json"]  # no temp left


def test_path_configurable_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSCARD_KEYSTORE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSCARD_HOME", raising=False)
    assert default_path() == tmp_path / "home" / ".sscard" / "keystore.json"
    monkeypatch.setenv("SSCARD_HOME", str(tmp_path / "sh"))
    assert default_path() == tmp_path / "sh" / "keystore.json"
    monkeypatch.setenv("SSCARD_KEYSTORE", str(tmp_path / "explicit.json"))
    assert default_path() == tmp_path / "explicit.json"
    KeyStore.load_or_create()
    assert (tmp_path / "explicit.json").is_file()
    assert not (tmp_path / "sh").exists()


BAD_STORES = [
    "[]",
    "null",
    "{not json",
    '{"format": "other"}',
    '{"format": "sscard-keystore/1", "ssse": {"sm4": {"01": "zz"}}}',
    "\xff\xfe",
]


@pytest.mark.parametrize("content", BAD_STORES)
def test_bad_key_store_files_raise_keystore_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ks.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(KeyStoreError):
        KeyStore.load_or_create(path)


def test_unusable_paths_raise_keystore_error(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError):
        KeyStore.load_or_create(tmp_path)  # a directory
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KeyStoreError):
        KeyStore.load_or_create(blocker / "ks.json")  # parent is a file


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.value)
@pytest.mark.parametrize("blank", [False, True], ids=["personalised", "blank"])
def test_card_image_holds_no_master_key_and_no_clear_pin(
    tmp_path: Path, algorithm: Algorithm, blank: bool
) -> None:
    store = KeyStore.load_or_create(tmp_path / "ks.json")
    path = tmp_path / "card.json"
    if blank:
        new_blank_card(
            path, keystore=store, algorithm=algorithm, card_factor=FACTOR, ssse_pin="731904"
        )
    else:
        new_card(
            path,
            HOLDER,
            keystore=store,
            algorithm=algorithm,
            card_factor=FACTOR,
            ssse_pin="731904",
            bank_pin="864215",
            pan="6222020000000000018",
        )
    text = path.read_text().upper()
    masters = [k for keys in store.ssse.values() for k in keys.values()]
    masters += [k for b in store.banks.values() for k in (b.imk_ac, b.imk_smi, b.imk_smc)]
    city = [ref.div(a.value, k, b"430100sx") for a in Algorithm for k in store.ssse[a].values()]
    for secret in masters + city:
        assert secret.hex().upper() not in text
    for pin in ("731904", "864215", "123456"):
        assert pin not in text
    # what it does hold are exactly the card's own diversified keys
    data = json.loads(path.read_text())
    held = {int(k, 16): bytes.fromhex(v) for k, v in data["ssse_keys"].items()}
    for kid in SSSE_KEY_IDS:
        master = store.ssse[algorithm][kid]
        assert held[kid] == ref.card_key(algorithm.value, master, "430100", FACTOR)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
