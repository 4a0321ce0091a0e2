"""The command shapes of a real 3rd-generation SM4 card's log answer with that card's lengths (#12).

gdgly/SI_3rdCard ``docs/EgAPP-20180611.log`` (:mod:`tests.card.replay.si_3rdcard_eglog`,
which holds the exchanges verbatim with their line numbers). The real card was
read contactless, so its answers came at once; a contact T=0 card (ours)
answers a command that has data to return but carries no Le with ``61xx``, xx
being exactly the real card's length, and GET RESPONSE returns it (card.md
§Commands, case-4 behaviour). Commands carrying challenges or cryptograms are
rebuilt with this card's challenges and keys (card.md "What real cards do").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.keystore import KeyStore
from tests.card.independent import block_cipher
from tests.card.replay import cards, si_3rdcard_eglog
from tests.card.replay.si_3rdcard_eglog import LOG, REAL_FCI, SELECT_SSSE, VERIFY_LOG


def _card(tmp_path: Path, keystore: KeyStore, algorithm: Algorithm) -> VirtualCard:
    card = VirtualCard.open(cards.issue(tmp_path / "card.json", keystore, algorithm), strict=True)
    card.power_on()
    return card


def _split(rapdu: bytes) -> tuple[bytes, int]:
    return rapdu[:-2], int.from_bytes(rapdu[-2:], "big")


def _has_le(apdu: bytes) -> bool:
    """ISO/IEC 7816-4 §5.1: case 2 (5 bytes) or case 4 (Lc + 6 bytes)."""
    return len(apdu) == 5 or (len(apdu) > 5 and len(apdu) == 6 + apdu[4])


class Session:
    """Our card driven with the log's commands; crypto fields rebuilt for this card."""

    def __init__(self, card: VirtualCard, algorithm: Algorithm, keys: dict[int, bytes]) -> None:
        self.card = card
        self.algorithm = algorithm
        self.keys = keys
        self.challenges: list[bytes] = []

    def command(self, logged: str) -> bytes:
        apdu = bytes.fromhex(logged)
        size = self.algorithm.block_size
        if apdu[1] == 0x88:  # line 309: the last two challenges, newest first, one block
            data = (self.challenges[-1] + self.challenges[-2])[:size]
            return apdu[:4] + bytes([len(data)]) + data
        if apdu[1] == 0x82:  # line 353: ENC(K0A, last challenge zero-padded to a block)
            block = self.challenges[-1].ljust(size, b"\x00")
            cryptogram = block_cipher(self.algorithm.value)(self.keys[0x0A], block)
            return apdu[:4] + bytes([size]) + cryptogram
        return apdu

    def send(self, apdu: bytes) -> tuple[bytes, int, int | None]:
        """(data, SW, first SW if it was 61xx) after fetching pending data as a T=0 reader."""
        data, sw = _split(self.card.transmit(apdu))
        first = None
        if sw >> 8 == 0x61:
            first = sw
            data, sw = _split(self.card.transmit(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF])))
        if apdu[1] == 0x84 and sw == 0x9000:
            self.challenges.append(data)
        return data, sw, first


@pytest.mark.parametrize("session_log", [LOG, VERIFY_LOG], ids=["read", "verify"])
@pytest.mark.parametrize("algorithm", [Algorithm.SM4, Algorithm.TDES], ids=["sm4", "3des"])
def test_the_logs_commands_answer_with_the_real_cards_lengths(
    tmp_path: Path, keystore: KeyStore, algorithm: Algorithm, session_log
) -> None:
    session = Session(
        _card(tmp_path, keystore, algorithm), algorithm, cards.card_keys(keystore, algorithm)
    )
    for line, logged, answer in session_log:
        apdu = session.command(logged)
        real_data, real_sw = _split(bytes.fromhex(answer))
        data, sw, first = session.send(apdu)
        where = f"{si_3rdcard_eglog.PATH}:{line} {apdu.hex().upper()}"
        assert (len(data), sw) == (len(real_data), real_sw), where
        if real_data and not _has_le(apdu):
            assert first == 0x6100 | len(real_data), (
                f"{where}: a T=0 card answers 61{len(real_data):02X}"
            )
        else:
            assert first is None, where
        if apdu[1] == 0xB2:  # the record's tag and length are the real card's
            assert data[:2] == real_data[:2], where


@pytest.mark.parametrize("algorithm", [Algorithm.SM4, Algorithm.TDES], ids=["sm4", "3des"])
def test_select_ssse_answers_the_real_cards_fci(
    tmp_path: Path, keystore: KeyStore, algorithm: Algorithm
) -> None:
    """card.md "What real cards do": ``6F 1C 84 0F <AID> A5 09 88 01 1E 9F 0C 03 86 01 gg``,
    ``gg`` = ``03`` on the SM4 card of the log (line 191), ``01`` on 3DES cards; without Le
    the card answers ``611E``."""
    card = _card(tmp_path, keystore, algorithm)
    assert card.transmit(bytes.fromhex(SELECT_SSSE)) == bytes.fromhex("611E")
    fci = card.transmit(bytes.fromhex("00C000001E"))
    indicator = b"\x03" if algorithm is Algorithm.SM4 else b"\x01"
    assert fci == REAL_FCI[:-1] + indicator + b"\x90\x00"
    assert card.transmit(bytes.fromhex(SELECT_SSSE + "00")) == fci


@pytest.mark.parametrize("algorithm", [Algorithm.SM4, Algorithm.TDES], ids=["sm4", "3des"])
@pytest.mark.parametrize("le", [0x04, 0x08, 0x10])
def test_get_challenge_answers_le_04_08_10_on_every_card(
    tmp_path: Path, keystore: KeyStore, algorithm: Algorithm, le: int
) -> None:
    """Lines 289-335: ``0084000008`` on an SM4 card → 8 bytes + ``9000`` (card.md)."""
    card = _card(tmp_path, keystore, algorithm)
    card.transmit(bytes.fromhex(SELECT_SSSE + "00"))
    data, sw = _split(card.transmit(bytes([0x00, 0x84, 0x00, 0x00, le])))
    assert (len(data), sw) == (le, 0x9000)


@pytest.mark.parametrize("algorithm", [Algorithm.SM4, Algorithm.TDES], ids=["sm4", "3des"])
def test_internal_authenticate_p2_00_answers_with_the_internal_auth_key(
    tmp_path: Path, keystore: KeyStore, algorithm: Algorithm
) -> None:
    """Line 309-315: P2 ``00`` is key ``01``; a 16-byte input on an SM4 card answers 8 bytes,
    the left half of SM4(K01, input) (card.md "What real cards do")."""
    card = _card(tmp_path, keystore, algorithm)
    keys = cards.card_keys(keystore, algorithm)
    card.transmit(bytes.fromhex(SELECT_SSSE + "00"))
    data = bytes(range(0x30, 0x30 + algorithm.block_size))
    first = card.transmit(bytes([0x00, 0x88, 0x00, 0x00, len(data)]) + data)
    assert first == bytes.fromhex("6108")
    answer, sw = _split(card.transmit(bytes.fromhex("00C0000008")))
    assert sw == 0x9000
    assert answer == block_cipher(algorithm.value)(keys[0x01], data)[:8]


@pytest.mark.parametrize("algorithm", [Algorithm.SM4, Algorithm.TDES], ids=["sm4", "3des"])
@pytest.mark.parametrize("le", [0x04, 0x08])
def test_external_authenticate_0a_uses_the_challenge_padded_to_a_block(
    tmp_path: Path, keystore: KeyStore, algorithm: Algorithm, le: int
) -> None:
    """Line 353-359: EXTERNAL AUTHENTICATE with the terminal authentication key ``0A`` after an
    8-byte challenge on an SM4 card; the challenge is zero-padded to one block (card.md)."""
    card = _card(tmp_path, keystore, algorithm)
    key = cards.card_keys(keystore, algorithm)[0x0A]
    size = algorithm.block_size
    encrypt = block_cipher(algorithm.value)
    card.transmit(bytes.fromhex(SELECT_SSSE + "00"))
    for good in (False, True):
        challenge, sw = _split(card.transmit(bytes([0x00, 0x84, 0x00, 0x00, le])))
        assert sw == 0x9000
        cryptogram = encrypt(key, challenge.ljust(size, b"\x00"))
        if not good:
            cryptogram = bytes([cryptogram[0] ^ 0x01]) + cryptogram[1:]
        answer = card.transmit(bytes([0x00, 0x82, 0x00, 0x0A, size]) + cryptogram)
        assert answer == (bytes.fromhex("9000") if good else bytes.fromhex("6300"))
