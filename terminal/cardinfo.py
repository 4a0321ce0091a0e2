"""What a terminal learns from a card: ATR identity and the SSSE public records.

Layouts from ``docs/card.md`` §Physical layer, §SSSE files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from card import tlv
from card.crypto import Algorithm

ATR_PREFIX = bytes.fromhex("3B6D0000")
RID = bytes.fromhex("D156000005")


class CardDataError(ValueError):
    """The card's ATR or a record does not have the spec's layout."""


@dataclass(frozen=True)
class CardIdentity:
    """Enough to derive the card's keys: algorithm, region code and card factor."""

    algorithm: Algorithm
    region: str  # 6-digit region code, e.g. "430100"
    card_factor: bytes  # the 8 card-unique bytes

    @property
    def identification_code(self) -> bytes:
        """卡识别码: region BCD (3) + RID ``D1 56 00 00 05`` + card factor (8)."""
        return bytes.fromhex(self.region) + RID + self.card_factor


def identity_from_atr(atr: bytes) -> CardIdentity:
    """``3B 6D 00 00`` + ``00`` + region BCD (3) + card factor (8) + generation byte."""
    if len(atr) != 17 or not atr.startswith(ATR_PREFIX) or atr[4] != 0x00:
        raise CardDataError(f"not a social security card ATR: {atr.hex().upper()}")
    generation = atr[16]
    if generation == Algorithm.SM4.generation_byte:
        algorithm = Algorithm.SM4
    elif generation in (0x31, Algorithm.TDES.generation_byte):
        algorithm = Algorithm.TDES
    else:
        raise CardDataError(f"unknown card generation byte {generation:02X}")
    region = atr[5:8].hex()
    if not region.isdigit():
        raise CardDataError(f"region in ATR is not BCD: {region}")
    return CardIdentity(algorithm, region, atr[8:16])


#: SSSE FCI algorithm indicator (tag 86 in 9F0C) -> algorithm (card.md §What real cards do)
FCI_ALGORITHMS = {0x01: Algorithm.TDES, 0x03: Algorithm.SM4}


def algorithm_from_fci(fci: bytes) -> Algorithm:
    """The algorithm a card announces in its SSSE FCI.

    ``6F 1C 84 0F <AID> A5 09 88 01 1E 9F 0C 03 86 01 gg``: ``gg`` ``01`` 3DES,
    ``03`` SM4 (card.md §What real cards do).
    """
    try:
        proprietary = tlv.find(fci, b"\xa5")
        indicator = tlv.find(proprietary or b"", b"\x9f\x0c")
        value = tlv.find(indicator or b"", b"\x86")
    except tlv.TLVError as exc:
        raise CardDataError(f"malformed SSSE FCI {fci.hex().upper()}: {exc}") from exc
    if value is None or len(value) != 1 or value[0] not in FCI_ALGORITHMS:
        raise CardDataError(f"the SSSE FCI names no known algorithm: {fci.hex().upper()}")
    return FCI_ALGORITHMS[value[0]]


def parse_identification_code(code: bytes) -> tuple[str, bytes]:
    """Region code and card factor from a 16-byte card identification code."""
    if len(code) != 16 or code[3:8] != RID:
        raise CardDataError(f"malformed card identification code {code.hex().upper()}")
    return code[:3].hex(), code[8:]


def _bcd_date(value: bytes) -> date:
    text = value.hex()
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise CardDataError(f"bad BCD date {text}") from exc


def _an(value: bytes, encoding: str = "ascii") -> str:
    return value.rstrip(b"\x00").decode(encoding, errors="replace")


def _cn(value: bytes) -> str:
    return value.hex().upper().rstrip("F")


@contextmanager
def _records_of(file: str) -> Iterator[None]:
    """Parsing the records of ``file``: a missing tag is a :class:`CardDataError`."""
    try:
        yield
    except KeyError as exc:
        raise CardDataError(f"{file} lacks record with tag {exc.args[0]:02X}") from exc


@dataclass(frozen=True)
class IssuanceData:
    """EF05: card issuance data (卡识别码, type, version, issuer, dates, card number)."""

    identification_code: bytes
    card_type: str
    spec_version: str
    init_org: str
    issue_date: date
    expiry_date: date
    card_number: str

    @classmethod
    def from_records(cls, records: dict[int, bytes]) -> IssuanceData:
        with _records_of("EF05"):
            return cls(
                identification_code=records[0x01],
                card_type=_an(records[0x02]),
                spec_version=_an(records[0x03]),
                init_org=_an(records[0x04]),
                issue_date=_bcd_date(records[0x05]),
                expiry_date=_bcd_date(records[0x06]),
                card_number=_an(records[0x07]),
            )


@dataclass(frozen=True)
class HolderData:
    """EF06: the cardholder (SSN, name in GBK, sex, nation, birthplace, birth date)."""

    ssn: str
    name: str
    sex: str
    nation: str
    birthplace: str
    birth_date: date

    @classmethod
    def from_records(cls, records: dict[int, bytes]) -> HolderData:
        with _records_of("EF06"):
            name = _an(records[0x09], "gbk") + _an(records.get(0x4E, b""), "gbk")
            return cls(
                ssn=_an(records[0x08]),
                name=name,
                sex=_an(records[0x0A]),
                nation=records[0x0B].hex(),
                birthplace=_cn(records[0x0C]),
                birth_date=_bcd_date(records[0x0D]),
            )


@dataclass(frozen=True)
class MedicalData:
    """DF04: insured region, insurance type (310/390), psn_no, insured status."""

    insured_region: str
    insurance_type: str
    psn_no: str
    insured_status: str

    @classmethod
    def from_records(cls, records: dict[int, bytes]) -> MedicalData:
        with _records_of("DF04"):
            return cls(
                insured_region=records[0x31].hex(),
                insurance_type=_an(records[0x32]),
                psn_no=_an(records[0x33]),
                insured_status=_an(records[0x34]),
            )


def encode_an(text: str, length: int, encoding: str = "ascii") -> bytes:
    """An ``an`` field: encoded, padded right with ``00`` to ``length``."""
    raw = text.encode(encoding)
    if len(raw) > length:
        raise CardDataError(f"{text!r} is longer than {length} bytes")
    return raw + bytes(length - len(raw))


def tlv_record(tag: int, value: bytes) -> bytes:
    return bytes([tag, len(value)]) + value
