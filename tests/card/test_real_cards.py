"""What real cards do (card.md §What real cards do), each answer recomputed independently."""

from __future__ import annotations

import json

import pytest

from card.keystore import SSSE_KEY_IDS, KeyStore
from tests.card import independent as ref
from tests.card.conftest import FACTOR, Terminal

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"
SELECT_ADF = "00A4040008A00000033301010100"
SELECT_MF = "00A4000C023F00"
RIGHT = "0020000003123456"


def key(keystore, algorithm, kid: int) -> bytes:
    return ref.card_key(algorithm.value, keystore.ssse[algorithm][kid], "430100", FACTOR)


def cryptogram(keystore, algorithm, kid: int, challenge: bytes) -> bytes:
    """ENC(Kkid, challenge zero-padded to one block)."""
    block = challenge.ljust(algorithm.block_size, b"\x00")[: algorithm.block_size]
    return ref.block_cipher(algorithm.value)(key(keystore, algorithm, kid), block)


@pytest.mark.parametrize("le", [4, 8, 16])
def test_external_authenticate_over_a_padded_challenge(term: Terminal, keystore, algorithm, le):
    n = algorithm.block_size
    term.ok(SELECT_SSSE)
    for kid in (0x0A, 0x07, 0x04):
        chal = term.ok(f"00840000{le:02X}")
        assert len(chal) == le
        answer = cryptogram(keystore, algorithm, kid, chal)
        assert term(bytes((0, 0x82, 0, kid, n)) + answer) == (b"", 0x9000)
    # the unpadded challenge as a block is not what the card expects (unless it is a block)
    chal = term.ok("0084000004")
    wrong = ref.block_cipher(algorithm.value)(key(keystore, algorithm, 0x0A), chal * (n // 4))
    assert term(bytes((0, 0x82, 0, 0x0A, n)) + wrong) == (b"", 0x6300)


def test_real_sm4_trace_shapes(term: Terminal, keystore, algorithm) -> None:
    """gdgly/SI_3rdCard docs/EgAPP-20180611.log: GET CHALLENGE 08 twice, INTERNAL AUTHENTICATE
    P2 00 over 16 bytes answering 8, GET CHALLENGE 08, EXTERNAL AUTHENTICATE 0A of a block."""
    n = algorithm.block_size
    term.ok(SELECT_SSSE)
    first, second = term.ok("0084000008"), term.ok("0084000008")
    data = (second + first)[:n]
    answer = term.ok(bytes((0, 0x88, 0, 0, n)) + data + b"\x00")
    full = ref.block_cipher(algorithm.value)(key(keystore, algorithm, 0x01), data)
    assert answer == full[:8]  # SM4: the left half; 3DES: the whole block (8 bytes)
    assert term(bytes((0, 0x88, 0, 0, n)) + data + b"\x10") == (b"", 0x6C08)
    assert term.ok(bytes((0, 0x88, 0, 1, n)) + data + b"\x00") == full  # P2 01: whole block
    chal = term.ok("0084000008")
    term.ok(bytes((0, 0x82, 0, 0x0A, n)) + cryptogram(keystore, algorithm, 0x0A, chal))


def test_ssse_fci_names_the_algorithm(term: Terminal, algorithm) -> None:
    fci = term.ok(SELECT_SSSE)
    assert len(fci) == 30
    assert fci[-3:] == bytes((0x86, 0x01, 0x03 if algorithm.block_size == 16 else 0x01))


def test_pin_verified_at_the_mf_does_not_survive_the_bank_application(
    term: Terminal, algorithm
) -> None:
    n = algorithm.block_size
    proof = f"00880002{n:02X}{'00' * n}00"
    term.ok(SELECT_MF)
    term.ok(RIGHT)  # the MF: the SSSE's PIN
    term.ok(SELECT_ADF)
    term.ok(SELECT_SSSE)
    assert term(proof) == (b"", 0x6982)
    # a trip through the MF clears it too
    term.ok(RIGHT)
    assert len(term.ok(proof)) == n
    term.ok(SELECT_MF)
    term.ok(SELECT_SSSE)
    assert term(proof) == (b"", 0x6982)
    # moving inside the SSSE keeps it
    term.ok(RIGHT)
    term.ok("00A4000C02EF05")
    term.ok("00A4000C02DF04")
    assert len(term.ok(proof)) == n


def test_external_authentication_cleared_by_a_trip_through_the_mf(
    term: Terminal, keystore, algorithm
) -> None:
    n = algorithm.block_size
    term.ok(SELECT_SSSE)
    chal = term.ok("0084000008")
    term.ok(bytes((0, 0x82, 0, 0x07, n)) + cryptogram(keystore, algorithm, 0x07, chal))
    term.ok("00A4000C02DF04")
    term.ok("00B2010400")
    term.ok(SELECT_MF)
    term.ok("00A4000C02DF04")
    assert term("00B2010400") == (b"", 0x6982)


def test_ef06_stays_free_to_read_before_terminal_authentication(term: Terminal) -> None:
    """The spec keeps EF06 free to read; terminals read it after EXTERNAL AUTHENTICATE 0A."""
    term.ok(SELECT_SSSE)
    assert term.ok("00B2013400")[:2] == b"\x08\x12"


def test_every_card_and_store_has_key_0a(card, tmp_path) -> None:
    assert 0x0A in card.image.ssse_keys
    # a key store written before key 0A existed gains it once, keeping every other key
    path = tmp_path / "old.json"
    store = KeyStore.generate()
    for keys in store.ssse.values():
        del keys[0x0A]
    store.save(path)
    before = json.loads(path.read_text())
    upgraded = KeyStore.load_or_create(path)
    for alg, keys in upgraded.ssse.items():
        assert set(keys) == set(SSSE_KEY_IDS)
        for kid, value in store.ssse[alg].items():
            assert keys[kid] == value
    assert KeyStore.load(path).ssse == upgraded.ssse
    assert before["banks"] == json.loads(path.read_text())["banks"]
    assert KeyStore.load_or_create(path).ssse == upgraded.ssse  # only once


def test_an_old_key_store_that_cannot_be_written_is_left_as_it_is(tmp_path, monkeypatch):
    """No key made up in memory only: a store that cannot take key 0A stays without it."""
    path = tmp_path / "old.json"
    store = KeyStore.generate()
    for keys in store.ssse.values():
        del keys[0x0A]
    store.save(path)

    def read_only(self, path, *, exclusive=False):
        raise PermissionError(13, "read-only file system", str(path))

    monkeypatch.setattr(KeyStore, "save", read_only)
    loaded = KeyStore.load_or_create(path)
    assert all(0x0A not in keys for keys in loaded.ssse.values())
    assert loaded.ssse == store.ssse
