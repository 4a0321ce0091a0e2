"""russss/python-emv: what ``emvtool`` sends to an EMV card, as a replay program.

Commands (``emv/protocol/command.py``): SELECT ``00 A4 04 00 Lc name 00`` (lines
81-105, Le 00), READ RECORD ``00 B2 rec (sfi<<3)|4 00`` (lines 118-139), GET DATA
``80 CA p1 p2 00`` (lines 142-160), VERIFY ``00 20 00 80 08 2L PIN..F`` without Le
(lines 163-187), GENERATE AC ``80 AE 80 00 Lc CDOL1-data 00`` (lines 190-210),
GET PROCESSING OPTIONS ``80 A8 00 00 Lc 83 len PDOL-data 00`` (lines 213-226;
``83 00`` without PDOL data).

Transport (``emv/transmission.py`` ``exchange``, lines 34-53): on ``6Cxx`` the
same command with byte 4 set to xx; while ``61xx``, ``00 C0 00 00 xx`` with the
data so far cut by two bytes before appending (``data[:-2] + d``, a quirk kept
here); then ``RAPDU.unmarshal`` (``emv/protocol/response.py`` lines 10-35):
``61``/``6C`` must not remain, ``9000`` success, ``62``/``63`` warning,
anything else raises ``ErrorResponse``; the data must parse as BER-TLV.

Flows (``emv/card.py``, ``emv/command/client.py``):

* ``list_applications`` (card.py 72-93): SELECT ``1PAY.SYS.DDF01``, SFI from
  ``6F/A5/88``, READ RECORD 1, 2, … of that SFI until an error; apps from
  ``70/61``.
* ``info`` (client.py 125-170): ``render_app`` (107-122) SELECTs the PSE,
  ``2PAY.SYS.DDF01`` (an error is "normal on some cards") and every app, and
  reads records 1-15 of every SFI 1-30, skipping errors; then GET DATA
  ``9F17``, ``9F36``, ``9F13`` (card.py 112-126).
* ``cap`` (card.py 158-181): SELECT the last app, GET PROCESSING OPTIONS, every
  AFL record (137-148), VERIFY, GENERATE AC ARQC with CDOL1 filled from
  ``9A = 01 01 01``, ``95 = 80 00 00 00 00`` and zeros (cap.py 52-80,
  ``DOL.serialise`` in structures.py 180-195).

emvtool's own GPO sends ``83 00``; a PBOC terminal fills the card's PDOL
(``9F38`` in the ADF's FCI): yuonceruyi/Terminal ``Core/YuanTu.ISO8583/CPUCard/
ICPOS.cs`` lines 176-188 (``ParseDOL``/``MakeDOLData``, 885-921) with its
terminal values (``LoadDevice``, lines 830-842: ``9F02`` amount BCD,
``5F2A 0156``, ``9F7A 00``, ``9F1A 0156``, ``9C 00``). :func:`pdol_data` does
that; :func:`cap` takes either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.card.replay.model import Answer, Exchange, ber_tlv, tlv_find

REPO = "russss/python-emv"
COMMIT = "585d41a01e28460b453992d32d0bdb20ba56a94e"
ICPOS = ("yuonceruyi/Terminal", "Core/YuanTu.ISO8583/CPUCard/ICPOS.cs")

PSE = b"1PAY.SYS.DDF01"
PPSE = b"2PAY.SYS.DDF01"


class ErrorResponse(Exception):
    """``emv.protocol.response.ErrorResponse``: a status word emvtool treats as an error."""

    def __init__(self, apdu: bytes, sw: int) -> None:
        super().__init__(f"{apdu.hex().upper()} -> {sw:04X}")
        self.sw = sw


@dataclass
class Tp:
    """``emv.transmission.TransmissionProtocol`` over an exchange (raw or T=0-aware)."""

    send: Exchange
    log: list[tuple[bytes, Answer]] = field(default_factory=list)

    def transmit(self, apdu: bytes) -> Answer:
        answer = self.send(apdu)
        self.log.append((apdu, answer))
        return answer

    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        answer = self.transmit(apdu)
        if answer.sw1 == 0x6C:
            apdu = apdu[:4] + bytes([answer.sw2]) + apdu[5:]
            answer = self.transmit(apdu)
        data, sw = answer.data, answer.sw
        while sw >> 8 == 0x61:
            more = self.transmit(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            data, sw = data[:-2] + more.data, more.sw
        if sw >> 8 in (0x61, 0x6C):
            raise AssertionError("61xx/6Cxx left over: the transport should have handled it")
        if sw != 0x9000 and sw >> 8 not in (0x62, 0x63):
            raise ErrorResponse(apdu, sw)
        if data:
            ber_tlv(data)  # RAPDU.unmarshal parses every answer as TLV
        return data, sw


def select(name: bytes) -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x00, len(name)]) + name + b"\x00"


def read_record(record: int, sfi: int) -> bytes:
    return bytes([0x00, 0xB2, record, (sfi << 3) + 0x04, 0x00])


def get_data(p1: int, p2: int) -> bytes:
    return bytes([0x80, 0xCA, p1, p2, 0x00])


def verify(pin: str) -> bytes:
    block = bytes.fromhex(f"2{len(pin):x}{pin}".ljust(16, "f"))
    return bytes([0x00, 0x20, 0x00, 0x80, len(block)]) + block


def gpo(pdol_values: bytes | None) -> bytes:
    body = b"\x83\x00" if pdol_values is None else bytes([0x83, len(pdol_values)]) + pdol_values
    return bytes([0x80, 0xA8, 0x00, 0x00, len(body)]) + body + b"\x00"


def generate_ac(cdol1_data: bytes) -> bytes:
    return bytes([0x80, 0xAE, 0x80, 0x00, len(cdol1_data)]) + cdol1_data + b"\x00"


def parse_dol(dol: bytes) -> list[tuple[bytes, int]]:
    """A data object list: (tag, length) pairs (EMV 4.3 Book 3 §5.4)."""
    out, i = [], 0
    while i < len(dol):
        start = i
        i += 1
        if dol[start] & 0x1F == 0x1F:
            while dol[i] & 0x80:
                i += 1
            i += 1
        out.append((dol[start:i], dol[i]))
        i += 1
    return out


def serialise_dol(dol: bytes, values: dict[bytes, bytes]) -> bytes:
    """``DOL.serialise``: each value left-padded with zeros to its length, missing ones zero."""
    out = b""
    for tag, length in parse_dol(dol):
        value = values.get(tag, b"")
        if len(value) > length:
            raise ValueError(f"value of {tag.hex()} too long for the DOL")
        out += value.rjust(length, b"\x00")
    return out


#: ICPOS.cs ``LoadDevice`` (lines 830-842) for an amount of 1.00 yuan.
ICPOS_TERMINAL = {
    bytes.fromhex("9F02"): bytes.fromhex("000000000100"),
    bytes.fromhex("9F03"): bytes(6),
    bytes.fromhex("9F1A"): bytes.fromhex("0156"),
    bytes.fromhex("5F2A"): bytes.fromhex("0156"),
    bytes.fromhex("9C"): b"\x00",
    bytes.fromhex("9F7A"): b"\x00",
    bytes.fromhex("9F35"): b"\x24",
}

#: cap.py lines 63-66: the values emvtool puts in CDOL1 (the rest is zeros).
CAP_VALUES = {
    bytes.fromhex("9A"): bytes.fromhex("010101"),
    bytes.fromhex("95"): bytes.fromhex("8000000000"),
}


def pdol_data(fci: bytes) -> bytes | None:
    """ICPOS.cs lines 176-188: the PDOL's values from the terminal, or None (``83 00``)."""
    pdol = tlv_find(fci, b"\x6f", b"\xa5", b"\x9f\x38")
    if pdol is None:
        return None
    return serialise_dol(pdol, ICPOS_TERMINAL)


def list_applications(tp: Tp) -> list[dict[bytes, bytes]]:
    """card.py 72-93."""
    fci, _ = tp.exchange(select(PSE))
    sfi = tlv_find(fci, b"\x6f", b"\xa5", b"\x88")[0]
    apps = []
    for record in range(1, 31):
        try:
            data, _ = tp.exchange(read_record(record, sfi))
        except ErrorResponse:
            break
        directory = tlv_find(data, b"\x70")
        apps += [dict(ber_tlv(value)) for tag, value in ber_tlv(directory) if tag == b"\x61"]
    return apps


def render_app(tp: Tp, name: bytes) -> dict[tuple[int, int], bytes]:
    """client.py 107-122: SELECT, then every record 1-15 of every SFI 1-30 (errors skipped)."""
    tp.exchange(select(name))
    records = {}
    for sfi in range(1, 31):
        for record in range(1, 16):
            try:
                data, _ = tp.exchange(read_record(record, sfi))
            except ErrorResponse:
                continue
            if tlv_find(data, b"\x70") is not None:
                records[(sfi, record)] = data
    return records


def get_metadata(tp: Tp) -> dict[str, int]:
    """card.py 112-126 (``get_data_item`` swallows errors)."""
    out = {}
    for key, (p1, p2) in (
        ("pin_retries", (0x9F, 0x17)),
        ("atc", (0x9F, 0x36)),
        ("last_online_atc", (0x9F, 0x13)),
    ):
        try:
            data, _ = tp.exchange(get_data(p1, p2))
        except ErrorResponse:
            continue
        value = dict(ber_tlv(data))[bytes([p1, p2])]
        out[key] = value[0] if key == "pin_retries" else int.from_bytes(value, "big")
    return out


@dataclass
class CapResult:
    apps: list[dict[bytes, bytes]]
    fci: bytes
    gpo_command: bytes
    aip: bytes
    afl: bytes
    records: dict[tuple[int, int], bytes]
    verify_sw: int
    cdol1_data: bytes
    ac_answer: bytes


def processing_options(data: bytes) -> tuple[bytes, bytes]:
    """card.py 128-135: format 1 ``80 AIP AFL`` or format 2 ``77{82, 94}``."""
    items = dict(ber_tlv(data))
    if b"\x80" in items:
        return items[b"\x80"][:2], items[b"\x80"][2:]
    inner = dict(ber_tlv(items[b"\x77"]))
    return inner[b"\x82"], inner[b"\x94"]


def cap(tp: Tp, pin: str, *, fill_pdol: bool) -> CapResult:
    """card.py 158-181 up to the GENERATE AC answer (the CAP arithmetic after it is not the
    card's business). ``fill_pdol``: the PBOC terminal's GPO instead of emvtool's ``83 00``."""
    apps = list_applications(tp)
    fci, _ = tp.exchange(select(apps[-1][b"\x4f"]))
    command = gpo(pdol_data(fci) if fill_pdol else None)
    options, _ = tp.exchange(command)
    aip, afl = processing_options(options)
    assert len(afl) % 4 == 0, f"AFL of {len(afl)} bytes"
    records = {}
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        for record in range(first, last + 1):
            records[(sfi, record)], _ = tp.exchange(read_record(record, sfi))
    _, verify_sw = tp.exchange(verify(pin))
    data = {}
    for record in records.values():
        data.update(ber_tlv(tlv_find(record, b"\x70")))
    cdol1_data = serialise_dol(data[b"\x8c"], CAP_VALUES)
    answer, _ = tp.exchange(generate_ac(cdol1_data))
    return CapResult(apps, fci, command, aip, afl, records, verify_sw, cdol1_data, answer)
