"""PINs, keys and access rules (card.md §Commands, §Keys; settlement.md §Card-present proof)."""

from __future__ import annotations

import pytest

from card.crypto import Algorithm, encrypt_ecb, ssse_mac
from card.emv_script import pin_block
from card.icc import VirtualCard
from card.image import CardImage
from tests.card import independent as ref
from tests.card.conftest import FACTOR, Terminal

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"
SELECT_ADF = "00A4040008A00000033301010100"
RIGHT = "0020000003123456"
WRONG = "0020000003654321"


def challenge(term: Terminal, algorithm: Algorithm) -> bytes:
    return term.ok(f"00840000{algorithm.block_size:02X}")


def external_auth(term: Terminal, keystore, algorithm: Algorithm, kid: int) -> int:
    c = challenge(term, algorithm)
    key = keystore.card_key(algorithm, kid, "430100", FACTOR)
    return term(bytes((0, 0x82, 0, kid, len(c))) + encrypt_ecb(algorithm, key, c))[1]


def reset_retry_apdu(keystore, algorithm, chal: bytes, p1: int, new_pin: bytes = b"") -> bytes:
    key03 = keystore.card_key(algorithm, 0x03, "430100", FACTOR)
    lc = len(new_pin) + 4
    header = bytes((0x84, 0x2C, p1, 0x00, lc))
    return header + new_pin + ssse_mac(algorithm, key03, header + new_pin, chal)


def test_verify_lockout_and_persistence(term: Terminal, card: VirtualCard) -> None:
    term.ok(SELECT_SSSE)
    assert term("00200000") == (b"", 0x63C3)
    assert term(WRONG) == (b"", 0x63C2)
    assert term(WRONG) == (b"", 0x63C1)
    term.ok(RIGHT)  # a right PIN restores the counter
    assert term("00200000") == (b"", 0x9000)  # verified in this session
    assert term(WRONG) == (b"", 0x63C2)
    assert term("00200000") == (b"", 0x63C2)  # a wrong try revokes verification
    assert term(WRONG) == (b"", 0x63C1)
    assert term(WRONG) == (b"", 0x63C0)
    assert term(RIGHT) == (b"", 0x6983)  # blocked: even the right PIN
    assert term("00200000") == (b"", 0x6983)
    assert CardImage.load(card.image.path).ssse_pin_tries_left == 0
    card.power_off()
    card.power_on()
    term.ok(SELECT_SSSE)
    assert term(RIGHT) == (b"", 0x6983)  # blocked survives power cycles


def test_pin_formats(term: Terminal) -> None:
    term.ok(SELECT_SSSE)
    assert term("002000000112") == (b"", 0x6700)  # Lc 1
    assert term("00200000071234561234FFFF") == (b"", 0x6700)  # Lc 7
    assert term("00200000031234AB") == (b"", 0x63C2)  # not BCD: a wrong PIN
    term.ok(RIGHT)
    term.ok("0020000004123456FF")  # F-padded form of the same PIN
    assert term("00200100") == (b"", 0x6A86)
    assert term("00200081") == (b"", 0x6A88)


def test_unblock_with_mac(term: Terminal, card: VirtualCard, keystore, algorithm) -> None:
    term.ok(SELECT_SSSE)
    for _ in range(3):
        term(WRONG)
    assert term(RIGHT) == (b"", 0x6983)
    # no challenge yet
    assert term("842C030004" + "00000000") == (b"", 0x6985)
    # wrong MAC, then the challenge is used up
    challenge(term, algorithm)
    assert term("842C030004" + "00000000") == (b"", 0x6982)
    assert term("842C030004" + "00000000") == (b"", 0x6985)
    c = challenge(term, algorithm)
    term.ok(reset_retry_apdu(keystore, algorithm, c, 0x03))
    assert card.image.ssse_pin_tries_left == 3
    term.ok(RIGHT)  # the old PIN is back in force
    # set a new PIN and unblock
    for _ in range(3):
        term(WRONG)
    c = challenge(term, algorithm)
    term.ok(reset_retry_apdu(keystore, algorithm, c, 0x02, bytes.fromhex("888888")))
    assert term(RIGHT) == (b"", 0x63C2)
    term.ok("0020000003888888")
    assert term("842C010004" + "00000000") == (b"", 0x6A86)
    assert term("842C030005" + "0000000000") == (b"", 0x6700)


def test_change_pin(term: Terminal, card: VirtualCard) -> None:
    term.ok(SELECT_SSSE)
    assert term("805E010007" + "654321FF" + "111111") == (b"", 0x63C2)
    term.ok("805E010007" + "123456FF" + "111111")
    assert term(RIGHT) == (b"", 0x63C2)
    term.ok("0020000003111111")
    assert term("805E010006" + "111111" + "222222") == (b"", 0x6700)  # no FF separator
    assert term("805E020007" + "111111FF" + "222222") == (b"", 0x6A86)
    reopened = CardImage.load(card.image.path)
    assert "111111" not in reopened.path.read_text()  # PIN stored only as a salted hash
    assert reopened.ssse_pin.matches("111111")


def test_internal_auth_rules(term: Terminal, card: VirtualCard, algorithm) -> None:
    n = algorithm.block_size
    data = "00" * n
    term.ok(SELECT_SSSE)
    assert len(term.ok(f"00880001{n:02X}{data}00")) == n  # key 01: no PIN needed
    assert term(f"00880002{n:02X}{data}00") == (b"", 0x6982)  # key 02 needs the SSSE PIN
    term.ok(RIGHT)
    assert len(term.ok(f"00880002{n:02X}{data}00")) == n
    assert term(f"0088000204{'00' * 4}00") == (b"", 0x6700)
    assert term(f"0088000402{data[:4]}") == (b"", 0x6A88)
    assert term(f"0088000{4}{n:02X}{data}00") == (b"", 0x6A88)  # never encrypt with key 04
    assert term(f"0088000{7}{n:02X}{data}00") == (b"", 0x6A88)
    assert term(f"0088000{3}{n:02X}{data}00") == (b"", 0x6A88)
    assert term(f"0088000209{data}") == (b"", 0x6700) or n == 9
    assert term(f"0088000{2}{n:02X}{data}05") == (b"", 0x6C00 | n)
    # the PIN verification lasts until reset
    card.reset()
    term.ok(SELECT_SSSE)
    assert term(f"0088000{2}{n:02X}{data}00") == (b"", 0x6982)


def test_pin_separation(term: Terminal, card: VirtualCard, algorithm) -> None:
    n = algorithm.block_size
    # bank PIN verified does not open the SSSE
    term.ok(SELECT_ADF)
    term.ok(b"\x00\x20\x00\x80\x08" + pin_block("123456"))
    term.ok(SELECT_SSSE)
    assert term(f"0088000{2}{n:02X}{'00' * n}00") == (b"", 0x6982)
    # SSSE PIN verified, then the bank application: bank PIN not verified there
    term.ok(RIGHT)
    term.ok(SELECT_ADF)
    assert term("00200080") == (b"", 0x63C3)
    # a wrong bank PIN costs the bank counter only
    assert term(b"\x00\x20\x00\x80\x08" + pin_block("000000")) == (b"", 0x63C2)
    assert card.image.ssse_pin_tries_left == 3 and card.image.bank_pin_tries_left == 2
    # the SSSE PIN reference does not work inside the bank application and vice versa
    assert term(RIGHT) == (b"", 0x6985)
    term.ok(SELECT_SSSE)
    assert term(b"\x00\x20\x00\x80\x08" + pin_block("123456")) == (b"", 0x6985)
    # leaving the SSSE cleared its verification
    assert term("00200000") == (b"", 0x63C3)


def test_external_authenticate(term: Terminal, card: VirtualCard, keystore, algorithm) -> None:
    n = algorithm.block_size
    term.ok(SELECT_SSSE)
    assert term(f"00820007{n:02X}{'00' * n}") == (b"", 0x6985)  # no challenge
    challenge(term, algorithm)
    assert term(f"00820007{n:02X}{'00' * n}") == (b"", 0x6300)
    assert term(f"00820007{n:02X}{'00' * n}") == (b"", 0x6985)  # challenge used up
    assert term(f"00820001{n:02X}{'00' * n}") == (b"", 0x6A88)
    assert term(f"00820009{n:02X}{'00' * n}") == (b"", 0x6A88)
    assert term("0082000704" + "00" * 4) == (b"", 0x6700)
    assert external_auth(term, keystore, algorithm, 0x07) == 0x9000
    # a key of another card (other factor) is refused
    c = challenge(term, algorithm)
    other = keystore.card_key(algorithm, 0x07, "430100", bytes(8))
    assert term(bytes((0, 0x82, 0, 7, n)) + encrypt_ecb(algorithm, other, c)) == (b"", 0x6300)
    assert term("00A4000C02DF04") == (b"", 0x9000)
    assert term("00B2010400") == (b"", 0x6982)  # the failed attempt revoked key 07


def test_get_challenge(term: Terminal, algorithm) -> None:
    n = algorithm.block_size
    a, b = challenge(term, algorithm), challenge(term, algorithm)
    assert len(a) == n and a != b
    # card.md §What real cards do: Le 04, 08 and 10 on every card (an SM4 card answered
    # 6C10 to 0084000008 before; real SM4 cards answer 8 bytes)
    for le in (4, 8, 16):
        assert len(term.ok(f"00840000{le:02X}")) == le
    assert term("0084000005") == (b"", 0x6C00 | n)
    assert term("0084010008") == (b"", 0x6A86)
    assert len(term.ok("0084000000")) == n


def test_session_cleared_by_power_off_and_reset(
    term: Terminal, card: VirtualCard, keystore, algorithm
) -> None:
    for action in (card.reset, lambda: (card.power_off(), card.power_on())):
        term.ok(SELECT_SSSE)
        term.ok(RIGHT)
        assert external_auth(term, keystore, algorithm, 0x04) == 0x9000
        challenge(term, algorithm)
        action()
        term.ok(SELECT_SSSE)
        assert term("00200000") == (b"", 0x63C3)
        term.ok("00A4000C02EF05")
        assert term("00DC0104" + "03" + "020131") == (b"", 0x6982)
        n = algorithm.block_size
        assert term(f"00820004{n:02X}{'00' * n}") == (b"", 0x6985)  # no pending challenge


@pytest.mark.parametrize("kid", [0x04, 0x07])
def test_other_applications_refuse_ssse_keys(term: Terminal, algorithm, kid) -> None:
    term.ok(SELECT_ADF)
    n = algorithm.block_size
    assert term(f"0082000{kid:X}{n:02X}{'00' * n}") == (b"", 0x6985)


def test_reset_retry_counter_recomputed_independently(
    term: Terminal, card: VirtualCard, keystore, algorithm
) -> None:
    """card.md: MAC with key 03 (diversified from the master), IV = the last GET
    CHALLENGE, ISO 9797-1 method 2 padding, full-key CBC, first 4 bytes; over
    ``84 2C P1 P2 Lc [newPIN]`` (project choice) — computed here without card.crypto."""
    name = algorithm.value
    key03 = ref.card_key(name, keystore.ssse[algorithm][0x03], "430100", FACTOR)
    term.ok(SELECT_SSSE)
    for _ in range(3):
        term(WRONG)
    assert term("00200000") == (b"", 0x6983)
    chal = challenge(term, algorithm)
    header = bytes.fromhex("842C030004")
    apdu = header + ref.cbc_mac(name, key03, header, chal)[:4]
    assert term(apdu) == (b"", 0x9000)
    assert term(apdu) == (b"", 0x6985)  # the challenge is used once, even after success
    assert term("00200000") == (b"", 0x63C3)
    # the MAC of an older challenge is refused after a new GET CHALLENGE
    old = challenge(term, algorithm)
    challenge(term, algorithm)
    stale = header + ref.cbc_mac(name, key03, header, old)[:4]
    assert term(stale) == (b"", 0x6982)
    # set-new-PIN form: 84 2C 02 00 Lc newPIN MAC
    for _ in range(3):
        term(WRONG)
    chal = challenge(term, algorithm)
    new_pin = bytes.fromhex("97531F")
    header = bytes((0x84, 0x2C, 0x02, 0x00, len(new_pin) + 4))
    term.ok(header + new_pin + ref.cbc_mac(name, key03, header + new_pin, chal)[:4])
    assert CardImage.load(card.image.path).ssse_pin.matches("97531")
    term.ok("00200000039753 1F".replace(" ", ""))
    # a MAC that does not cover the new PIN (only the header) is refused
    chal = challenge(term, algorithm)
    bad = header + new_pin + ref.cbc_mac(name, key03, header, chal)[:4]
    assert term(bad) == (b"", 0x6982)
    # RESET RETRY COUNTER belongs to the SSSE: refused in the bank application
    term.ok(SELECT_ADF)
    assert term("842C030004" + "00" * 4) == (b"", 0x6985)


def test_external_authenticate_recomputed_independently(
    term: Terminal, keystore, algorithm
) -> None:
    name = algorithm.value
    enc = ref.block_cipher(name)
    term.ok(SELECT_SSSE)
    for kid in (0x04, 0x07):
        key = ref.card_key(name, keystore.ssse[algorithm][kid], "430100", FACTOR)
        chal = term.ok(f"00840000{algorithm.block_size:02X}")
        assert len(chal) == (8 if name == "3des" else 16)
        assert term(bytes((0, 0x82, 0, kid, len(chal))) + enc(key, chal)) == (b"", 0x9000)

    def in_df04_authenticated_with(kid: int) -> None:
        """After a reset: SELECT SSSE, EXTERNAL AUTHENTICATE with key ``kid``, SELECT DF04."""
        term.card.reset()
        term.ok(SELECT_SSSE)
        key = ref.card_key(name, keystore.ssse[algorithm][kid], "430100", FACTOR)
        chal = term.ok(f"00840000{algorithm.block_size:02X}")
        term.ok(bytes((0, 0x82, 0, kid, len(chal))) + enc(key, chal))
        term.ok("00A4000C02DF04")

    # key 04 authenticated does not open DF04: that needs key 07 (and vice versa for UPDATE)
    in_df04_authenticated_with(0x04)
    assert term("00B2010400") == (b"", 0x6982)
    in_df04_authenticated_with(0x07)
    term.ok("00B2010400")
    assert term("00DC0404033401" + "32") == (b"", 0x6982)


def test_change_pin_when_blocked_and_malformed(term: Terminal, card: VirtualCard) -> None:
    term.ok(SELECT_SSSE)
    assert term("805E010007" + "123456FF" + "12AB56") == (b"", 0x6700)  # new PIN not BCD
    assert card.image.ssse_pin_tries_left == 3  # refused before any try was spent
    for _ in range(3):
        term(WRONG)
    assert term("805E010007" + "123456FF" + "111111") == (b"", 0x6983)
    assert not CardImage.load(card.image.path).ssse_pin.matches("111111")


def test_challenge_and_internal_authenticate_without_le_use_61xx(term: Terminal, algorithm) -> None:
    n = algorithm.block_size
    term.ok(SELECT_SSSE)
    assert term("00840000") == (b"", 0x6100 | n)  # no Le: data waits for GET RESPONSE
    chal = term.ok(f"00C00000{n:02X}")
    assert len(chal) == n
    data = bytes(range(n))
    assert term(bytes((0, 0x88, 0, 1, n)) + data) == (b"", 0x6100 | n)
    first = term.ok(f"00C00000{n:02X}")
    assert term.ok(bytes((0, 0x88, 0, 1, n)) + data + b"\x00") == first


def test_select_ef_under_current_df_only(term: Terminal) -> None:
    assert term("00A4020002EF05") == (b"", 0x6A82)  # MF is current: EF05 is not under it
    term.ok(SELECT_SSSE)
    assert term("00A4020002EF05") == (b"", 0x9000)
    assert term("00A4020002DF04") == (b"", 0x6A82)  # P1 02 selects EFs only
