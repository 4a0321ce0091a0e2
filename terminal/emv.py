"""Reading the financial (UnionPay debit) application, EMV 4.3 Book 3 shape.

Enough of a terminal kernel for a bank branch: SELECT the ADF, GET
PROCESSING OPTIONS with the card's PDOL, READ RECORD along the AFL, and one
GENERATE AC (ARQC) whose ATC and cryptogram open an issuer-script session
(``card.emv_script``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from card import tlv
from terminal import apdu
from terminal.cardinfo import CardDataError
from terminal.session import CardSession

DEBIT_AID = bytes.fromhex("A000000333010101")  # UnionPay debit (card.md §Financial application)


@dataclass(frozen=True)
class FinancialApp:
    """What the bank reads: PAN and PAN sequence number, and the card's CDOL1."""

    pan: str
    pan_sequence: int
    cdol1: bytes


@dataclass(frozen=True)
class ApplicationCryptogram:
    cid: int
    atc: int
    ac: bytes


def parse_dol(dol: bytes) -> list[tuple[bytes, int]]:
    """A data object list: (tag, length) pairs (EMV Book 3 §5.4)."""
    out: list[tuple[bytes, int]] = []
    i = 0
    while i < len(dol):
        start = i
        i += 1
        if dol[start] & 0x1F == 0x1F:
            while i < len(dol) and dol[i] & 0x80:
                i += 1
            i += 1
        if i >= len(dol):
            raise CardDataError(f"malformed DOL {dol.hex().upper()}")
        out.append((dol[start:i], dol[i]))
        i += 1
    return out


def dol_data(dol: bytes, today: date | None = None) -> bytes:
    """Terminal data for a DOL: amounts zero, China's country/currency, today, a random UN."""
    today = today or date.today()
    known = {
        b"\x9f\x02": bytes(6),  # amount authorised: zero (no purchase, a script session)
        b"\x9f\x03": bytes(6),
        b"\x9f\x1a": bytes.fromhex("0156"),  # terminal country code: China
        b"\x5f\x2a": bytes.fromhex("0156"),  # transaction currency: CNY
        b"\x9a": bytes.fromhex(today.strftime("%y%m%d")),
        b"\x9c": b"\x30",  # transaction type: balance inquiry (no amount)
        b"\x9f\x37": secrets.token_bytes(4),  # unpredictable number
    }
    out = b""
    for tag, length in parse_dol(dol):
        value = known.get(tag, b"")
        out += value[:length].rjust(length, b"\x00") if value else bytes(length)
    return out


def read_financial_app(session: CardSession) -> FinancialApp:
    """SELECT ADF, GPO, and the AFL's records: PAN (5A), PAN sequence (5F34), CDOL1 (8C)."""
    fci = session.send(apdu.select_aid(DEBIT_AID), "SELECT debit application")
    pdol = tlv.find(fci, b"\x9f\x38") or b""
    pdol_data = dol_data(pdol)
    gpo = bytes([0x80, 0xA8, 0x00, 0x00, len(pdol_data) + 2, 0x83, len(pdol_data)])
    answer = session.send(gpo + pdol_data + b"\x00", "GET PROCESSING OPTIONS")
    objects = dict(tlv.parse(answer))
    if b"\x80" in objects:
        afl = objects[b"\x80"][2:]
    else:
        afl = tlv.find(answer, b"\x94") or b""
    if not afl or len(afl) % 4:
        raise CardDataError("the financial application returned no usable AFL")
    records = b""
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        for number in range(first, last + 1):
            records += session.send(apdu.read_record(sfi, number), f"READ RECORD {sfi}.{number}")
    pan_bcd = tlv.find(records, b"\x5a")
    cdol1 = tlv.find(records, b"\x8c")
    if pan_bcd is None or cdol1 is None:
        raise CardDataError("the financial application's records lack the PAN or CDOL1")
    sequence = tlv.find(records, b"\x5f\x34")
    return FinancialApp(
        pan=pan_bcd.hex().upper().rstrip("F"),
        pan_sequence=int(sequence.hex()) if sequence else 0,
        cdol1=cdol1,
    )


def generate_arqc(session: CardSession, app: FinancialApp) -> ApplicationCryptogram:
    """GENERATE AC requesting an ARQC (``80 AE 80 00 Lc CDOL1-data 00``)."""
    data = dol_data(app.cdol1)
    command = bytes([0x80, 0xAE, 0x80, 0x00, len(data)]) + data + b"\x00"
    answer = session.send(command, "GENERATE AC")
    objects = dict(tlv.parse(answer))
    if b"\x80" in objects:  # format 1: CID ATC AC IAD
        value = objects[b"\x80"]
        if len(value) < 11:
            raise CardDataError("GENERATE AC format 1 answer too short")
        return ApplicationCryptogram(value[0], int.from_bytes(value[1:3], "big"), value[3:11])
    cid, atc, ac = (tlv.find(answer, t) for t in (b"\x9f\x27", b"\x9f\x36", b"\x9f\x26"))
    if cid is None or atc is None or ac is None:
        raise CardDataError("GENERATE AC answer lacks CID, ATC or AC")
    return ApplicationCryptogram(cid[0], int.from_bytes(atc, "big"), ac)
