"""The financial application: EMV 4.3 / PBOC debit, its command table (card.md §Financial application).

Laid out as PBOC cards are (card.md §What real cards do):

* SELECT ADF (:mod:`card.iso7816`) → FCI ``6F{84 AID, A5{50 label, 87 01,
  9F38 PDOL}}`` with the PDOL ``9F7A 01 9F02 06 5F2A 02`` (EC terminal support
  indicator, amount authorised, transaction currency: 9 bytes).
* GET PROCESSING OPTIONS ``80 A8 00 00 Lc 83 09 <PDOL data>`` (or ``83 00``
  from a terminal that ignores the PDOL) → format 1 ``80 len AIP AFL`` with AIP
  ``18 00`` (cardholder verification, terminal risk management; no offline
  data authentication) and an AFL naming every record file the card holds:
  SFI 1–3 with one record each on a card issued now (``08 01 01 00 10 01 01
  00 18 01 01 00``), SFI 1 records 1–3 on a card issued before.
* GET DATA ``80 CA 9F17`` / ``9F36`` / ``9F13`` → the TLV object.
* VERIFY ``00 20 00 80 08 2L PIN..F`` — plaintext offline PIN, bank PIN.
* GENERATE AC ``80 AE P1 00 Lc CDOL-data [00]`` → format 1
  ``80 12 CID ATC(2) AC(8) IAD(7)``. The first GENERATE AC after GPO takes
  CDOL1 data and answers ARQC (``80``) for a TC or ARQC request, AAC (``00``)
  for an AAC request; a second takes CDOL2 data and answers TC (``40``) or
  AAC. Every GENERATE AC increments the ATC and persists it before answering.
  ``AC = retail_mac(emv_session_key(UDK_AC, ATC), CDOL data || AIP || ATC)``;
  ``IAD = 06 01 0A 03 CVR1 CVR2 00`` (length, DKI, CVN, CVR): CVR1 bits 8-7
  the AC type of a second GENERATE AC and 6-5 of the first (00 AAC, 01 TC,
  10 ARQC); CVR2 ``04`` offline PIN passed, ``02`` offline PIN failed,
  ``01`` PIN try limit exceeded **(project choice, VIS-like)**.
* CHANGE PIN ``80 5E`` is not the holder's here: the bank PIN changes only at
  the issuing bank, by issuer script; the OS answers ``6985``.
* Issuer scripts ``84 24`` / ``84 DC`` / ``84 DA``: :mod:`card.emv_script`;
  PIN CHANGE/UNBLOCK P2 ``00`` unblocks, ``01`` changes the PIN with the old
  one (the old PIN counts a try like VERIFY: ``63Cx``/``6983``), ``02`` sets it.
  A wrong MAC answers ``6982``, a script without a GENERATE AC (or, on a blank
  card, without GET CHALLENGE) in this session ``6985``. A personalised card
  accepts one issuer script command per session (a second ``6985``); the
  bank's personalisation of a blank application sends its whole script in one
  session **(project choice)**. A successful script on a personalised card
  sets the last online ATC (``9F13``).
"""

from __future__ import annotations

from card import pins, tlv
from card.apdu import Command, check_le
from card.context import Application, CardContext, Entry
from card.crypto import emv_session_key, retail_mac
from card.emv_script import (
    KEY_TAGS,
    LIFECYCLE_PERSONALISED,
    TAG_LIFECYCLE,
    SecureChannel,
    parse_pin_block,
)
from card.image import LIFECYCLE_BLANK
from card.image import LIFECYCLE_PERSONALISED as IMAGE_PERSONALISED
from card.iso7816 import record_reference
from card.layout import DEBIT_LABEL, Node
from card.sw import SW, CardError

AIP = bytes.fromhex("1800")
#: PDOL: EC terminal support indicator (1), amount authorised (6), currency (2)
PDOL = bytes.fromhex("9F7A019F02065F2A02")
PDOL_LENGTH = 9
#: CDOL1: amount, other amount, terminal country, TVR, currency, date, type, UN (29 bytes)
CDOL1 = bytes.fromhex("9F02069F03069F1A0295055F2A029A039C019F3704")
CDOL1_LENGTH = 29
#: CDOL2: authorisation response code, TVR, UN (11 bytes)
CDOL2 = bytes.fromhex("8A0295059F3704")
CDOL2_LENGTH = 11
CID_AAC, CID_TC, CID_ARQC = 0x00, 0x40, 0x80
GENERATE_AC_RESPONSE_LENGTH = 2 + 1 + 2 + 8 + 7


def record_file(ctx: CardContext, sfi: int) -> Node:
    """The record file of SFI ``sfi`` in the ADF (created on demand)."""
    name = f"EMV{sfi}"
    node = ctx.nodes.get(name)
    if node is None:
        if name not in ctx.image.records:
            raise CardError(SW.FILE_NOT_FOUND)
        node = ctx.nodes["ADF"].add(Node(name, "EF", sfi=sfi, app="emv", records=name))
        ctx.nodes[name] = node
    return node


def verify(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    if cmd.p2 == 0x00:
        raise CardError(SW.CONDITIONS)  # the SSSE PIN: only in the SSSE
    if cmd.p2 != 0x80:
        raise CardError(SW.REF_NOT_FOUND)
    session, pin = ctx.session, ctx.image.bank_pin
    if not cmd.data:
        pins.status(pin, session.bank_pin_ok)
        return b""
    if len(cmd.data) != 8:
        raise CardError(SW.WRONG_LENGTH)
    session.bank_pin_ok = False
    pins.present(ctx.image, pin, parse_pin_block(cmd.data))
    session.bank_pin_ok = True
    return b""


def get_processing_options(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 or cmd.p2:
        raise CardError(SW.WRONG_P1P2)
    data = cmd.data
    if data != b"\x83\x00" and (data[:2] != b"\x83\x09" or len(data) != 2 + PDOL_LENGTH):
        raise CardError(SW.WRONG_LENGTH)
    if ctx.image.emv_lifecycle != IMAGE_PERSONALISED:
        raise CardError(SW.CONDITIONS)
    session = ctx.session
    session.gpo_done = True
    session.gen_ac_count = 0
    return tlv.tlv(0x80, AIP + afl(ctx))


def afl(ctx: CardContext) -> bytes:
    """The application file locator: each EMV record file of the card, first to last record."""
    entries = b""
    for sfi in range(1, 31):
        numbers = [n for n, r in ctx.image.records.get(f"EMV{sfi}", {}).items() if r]
        if numbers:
            entries += bytes((sfi << 3, min(numbers), max(numbers), 0))
    return entries


def get_data(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.data:
        raise CardError(SW.WRONG_LENGTH)
    tag = (cmd.p1 << 8) | cmd.p2
    image = ctx.image
    if tag == 0x9F17:
        value = bytes((max(image.bank_pin.tries_left, 0),))
    elif tag == 0x9F36:
        value = image.atc.to_bytes(2, "big")
    elif tag == 0x9F13:
        value = image.last_online_atc.to_bytes(2, "big")
    else:
        raise CardError(SW.REF_NOT_FOUND)
    return tlv.tlv(tag, value)


def generate_ac(ctx: CardContext, cmd: Command) -> bytes:
    session, image = ctx.session, ctx.image
    if not session.gpo_done or session.gen_ac_count >= 2:
        raise CardError(SW.CONDITIONS)
    requested = cmd.p1 & 0xC0
    if cmd.p2 != 0x00 or cmd.p1 & 0x3F or requested == 0xC0:
        raise CardError(SW.WRONG_P1P2)
    first = session.gen_ac_count == 0
    if len(cmd.data) != (CDOL1_LENGTH if first else CDOL2_LENGTH):
        raise CardError(SW.WRONG_LENGTH)
    if first:
        cid = CID_AAC if requested == CID_AAC else CID_ARQC
    else:
        if requested == CID_ARQC:
            raise CardError(SW.WRONG_P1P2)
        cid = requested
    check_le(cmd, GENERATE_AC_RESPONSE_LENGTH)
    udk = image.emv_keys.get("ac")
    if udk is None or image.atc >= 0xFFFF:
        raise CardError(SW.CONDITIONS)
    image.atc += 1
    image.commit()  # the ATC is spent before the cryptogram leaves the card
    atc = image.atc.to_bytes(2, "big")
    ac = retail_mac(emv_session_key(udk, image.atc), cmd.data + AIP + atc)
    session.last_ac = ac
    session.gen_ac_count += 1
    ac_type = {CID_AAC: 0, CID_TC: 1, CID_ARQC: 2}[cid]
    cvr1 = ac_type << 4 if first else ac_type << 6
    pin = image.bank_pin
    cvr2 = (0x04 if session.bank_pin_ok else 0) | (0x01 if pin.blocked else 0)
    if not session.bank_pin_ok and pin.tries_left < pin.limit:
        cvr2 |= 0x02
    iad = bytes((0x06, 0x01, 0x0A, 0x03, cvr1, cvr2, 0x00))
    return tlv.tlv(0x80, bytes((cid,)) + atc + ac + iad)


# --- issuer scripts ---------------------------------------------------------------------


def _channel(ctx: CardContext) -> SecureChannel:
    session, image = ctx.session, ctx.image
    if image.emv_lifecycle == LIFECYCLE_BLANK:
        smi, smc = image.emv_keys.get("perso_smi"), image.emv_keys.get("perso_smc")
        freshness = session.challenge
    else:
        smi, smc = image.emv_keys.get("smi"), image.emv_keys.get("smc")
        freshness = session.last_ac
    if freshness is None:
        raise CardError(SW.CONDITIONS)
    if smi is None or smc is None:
        raise CardError(SW.REF_NOT_FOUND)
    return SecureChannel.from_keys(smi, smc, image.atc, freshness)


def _unwrap(ctx: CardContext, cmd: Command) -> tuple[SecureChannel, bytes]:
    if len(cmd.data) < 4:
        raise CardError(SW.WRONG_LENGTH)
    personalised = ctx.image.emv_lifecycle != LIFECYCLE_BLANK
    if personalised and ctx.session.script_done:
        raise CardError(SW.CONDITIONS)  # one issuer script command per session
    channel = _channel(ctx)
    data = channel.unwrap(cmd.header, cmd.data)
    if data is None:
        raise CardError(SW.SECURITY_STATUS)
    if personalised:
        ctx.session.script_done = True
    return channel, data


def _script_done(ctx: CardContext) -> None:
    image = ctx.image
    if image.emv_lifecycle != LIFECYCLE_BLANK:
        image.last_online_atc = image.atc
    image.commit()


#: PIN CHANGE/UNBLOCK P2 -> data length with the MAC: unblock, change (new + old), set
_PIN_SCRIPT_LENGTHS = {0x00: 4, 0x01: 20, 0x02: 12}


def pin_change_unblock(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 != 0x00 or cmd.p2 not in _PIN_SCRIPT_LENGTHS:
        raise CardError(SW.WRONG_P1P2)
    if len(cmd.data) != _PIN_SCRIPT_LENGTHS[cmd.p2]:
        raise CardError(SW.WRONG_LENGTH)
    channel, data = _unwrap(ctx, cmd)
    image = ctx.image
    pin = image.bank_pin
    if cmd.p2 == 0x00:
        pin.tries_left = pin.limit
    else:
        digits = parse_pin_block(channel.decipher(data[:8]))
        if digits is None:
            raise CardError(SW.WRONG_LENGTH)
        if cmd.p2 == 0x01:  # change: the old PIN first, a try spent like VERIFY
            pins.present(image, pin, parse_pin_block(channel.decipher(data[8:16])))
        pin.set(digits)
    _script_done(ctx)
    return b""


def update_record(ctx: CardContext, cmd: Command) -> bytes:
    """``84 DC`` issuer script; plain ``00 DC`` needs secure messaging here (``6982``)."""
    if cmd.cla == 0x00:
        record_reference(cmd)
        raise CardError(SW.SECURITY_STATUS)
    p2 = cmd.p2
    sfi = p2 >> 3
    if p2 & 0x07 != 4 or not 1 <= sfi <= 30:
        raise CardError(SW.WRONG_P1P2)
    if cmd.p1 == 0:
        raise CardError(SW.WRONG_PARAMETERS)
    _, record = _unwrap(ctx, cmd)
    try:
        objects = tlv.parse(record)
    except tlv.TLVError:
        objects = []
    if (
        len(objects) != 1
        or objects[0][0] != b"\x70"
        or len(tlv.tlv(0x70, objects[0][1])) != len(record)
    ):
        raise CardError(SW.WRONG_LENGTH)
    image = ctx.image
    image.records.setdefault(f"EMV{sfi}", {})[cmd.p1] = record
    image.damaged.discard((f"EMV{sfi}", cmd.p1))
    _script_done(ctx)
    return b""


def put_data(ctx: CardContext, cmd: Command) -> bytes:
    tag = (cmd.p1 << 8) | cmd.p2
    if tag not in KEY_TAGS and tag != TAG_LIFECYCLE:
        raise CardError(SW.REF_NOT_FOUND)
    channel, value = _unwrap(ctx, cmd)
    image = ctx.image
    if tag in KEY_TAGS:
        if len(value) != 16:
            raise CardError(SW.WRONG_LENGTH)
        image.emv_keys[KEY_TAGS[tag]] = channel.decipher(value)
    else:
        if value != LIFECYCLE_PERSONALISED:
            raise CardError(SW.WRONG_LENGTH)
        if image.emv_lifecycle != LIFECYCLE_BLANK:
            raise CardError(SW.CONDITIONS)
        if not all(k in image.emv_keys for k in KEY_TAGS.values()) or not image.bank_pin.is_set:
            raise CardError(SW.CONDITIONS)
        image.emv_lifecycle = IMAGE_PERSONALISED
        image.emv_keys.pop("perso_smi", None)
        image.emv_keys.pop("perso_smc", None)
    _script_done(ctx)
    return b""


def fci(ctx: CardContext, node: Node) -> bytes:
    return tlv.tlv(
        0x6F,
        tlv.tlv(0x84, node.aid or b"")
        + tlv.tlv(
            0xA5, tlv.tlv(0x50, DEBIT_LABEL) + tlv.tlv(0x87, b"\x01") + tlv.tlv(0x9F38, PDOL)
        ),
    )


_CLA_80 = frozenset({0x80})
_CLA_84 = frozenset({0x84})
DEBIT = Application(
    "emv",
    commands={
        0x20: Entry(frozenset({0x00}), verify),
        0xA8: Entry(_CLA_80, get_processing_options),
        0xAE: Entry(_CLA_80, generate_ac),
        0x24: Entry(_CLA_84, pin_change_unblock),
        0xDC: Entry(frozenset({0x00, 0x84}), update_record),
        0xDA: Entry(_CLA_84, put_data),
    },
    record_file=record_file,
    fci=fci,
)
