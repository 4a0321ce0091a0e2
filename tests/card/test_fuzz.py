"""Random and mutated APDUs always get exactly data + a listed status word (card.md §Commands).

The card runs in strict mode, so any exception inside the card OS fails the
test instead of being turned into a status word.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card.crypto import Algorithm
from card.emv_script import pin_block
from card.icc import VirtualCard
from card.issue import new_blank_card, new_card
from card.keystore import KeyStore
from card.layout import SSSE_RECORDS
from tests.card.conftest import FACTOR, HOLDER, PAN

KEYSTORE = KeyStore.generate()
LISTED = {
    0x9000,
    0x6281,
    0x6300,
    0x6700,
    0x6982,
    0x6983,
    0x6985,
    0x6A82,
    0x6A83,
    0x6A86,
    0x6A88,
    0x6B00,
    0x6D00,
    0x6E00,
}
CDOL1 = bytes(29)

VALID = [
    bytes.fromhex(h)
    for h in (
        "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00",
        "00A404000E315041592E5359532E444446303100",
        "00A4040008A00000033301010100",
        "00A4000002EF05",
        "00A4020C02EF06",
        "00A4000002DF0400",
        "00A40000023F00",
        "00B2012C00",
        "00B2093000",
        "00B2010400",
        "00B2010C00",
        "00B2072C",
        "0020000003123456",
        "0020000003999999",
        "00200000",
        "805E010007123456FF123456",
        "842C030004AABBCCDD",
        "0084000008",
        "0084000010",
        "0084000004",
        "0082000A080102030405060708",
        "00880000100102030405060708090A0B0C0D0E0F1008",
        "80A800000B830900000000000000015600",
        "84240001141122334455667788112233445566778811223344",
        "00820007080102030405060708",
        "0088000108000000000000000000",
        "00880002100000000000000000000000000000000000",
        "80A8000002830000",
        "80CA9F3600",
        "80CA9F1700",
        "80CA9F1300",
        "842400000411223344",
        "84DC010C0C70019000000000AABBCCDD",
        "84DADF7F0501AABBCCDD",
        "00C0000000",
    )
] + [
    b"\x00\x20\x00\x80\x08" + pin_block("123456"),
    b"\x80\xae\x80\x00\x1d" + CDOL1 + b"\x00",
    b"\x80\xae\x40\x00\x0b" + bytes(11) + b"\x00",
]


def fresh_card(algorithm: Algorithm, blank: bool) -> VirtualCard:
    if blank:
        image = new_blank_card(None, keystore=KEYSTORE, algorithm=algorithm, card_factor=FACTOR)
    else:
        image = new_card(
            None,
            HOLDER,
            keystore=KEYSTORE,
            algorithm=algorithm,
            card_factor=FACTOR,
            pan=PAN,
            issue_date=date(2024, 1, 15),
            card_number="X00000019",
        )
    card = VirtualCard(image, strict=True)
    card.power_on()
    return card


def check(response: bytes) -> None:
    assert isinstance(response, bytes) and len(response) >= 2
    sw = int.from_bytes(response[-2:], "big")
    family = sw & 0xFF00
    assert sw in LISTED or family in (0x6100, 0x6C00) or sw & 0xFFF0 == 0x63C0, f"{sw:04X}"
    if len(response) > 2:
        assert sw in (0x9000, 0x6281) or family == 0x6100, f"data with {sw:04X}"


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    apdu = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "extend", "lc", "header"]))
        if kind == "flip" and apdu:
            i = draw(st.integers(0, len(apdu) - 1))
            apdu[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del apdu[draw(st.integers(0, len(apdu))) :]
        elif kind == "extend":
            apdu += draw(st.binary(min_size=1, max_size=8))
        elif kind == "lc" and len(apdu) > 4:
            apdu[4] = draw(st.integers(0, 255))
        elif kind == "header" and len(apdu) >= 4:
            apdu[draw(st.integers(0, 3))] = draw(st.integers(0, 255))
    return bytes(apdu)


apdus = st.one_of(st.binary(max_size=300), mutated(), st.sampled_from(VALID))
FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    st.sampled_from(list(Algorithm)),
    st.booleans(),
    st.lists(st.one_of(apdus, st.just(None)), max_size=12),
)
def test_any_apdu_sequence_gets_exactly_a_status_word(algorithm, blank, sequence) -> None:
    card = fresh_card(algorithm, blank)
    for apdu in sequence:
        if apdu is None:
            assert card.reset() == card.atr
            continue
        check(card.transmit(apdu))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_on_a_selected_application(raw: bytes) -> None:
    card = CARD
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"))
    check(card.transmit(raw))


CARD = fresh_card(Algorithm.SM4, False)


def test_non_strict_card_turns_internal_errors_into_a_status_word(monkeypatch) -> None:
    """Defence in depth: even a bug inside a handler answers with a status word."""
    from card import chip
    from card.context import Entry

    card = VirtualCard(fresh_card(Algorithm.TDES, False).image)

    def broken(chip_, cmd):
        raise RuntimeError("bug")

    monkeypatch.setitem(chip.CARD_COMMANDS, 0xB2, Entry(frozenset({0x00}), broken))
    assert card.transmit(bytes.fromhex("00B2012C00")) == b"\x69\x85"


def test_transmit_never_raises_on_non_bytes() -> None:
    card = fresh_card(Algorithm.SM4, False)
    for junk in ("00A4", None, 3.5, [0, 0xA4, 0, 0, 256], object()):
        assert card.transmit(junk) == b"\x67\x00"  # type: ignore[arg-type]
    assert card.transmit([0, 0xB2, 1, 0x2C]) == b"\x6a\x82"  # a list of ints is bytes-like


def _authenticated(algorithm: Algorithm) -> VirtualCard:
    """A card with the SSSE PIN verified and keys 04 and 07 proven, so fuzzed
    UPDATE RECORD / READ RECORD / INTERNAL AUTHENTICATE reach their inner code."""
    from card.crypto import encrypt_ecb

    card = fresh_card(algorithm, False)
    assert card.transmit(VALID[0])[-2:] == b"\x90\x00"
    assert card.transmit(bytes.fromhex("0020000003123456")) == b"\x90\x00"
    for kid in (0x04, 0x07):
        n = algorithm.block_size
        challenge = card.transmit(bytes((0, 0x84, 0, 0, n)))[:-2]
        key = KEYSTORE.card_key(algorithm, kid, "430100", FACTOR)
        answer = card.transmit(bytes((0, 0x82, 0, kid, n)) + encrypt_ecb(algorithm, key, challenge))
        assert answer == b"\x90\x00"
    return card


AUTHENTICATED = {alg: _authenticated(alg) for alg in Algorithm}


TEMPLATES = [(t.tag, t.length, t.number) for ts in SSSE_RECORDS.values() for t in ts]


@st.composite
def record_commands(draw: st.DrawFn) -> bytes:
    ins = draw(st.sampled_from([0xDC, 0xDC, 0xB2, 0x88, 0xA4]))
    if ins == 0xA4:
        fid = draw(st.sampled_from(["EF05", "EF06", "DF04", "DDF1"]))
        return bytes.fromhex("00A4000C02" + fid)
    tag, length, number = draw(st.sampled_from(TEMPLATES))
    p1 = draw(st.sampled_from([tag, number, 0, draw(st.integers(0, 255))]))
    p2 = draw(st.sampled_from([0x04, 0x00, 0x2C, 0x28, 0x34, 0x30, draw(st.integers(0, 255))]))
    if ins == 0xDC:
        value = draw(st.binary(min_size=length, max_size=length))
        body = bytes((tag, length)) + value
        if draw(st.integers(0, 3)) == 0:
            body = draw(st.binary(max_size=40))
    else:
        body = draw(st.binary(max_size=17)) if ins == 0x88 else b""
    tail = b"" if draw(st.booleans()) else bytes((draw(st.integers(0, 255)),))
    return bytes((0x00, ins, p1, p2)) + (bytes((len(body),)) + body if body else b"") + tail


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Algorithm)), st.lists(record_commands(), max_size=10))
def test_authenticated_record_commands_get_a_status_word(algorithm, commands) -> None:
    card = AUTHENTICATED[algorithm]
    card.transmit(VALID[0])
    for apdu in commands:
        check(card.transmit(apdu))
    # the templates still hold: nothing the fuzzer wrote broke a record's shape
    assert not card.image.check_records()
