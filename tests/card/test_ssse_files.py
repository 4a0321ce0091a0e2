"""The SSSE application byte for byte against card.md (§Physical layer, §SSSE files, §Commands)."""

from __future__ import annotations

from datetime import date

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import CardHolder
from tests.card.conftest import FACTOR, HOLDER, Terminal, make_card

SSSE = "7378312E73682EC9E7BBE1B1A3D5CF"
SELECT_SSSE = "00A404000F" + SSSE


def expected_records(version: str) -> dict[str, dict[int, str]]:
    """card.md tables, written out by hand for HOLDER / the conftest card."""
    return {
        "EF05": {
            1: "0110" + "430100" + "D156000005" + "0102030405060708",
            2: "0201" + "31",
            3: "0304" + version.encode().hex().upper(),
            4: "040C" + b"430100000000".hex().upper(),
            5: "0504" + "20240115",
            6: "0604" + "20340115",
            7: "0709" + b"X00000019".hex().upper(),
        },
        "EF06": {
            1: "0812" + b"430100198005171119".hex().upper(),
            2: "091E" + "D5C5C8FD" + "00" * 26,  # 张三 in GBK, 00-padded to 30
            3: "4E14" + "00" * 20,
            4: "0A01" + "31",
            5: "0B01" + "01",
            6: "0C03" + "430100",
            7: "0D04" + "19800517",
        },
        "DF04": {
            1: "3103" + "430100",
            2: "3203" + b"310".hex().upper(),
            3: "3314" + b"43010000000000012345".hex().upper(),
            4: "3401" + "31",
        },
    }


def test_atr_layout(card: VirtualCard, algorithm: Algorithm) -> None:
    gen = "32" if algorithm is Algorithm.TDES else "33"
    assert card.atr.hex().upper() == "3B6D0000" + "00" + "430100" + "0102030405060708" + gen
    assert card.power_on() == card.atr
    assert card.reset() == card.atr
    # terminals take the 8 bytes before the generation byte as the card factor
    assert card.atr[-9:-1] == FACTOR


def test_ef05_ef06_by_record_number_with_sfi(term: Terminal, algorithm: Algorithm) -> None:
    version = "3.00" if algorithm is Algorithm.SM4 else "2.00"
    term.ok(SELECT_SSSE + "00")
    for name, sfi in (("EF05", 5), ("EF06", 6)):
        for number, record in expected_records(version)[name].items():
            p2 = f"{sfi << 3 | 4:02X}"
            assert term.ok(f"00B2{number:02X}{p2}00").hex().upper() == record


def test_ef05_ef06_by_record_identifier_with_sfi(term: Terminal, algorithm: Algorithm) -> None:
    version = "3.00" if algorithm is Algorithm.SM4 else "2.00"
    term.ok(SELECT_SSSE + "00")
    for name, sfi in (("EF05", 5), ("EF06", 6)):
        for record in expected_records(version)[name].values():
            tag = record[:2]
            p2 = f"{sfi << 3:02X}"
            assert term.ok(f"00B2{tag}{p2}00").hex().upper() == record


@pytest.mark.parametrize("select", ["00A4000002{fid}", "00A4020002{fid}", "00A4020C02{fid}"])
def test_ef05_ef06_as_current_ef(term: Terminal, algorithm: Algorithm, select: str) -> None:
    version = "3.00" if algorithm is Algorithm.SM4 else "2.00"
    term.ok(SELECT_SSSE + "00")
    for name in ("EF05", "EF06"):
        data, sw = term(select.format(fid=name))
        assert (data, sw) == (b"", 0x9000)
        for number, record in expected_records(version)[name].items():
            assert term.ok(f"00B2{number:02X}0400").hex().upper() == record  # SFI 0, by number
            assert term.ok(f"00B2{record[:2]}0000").hex().upper() == record  # SFI 0, by tag


def test_read_record_with_sfi_makes_it_current(term: Terminal) -> None:
    term.ok(SELECT_SSSE + "00")
    term.ok("00B2012C00")  # EF05 via SFI
    assert term.ok("00B2070400")[:2] == bytes.fromhex("0709")  # now current


def test_df04_after_key_07(term: Terminal, card: VirtualCard, keystore, algorithm) -> None:
    term.ok(SELECT_SSSE + "00")
    term.ok("00A4000002DF0400")
    assert term("00B2010400") == (b"", 0x6982)
    assert term("00B2310400") == (b"", 0x6982)
    challenge = term.ok(f"00840000{algorithm.block_size:02X}")
    key07 = keystore.card_key(algorithm, 0x07, "430100", FACTOR)
    from card.crypto import encrypt_ecb

    cryptogram = encrypt_ecb(algorithm, key07, challenge)
    term.ok(bytes((0, 0x82, 0, 7, len(cryptogram))) + cryptogram)
    for number, record in expected_records("")["DF04"].items():
        assert term.ok(f"00B2{number:02X}0400").hex().upper() == record
        assert term.ok(f"00B2{record[:2]}0000").hex().upper() == record
    # a reset forgets the key
    card.reset()
    term.ok(SELECT_SSSE + "00")
    term.ok("00A4000C02DF04")
    assert term("00B2010400") == (b"", 0x6982)


def ssse_fci(algorithm) -> str:
    """card.md §What real cards do: 6F 1C 84 0F <AID> A5 09 88 01 1E 9F 0C 03 86 01 gg."""
    gg = "03" if algorithm.block_size == 16 else "01"
    return "6F1C840F" + SSSE + "A50988011E9F0C038601" + gg


def test_select_fci(term: Terminal, algorithm) -> None:
    assert term.ok(SELECT_SSSE + "00").hex().upper() == ssse_fci(algorithm)
    assert term.ok("00A40000023F0000").hex().upper() == "6F0483023F00"
    assert term.ok("00A4000002DF0400").hex().upper() == "6F048302DF04"
    assert term("00A4000C023F00") == (b"", 0x9000)
    assert term("00A4000002EF0500") == (b"", 0x9000)  # EFs return no FCI
    # by FID DDF1 is the same application
    assert term.ok("00A4000002DDF100").hex().upper() == ssse_fci(algorithm)


def test_t0_61xx_and_get_response(term: Terminal, algorithm) -> None:
    # case 4 without Le: 61xx; the 30-byte FCI of card.md §What real cards do answers 611E
    assert term(SELECT_SSSE) == (b"", 0x611E)
    data, sw = term("00C000001E")
    assert (data.hex().upper(), sw) == (ssse_fci(algorithm), 0x9000)
    assert term("00B2072C") == (b"", 0x610B)
    data, sw = term("00C0000005")  # part of it: the rest stays
    assert (data.hex().upper(), sw) == ("0709583030", 0x6106)
    assert term("00C0000009") == (b"", 0x6C06)
    assert term.ok("00C0000000") == b"000019"
    assert term("00C0000000") == (b"", 0x6985)  # nothing left


def test_6cxx_on_wrong_le(term: Terminal) -> None:
    term.ok(SELECT_SSSE + "00")
    assert term("00B2072C05") == (b"", 0x6C0B)
    assert term.ok("00B2072C0B")[:2] == bytes.fromhex("0709")
    assert term("00B2023405") == (b"", 0x6C20)  # EF06 name record is 2 + 30 = 0x20 bytes
    assert len(term.ok("00B2023420")) == 0x20


def test_update_record_needs_key_04(term: Terminal, card: VirtualCard, keystore, algorithm) -> None:
    from card.crypto import encrypt_ecb

    term.ok(SELECT_SSSE + "00")
    new_status = "3401" + "32"
    assert term("00DC0404" + "03" + new_status) == (b"", 0x6985)  # no current EF yet
    term.ok("00A4000C02DF04")
    assert term("00DC0404" + "03" + new_status) == (b"", 0x6982)
    challenge = term.ok(f"00840000{algorithm.block_size:02X}")
    key04 = keystore.card_key(algorithm, 0x04, "430100", FACTOR)
    term.ok(bytes((0, 0x82, 0, 4, algorithm.block_size)) + encrypt_ecb(algorithm, key04, challenge))
    term.ok("00DC0404" + "03" + new_status)
    # by identifier too, and EF06 via SFI
    term.ok("00DC0B30" + "03" + "0B0102")  # nation 02
    assert term("00DC0B30" + "03" + "0C0102") == (b"", 0x6985)  # tag does not match
    assert term("00DC0B30" + "04" + "0B020203") == (b"", 0x6700)  # wrong size
    assert term("00DC0834" + "03" + "0A0131") == (b"", 0x6A83)  # EF06 has 7 records
    # persisted before the answer: a fresh load sees it
    reopened = VirtualCard.open(card.image.path)
    assert reopened.image.record_value("DF04", 4) == b"2"
    assert reopened.image.record_value("EF06", 5) == b"\x02"


def test_name_overflow_and_short_birthplace(keystore, tmp_path) -> None:
    long_name = "欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜娜娜娜"  # 18 characters = 36 GBK bytes
    holder = CardHolder(name=long_name, ssn=HOLDER.ssn, birthplace="4301", nation="02")
    card = make_card(keystore, Algorithm.SM4, tmp_path / "c.json", holder=holder)
    term = Terminal(card)
    term.ok(SELECT_SSSE + "00")
    raw = long_name.encode("gbk")
    assert term.ok("00B2023400") == bytes((0x09, 30)) + raw[:30]
    assert term.ok("00B2033400") == bytes((0x4E, 20)) + raw[30:] + bytes(20 - len(raw[30:]))
    assert term.ok("00B2063400").hex().upper() == "0C034301FF"  # cn padded with F
    assert card.image.name == long_name


def test_accessors(card: VirtualCard) -> None:
    image = card.image
    assert image.card_number == "X00000019"
    assert image.identification_code.hex().upper() == "430100D1560000050102030405060708"
    assert image.region == "430100" and image.card_factor == FACTOR
    assert image.ssn == HOLDER.ssn and image.name == "张三"
    assert image.expiry == date(2034, 1, 15)
    assert image.pan == "6222020000000000018" and image.bank_code == "102"
    assert image.ssse_pin_tries_left == 3 and image.bank_pin_tries_left == 3
    assert image.atc == 0
