"""Known-answer tests for diversification and MACs, both algorithms (card.md §Keys).

Expected values come from published vectors (DES, SM4) and from the
independent implementations in ``independent.py``, never from card.crypto.
"""

from __future__ import annotations

import pytest

from card import crypto
from card.crypto import Algorithm
from card.keystore import KEY_INTERNAL_AUTH, KEY_TRANSACTION
from tests.card import independent as ref

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
FACTOR = bytes.fromhex("0102030405060708")


def test_published_block_vectors() -> None:
    # GB/T 32907-2016 Appendix A.1 (SM4); FIPS 81 / the classic "Now is t" DES vector.
    assert ref.sm4(KEY, KEY).hex().upper() == "681EDF34D206965E86B3E94F536E4246"
    assert crypto.encrypt_ecb(Algorithm.SM4, KEY, KEY).hex().upper() == (
        "681EDF34D206965E86B3E94F536E4246"
    )
    des_key = bytes.fromhex("0123456789ABCDEF")
    assert ref.des(des_key, b"Now is t").hex().upper() == "3FA40E8A984D4815"
    # a double-length key with K1 == K2 is single DES
    assert crypto.encrypt_ecb(Algorithm.TDES, des_key * 2, b"Now is t").hex().upper() == (
        "3FA40E8A984D4815"
    )


@pytest.mark.parametrize("name", ["3des", "sm4"])
def test_diversification_matches_spec(name: str) -> None:
    alg = Algorithm(name)
    expected_city = ref.div(name, KEY, b"371700sx")
    assert crypto.city_factor("371700") == b"371700sx"
    assert crypto.city_key(alg, KEY, "371700") == expected_city
    assert crypto.card_key(alg, KEY, "371700", FACTOR) == ref.div(name, expected_city, FACTOR)
    # the two halves really are F and ~F for 3DES
    if name == "3des":
        out = crypto.diversify(alg, KEY, FACTOR)
        assert out[:8] == ref.tdes(KEY, FACTOR)
        assert out[8:] == ref.tdes(KEY, bytes.fromhex("FEFDFCFBFAF9F8F7"))


def test_diversification_fixed_answers() -> None:
    """Frozen answers (computed once with independent.py) guard against drift in both."""
    assert ref.div("3des", KEY, FACTOR).hex().upper() == FROZEN["div3des"]
    assert ref.div("sm4", KEY, FACTOR).hex().upper() == FROZEN["divsm4"]
    assert crypto.diversify(Algorithm.TDES, KEY, FACTOR).hex().upper() == FROZEN["div3des"]
    assert crypto.diversify(Algorithm.SM4, KEY, FACTOR).hex().upper() == FROZEN["divsm4"]


@pytest.mark.parametrize("name", ["3des", "sm4"])
@pytest.mark.parametrize("length", [0, 5, 7, 8, 15, 16, 17, 40])
def test_ssse_mac(name: str, length: int) -> None:
    alg = Algorithm(name)
    data = bytes(range(0x30, 0x30 + length))
    challenge = bytes.fromhex("1122334455667788" + ("99AABBCCDDEEFF00" if name == "sm4" else ""))
    expected = ref.cbc_mac(name, KEY, data, challenge)[:4]
    assert crypto.ssse_mac(alg, KEY, data, challenge) == expected
    # IV shorter than a block is zero-padded
    assert (
        crypto.ssse_mac(alg, KEY, data, challenge[:4])
        == ref.cbc_mac(name, KEY, data, challenge[:4])[:4]
    )


@pytest.mark.parametrize("length", [0, 3, 8, 13, 29])
def test_retail_mac(length: int) -> None:
    data = bytes(range(length))
    assert crypto.retail_mac(KEY, data) == ref.retail_mac(KEY, data)


def test_emv_option_a_and_session_key() -> None:
    pan = "6222020000000000018"
    assert crypto.emv_udk(KEY, pan, 1) == ref.udk(KEY, pan, 1)
    udk = ref.udk(KEY, pan, 1)
    for atc in (0, 1, 0x1234, 0xFFFF):
        assert crypto.emv_session_key(udk, atc) == ref.session_key(udk, atc)


def test_card_answers_with_independently_diversified_keys(card, keystore, algorithm) -> None:
    """The card's INTERNAL AUTHENTICATE equals ENC(DIV(DIV(master, city), factor), data)."""
    name = algorithm.value
    size = algorithm.block_size
    master01 = keystore.ssse[algorithm][KEY_INTERNAL_AUTH]
    master02 = keystore.ssse[algorithm][KEY_TRANSACTION]
    factor = card.image.card_factor
    data = bytes(range(size))
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
    response = card.transmit(bytes((0, 0x88, 0, 1, size)) + data + b"\x00")
    key01 = ref.card_key(name, master01, "430100", factor)
    assert response == ref.block_cipher(name)(key01, data) + b"\x90\x00"
    card.transmit(bytes.fromhex("0020000003123456"))
    response = card.transmit(bytes((0, 0x88, 0, 2, size)) + data + b"\x00")
    key02 = ref.card_key(name, master02, "430100", factor)
    assert response == ref.block_cipher(name)(key02, data) + b"\x90\x00"
    # the image holds exactly the card's own diversified keys, never a master key
    assert card.image.ssse_keys[KEY_INTERNAL_AUTH] == key01
    masters = set(keystore.ssse[algorithm].values())
    assert not masters & set(card.image.ssse_keys.values())


FROZEN = {
    "div3des": "A85CEB8CDADFF80836B1D1C24CE030D7",
    "divsm4": "5F28A855492341D8BFE0F414481990E1",
}


def test_mac_answers_computed_with_openssl() -> None:
    """Frozen answers computed with the ``openssl enc`` command line (not Python):
    ``des-ede-cbc``/``sm4-cbc`` with IV = challenge over the padded data (last block),
    and the retail MAC as single-DES CBC then D(K2), E(K1) on the last block."""
    tdes_mac = crypto.ssse_mac(
        Algorithm.TDES, KEY, bytes.fromhex("3031323334"), bytes.fromhex("1122334455667788")
    )
    assert tdes_mac.hex().upper() == "92A4173B"
    sm4_mac = crypto.ssse_mac(
        Algorithm.SM4,
        KEY,
        bytes(range(0x30, 0x41)),
        bytes.fromhex("112233445566778899AABBCCDDEEFF00"),
    )
    assert sm4_mac.hex().upper() == "B8937D18"
    assert crypto.retail_mac(KEY, b"\x00\x01\x02").hex().upper() == "74A28DF9CA25B5CB"
    # and the diversification halves, openssl des-ede-ecb / sm4-ecb of F and ~F
    assert FROZEN["div3des"] == "A85CEB8CDADFF808" + "36B1D1C24CE030D7"
