"""Card centre maintenance: update cardholder data after EXTERNAL AUTHENTICATE 04.

card.md §SSSE files: "Updates to any SSSE record need EXTERNAL AUTHENTICATE
with key 04 first in the same session"; EF06 layout per the spec's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from terminal.apdu import SFI_HOLDER
from terminal.cardinfo import CardDataError, HolderData, encode_an, tlv_record
from terminal.flows.common import read_card
from terminal.session import CardSession

#: EF06 record number, tag and length by field (card.md EF06 table).
EF06_FIELDS = {
    "ssn": (1, 0x08, 18),
    "name": (2, 0x09, 30),
    "sex": (4, 0x0A, 1),
    "nation": (5, 0x0B, 1),
    "birthplace": (6, 0x0C, 3),
    "birth_date": (7, 0x0D, 4),
}
NAME_EXTENSION = (3, 0x4E, 20)


@dataclass
class HolderUpdate:
    card_no: str
    before: HolderData
    after: HolderData
    records_written: int


def _bcd_cn(digits: str, length: int) -> bytes:
    text = digits + "F" * (2 * length - len(digits))
    if len(text) != 2 * length or not digits.isdigit():
        raise CardDataError(f"{digits!r} does not fit {length} BCD bytes")
    return bytes.fromhex(text)


def holder_records(changes: dict[str, str]) -> list[tuple[int, bytes]]:
    """The EF06 records (number, full TLV record) that carry ``changes``."""
    records: list[tuple[int, bytes]] = []
    for field, value in changes.items():
        if field not in EF06_FIELDS:
            raise CardDataError(f"unknown cardholder field {field!r}: {', '.join(EF06_FIELDS)}")
        number, tag, length = EF06_FIELDS[field]
        if field == "name":
            raw = value.encode("gbk")
            head, tail = raw[:length], raw[length:]
            ext_number, ext_tag, ext_length = NAME_EXTENSION
            if len(tail) > ext_length:
                raise CardDataError("the name is longer than 50 GBK bytes")
            records.append((number, tlv_record(tag, head + bytes(length - len(head)))))
            records.append((ext_number, tlv_record(ext_tag, tail + bytes(ext_length - len(tail)))))
            continue
        if field in ("ssn", "sex"):
            encoded = encode_an(value, length)
        elif field == "nation":
            encoded = bytes.fromhex(value.rjust(2, "0"))
        elif field == "birthplace":
            encoded = bytes.fromhex(value.ljust(6, "F"))
        else:  # birth_date
            encoded = _bcd_cn(date.fromisoformat(value).strftime("%Y%m%d"), 4)
        if len(encoded) != length:
            raise CardDataError(f"{field} must be {length} bytes")
        records.append((number, tlv_record(tag, encoded)))
    return records


def update_holder(session: CardSession, changes: dict[str, str]) -> HolderUpdate:
    """Read + authenticate, EXTERNAL AUTHENTICATE 04, UPDATE RECORD EF06, read back."""
    records = holder_records(changes)
    session.psam.require(0x04, session.identity, "update card data")  # before any byte goes out
    before = read_card(session, medical=False)
    session.authenticate_maintenance()
    for number, record in records:
        session.update_record(SFI_HOLDER, number, record)
    after = session.read_public()
    return HolderUpdate(before.issuance.card_number, before.holder, after.holder, len(records))
