"""Card production at the card centre and the bank (issuance.md steps 5 and 6).

Step 5 (印刷封装, 社保信息写入): the card centre's terminal takes a blank card
(file structure present, its own diversified keys loaded, every record empty,
card.md §Keys) and writes EF05, EF06 and DF04 through the card's own
commands: SELECT, INTERNAL AUTHENTICATE 01 (is this one of our blank cards?),
GET CHALLENGE + EXTERNAL AUTHENTICATE 04 with the PSAM's maintenance key,
then UPDATE RECORD for every record. Nothing here touches a card image file.

Step 6 (银行开户, 金融信息写入): the issuing bank's terminal writes the
financial application (EMV records and data objects) with issuer-script
commands ``84 DC`` / ``84 DA`` under secure messaging with the bank's
IMK-SMI (card.md §Financial application).

Then the result is read back through a reader, in a fresh card session, and
compared field by field with what was ordered (:func:`verify_card`).

Record layouts: card.md §SSSE files (TLV records, ``cn`` F-padded BCD, ``an``
00-padded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from card.crypto import Algorithm
from terminal.cardinfo import CardIdentity, encode_an, tlv_record

#: Name bytes on EF06 record 2; longer GBK names continue in the 4E extension.
NAME_LENGTH = 30
NAME_EXTENSION_LENGTH = 20
SPEC_VERSION = {Algorithm.TDES: "2.00", Algorithm.SM4: "3.00"}


class ProductionError(Exception):
    """Personalisation or the bank's write failed; the message says what to do."""


@dataclass(frozen=True)
class PersonalisationOrder:
    """Everything the card centre writes onto one card (from the application, step 5)."""

    application_id: str
    card_no: str  # 社会保障卡卡号, 9 ASCII characters
    region: str  # issuing region, 6 digits (must be the blank card's region)
    issue_date: date
    expiry_date: date
    init_org: str  # initialising organisation code, up to 12 ASCII
    ssn: str
    name: str
    sex: str  # '1' / '2'
    nation: str  # 2-digit code
    birthplace: str  # 6-digit region
    birth_date: date
    insured_region: str
    insurance_type: str  # '310' / '390'
    psn_no: str
    bank_code: str
    insured_status: str = "1"

    @classmethod
    def from_json(cls, data: dict) -> PersonalisationOrder:
        """From the service's ``personalisation-order`` response (dates ISO)."""
        try:
            return cls(
                application_id=data["application_id"],
                card_no=data["card_no"],
                region=data["region"],
                issue_date=date.fromisoformat(data["issue_date"]),
                expiry_date=date.fromisoformat(data["expiry_date"]),
                init_org=data["init_org"],
                ssn=data["ssn"],
                name=data["name"],
                sex=data["sex"],
                nation=data["nation"],
                birthplace=data["birthplace"],
                birth_date=date.fromisoformat(data["birth_date"]),
                insured_region=data["insured_region"],
                insurance_type=data["insurance_type"],
                psn_no=data["psn_no"],
                bank_code=data["bank_code"],
                insured_status=data.get("insured_status", "1"),
            )
        except (KeyError, ValueError) as exc:
            raise ProductionError(f"malformed personalisation order: {exc}") from exc


def _bcd_date(day: date) -> bytes:
    return bytes.fromhex(f"{day:%Y%m%d}")


def _cn(digits: str, length: int) -> bytes:
    if not digits.isdigit() or len(digits) > length * 2:
        raise ProductionError(f"{digits!r} is not up to {length * 2} digits")
    return bytes.fromhex(digits.ljust(length * 2, "F"))


def split_name(name: str) -> tuple[bytes, bytes]:
    """GBK name: the first 30 bytes on record 2, the rest (up to 20) on the 4E extension."""
    try:
        raw = name.encode("gbk")
    except UnicodeEncodeError as exc:
        raise ProductionError(f"the name {name!r} has characters outside GBK") from exc
    if len(raw) > NAME_LENGTH + NAME_EXTENSION_LENGTH:
        raise ProductionError(f"the name {name!r} is longer than 50 GBK bytes")
    head = raw[:NAME_LENGTH]
    if len(head) == NAME_LENGTH and _splits_a_character(raw, NAME_LENGTH):
        head = raw[: NAME_LENGTH - 1]
    tail = raw[len(head) :]
    return head + bytes(NAME_LENGTH - len(head)), tail + bytes(NAME_EXTENSION_LENGTH - len(tail))


def _splits_a_character(raw: bytes, cut: int) -> bool:
    """Whether cutting GBK ``raw`` at ``cut`` would split a two-byte character."""
    i = 0
    while i < cut:
        i += 2 if raw[i] >= 0x81 else 1
    return i > cut


def ef05_records(order: PersonalisationOrder, identity: CardIdentity) -> list[bytes]:
    """EF05 records 1–7 (card issuance data) for the blank card ``identity``."""
    if identity.region != order.region:
        raise ProductionError(
            f"the blank card belongs to region {identity.region}, the order to {order.region}: "
            "take a blank card of the right region"
        )
    return [
        tlv_record(0x01, identity.identification_code),
        tlv_record(0x02, b"1"),
        tlv_record(0x03, encode_an(SPEC_VERSION[identity.algorithm], 4)),
        tlv_record(0x04, encode_an(order.init_org, 12)),
        tlv_record(0x05, _bcd_date(order.issue_date)),
        tlv_record(0x06, _bcd_date(order.expiry_date)),
        tlv_record(0x07, encode_an(order.card_no, 9)),
    ]


def ef06_records(order: PersonalisationOrder) -> list[bytes]:
    """EF06 records 1–7 (cardholder)."""
    name, extension = split_name(order.name)
    if len(order.ssn) != 18 or len(order.nation) != 2 or not order.nation.isdigit():
        raise ProductionError("the SSN is 18 characters and the nation code 2 digits")
    return [
        tlv_record(0x08, encode_an(order.ssn, 18)),
        tlv_record(0x09, name),
        tlv_record(0x4E, extension),
        tlv_record(0x0A, encode_an(order.sex, 1)),
        tlv_record(0x0B, bytes.fromhex(order.nation)),
        tlv_record(0x0C, _cn(order.birthplace, 3)),
        tlv_record(0x0D, _bcd_date(order.birth_date)),
    ]


def df04_records(order: PersonalisationOrder) -> list[bytes]:
    """DF04 records 1–4 (medical insurance; project-choice layout of card.md)."""
    if len(order.insured_region) != 6 or not order.insured_region.isdigit():
        raise ProductionError("the insured region is 6 digits")
    return [
        tlv_record(0x31, bytes.fromhex(order.insured_region)),
        tlv_record(0x32, encode_an(order.insurance_type, 3)),
        tlv_record(0x33, encode_an(order.psn_no, 20)),
        tlv_record(0x34, encode_an(order.insured_status, 1)),
    ]


SFI_CURRENT = 0  # UPDATE RECORD on the currently selected file (DF04)
