"""ATR identity, record parsing and APDU encodings against card.md's tables."""

from __future__ import annotations

import pytest

from card.crypto import Algorithm
from terminal import apdu
from terminal.cardinfo import CardDataError, identity_from_atr, parse_identification_code
from terminal.flows.centre import holder_records


def test_identity_from_atr():
    atr = bytes.fromhex("3B6D000000430100A1B2C3D4E5F6071833")
    identity = identity_from_atr(atr)
    assert identity.algorithm is Algorithm.SM4
    assert identity.region == "430100"
    assert identity.card_factor == bytes.fromhex("A1B2C3D4E5F60718")
    assert identity.identification_code.hex().upper() == "430100D156000005A1B2C3D4E5F60718"
    assert identity_from_atr(atr[:-1] + b"\x32").algorithm is Algorithm.TDES


@pytest.mark.parametrize(
    "atr",
    [
        "3B6D000000430100A1B2C3D4E5F6071833FF",  # too long
        "3B6E000000430100A1B2C3D4E5F6071833",  # not 3B6D
        "3B6D0000004301AAA1B2C3D4E5F6071833",  # region not BCD
        "3B6D000000430100A1B2C3D4E5F6071899",  # unknown generation
    ],
)
def test_foreign_atrs_are_refused(atr):
    with pytest.raises(CardDataError):
        identity_from_atr(bytes.fromhex(atr))


def test_identification_code_needs_the_rid():
    assert parse_identification_code(bytes.fromhex("430100D156000005A1B2C3D4E5F60718")) == (
        "430100",
        bytes.fromhex("A1B2C3D4E5F60718"),
    )
    with pytest.raises(CardDataError):
        parse_identification_code(bytes.fromhex("430100D156000006A1B2C3D4E5F60718"))


def test_apdu_encodings():
    assert apdu.verify("123456") == bytes.fromhex("0020000003123456")
    assert apdu.verify("12345") == bytes.fromhex("002000000312345F")
    assert apdu.verify(None) == bytes.fromhex("00200000")
    assert apdu.change_pin("123456", "654321") == bytes.fromhex("805E010007123456FF654321")
    assert apdu.read_record(5, 7) == bytes.fromhex("00B2072C00")
    assert apdu.read_record_by_tag(6, 0x09) == bytes.fromhex("00B2093000")
    assert apdu.internal_authenticate(2, bytes(8)) == bytes.fromhex("0088000208" + "00" * 8 + "08")
    assert apdu.select_aid(apdu.SSSE_AID, fci=False)[:5] == bytes.fromhex("00A4040C0F")
    with pytest.raises(ValueError):
        apdu.pin_block("12a456")
    assert apdu.describe_sw(0x63C1) == "wrong PIN, 1 tries left"


def test_holder_records_follow_the_ef06_table():
    records = dict(holder_records({"name": "欧阳娜娜", "sex": "2", "birth_date": "1990-01-02"}))
    assert records[2] == bytes([0x09, 30]) + "欧阳娜娜".encode("gbk") + bytes(22)
    assert records[3] == bytes([0x4E, 20]) + bytes(20)  # extension zero-filled
    assert records[4] == bytes([0x0A, 1]) + b"2"
    assert records[7] == bytes([0x0D, 4]) + bytes.fromhex("19900102")
    with pytest.raises(CardDataError):
        holder_records({"shoe_size": "42"})
