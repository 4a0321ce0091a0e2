"""The social security environment (SSSE) application: its command table (card.md §Commands, §Keys).

* VERIFY ``00 20 00 00`` — SSSE PIN, packed BCD, Lc 2–6; ``P2 80`` (the bank
  PIN) answers ``6985`` here: it belongs to the financial application.
* CHANGE PIN ``80 5E 01 00 old FF new`` — the SSSE PIN.
* RESET RETRY COUNTER ``84 2C 03 00 04 MAC`` / ``84 2C 02 00 Lc newPIN MAC`` —
  MAC (key 03, IV = last challenge) over ``CLA INS P1 P2 Lc || newPIN``
  where Lc counts the MAC **(project choice)**; a wrong MAC is ``6982``.
* EXTERNAL AUTHENTICATE ``00 82 00 kid ENC(Kkid, challenge padded to a
  block)`` — keys 04, 07 and 0A (terminal authentication); the challenge is
  used up either way; wrong ``6300``; other key ids ``6A88``.
* INTERNAL AUTHENTICATE ``00 88 00 kid`` — keys 01 (free; P2 ``00`` means 01)
  and 02 (SSSE PIN verified in this session, else ``6982``); other key ids
  ``6A88``. The answer is ``ENC(Kkid, data)``, except that P2 ``00`` on an SM4
  card answers its left 8 bytes (card.md §What real cards do, shape of the
  trace; the value is a project choice).

SELECT SSSE answers the FCI real cards give (card.md §What real cards do):
``6F 1C 84 0F <AID> A5 09 88 01 1E 9F 0C 03 86 01 gg``, 30 bytes, where
``gg`` is the algorithm indicator: ``01`` 3DES, ``03`` SM4.
* UPDATE RECORD ``00 DC`` — EF05/EF06/DF04 records after EXTERNAL
  AUTHENTICATE 04; the data is the whole record ``tag len value`` and must
  match the record's template (wrong size ``6700``, wrong tag ``6985``).

The MF counts as the SSSE's side: its table (:data:`MF`) holds the same
security commands, without UPDATE RECORD (no record file there).
"""

from __future__ import annotations

import hmac

from card import pins
from card.apdu import Command, check_le
from card.context import Application, CardContext, Entry
from card.crypto import Algorithm, ssse_mac
from card.iso7816 import record_reference, resolve
from card.keystore import (
    KEY_INTERNAL_AUTH,
    KEY_MAINTENANCE,
    KEY_MEDICAL_READ,
    KEY_PIN_UNBLOCK,
    KEY_TERMINAL_AUTH,
    KEY_TRANSACTION,
)
from card.layout import SSSE_RECORDS, Node
from card.sw import SW, CardError
from card.tlv import tlv

EXTERNAL_KEYS = frozenset({KEY_MAINTENANCE, KEY_MEDICAL_READ, KEY_TERMINAL_AUTH})
INTERNAL_KEYS = frozenset({KEY_INTERNAL_AUTH, KEY_TRANSACTION})
#: FCI algorithm indicator (tag 86 inside 9F0C): 3DES 01 (project choice), SM4 03 (trace)
ALGORITHM_INDICATOR = {Algorithm.TDES: 0x01, Algorithm.SM4: 0x03}
#: INTERNAL AUTHENTICATE P2 00 on an SM4 card answers this many bytes (the left half)
SHORT_ANSWER = 8
_SFI_FILES = {0x05: "EF05", 0x06: "EF06"}


def verify(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    if cmd.p2 == 0x80:
        raise CardError(SW.CONDITIONS)  # the bank PIN: only in the financial application
    if cmd.p2 != 0x00:
        raise CardError(SW.REF_NOT_FOUND)
    session, pin = ctx.session, ctx.image.ssse_pin
    if not cmd.data:
        pins.status(pin, session.ssse_pin_ok)
        return b""
    if not 2 <= len(cmd.data) <= 6:
        raise CardError(SW.WRONG_LENGTH)
    session.ssse_pin_ok = False
    pins.present(ctx.image, pin, pins.bcd_pin(cmd.data))
    session.ssse_pin_ok = True
    return b""


def change_pin(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 != 0x01 or cmd.p2 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    pins.change(ctx.image, ctx.image.ssse_pin, cmd.data)
    return b""


def reset_retry_counter(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p2 != 0x00 or cmd.p1 not in (0x02, 0x03):
        raise CardError(SW.WRONG_P1P2)
    data = cmd.data
    if cmd.p1 == 0x03:
        if len(data) != 4:
            raise CardError(SW.WRONG_LENGTH)
        new_digits = None
    else:
        if not 6 <= len(data) <= 10:
            raise CardError(SW.WRONG_LENGTH)
        new_digits = pins.bcd_pin(data[:-4])
        if new_digits is None:
            raise CardError(SW.WRONG_LENGTH)
    session, image = ctx.session, ctx.image
    if session.challenge is None:
        raise CardError(SW.CONDITIONS)
    key = image.ssse_keys.get(KEY_PIN_UNBLOCK)
    if key is None:
        raise CardError(SW.REF_NOT_FOUND)
    challenge = session.challenge_block(image.algorithm.block_size)
    message = cmd.header + bytes((len(data),)) + data[:-4]
    if not hmac.compare_digest(ssse_mac(image.algorithm, key, message, challenge), data[-4:]):
        raise CardError(SW.SECURITY_STATUS)
    if new_digits is None:
        image.ssse_pin.tries_left = image.ssse_pin.limit
    else:
        image.ssse_pin.set(new_digits)
    image.commit()
    return b""


def external_authenticate(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    kid = cmd.p2
    if kid not in EXTERNAL_KEYS or kid not in ctx.image.ssse_keys:
        raise CardError(SW.REF_NOT_FOUND)
    size = ctx.image.algorithm.block_size
    if len(cmd.data) != size:
        raise CardError(SW.WRONG_LENGTH)
    session = ctx.session
    challenge = session.challenge_block(size)
    if not hmac.compare_digest(ctx.encrypt_block(kid, challenge), cmd.data):
        session.ext_auth.discard(kid)
        raise CardError(SW.AUTH_FAILED)
    session.ext_auth.add(kid)
    return b""


def internal_authenticate(ctx: CardContext, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    kid = cmd.p2 or KEY_INTERNAL_AUTH
    if kid not in INTERNAL_KEYS or kid not in ctx.image.ssse_keys:
        raise CardError(SW.REF_NOT_FOUND)
    size = ctx.image.algorithm.block_size
    if len(cmd.data) != size:
        raise CardError(SW.WRONG_LENGTH)
    if kid == KEY_TRANSACTION and not ctx.session.ssse_pin_ok:
        raise CardError(SW.SECURITY_STATUS)
    answer_length = SHORT_ANSWER if cmd.p2 == 0x00 else size
    check_le(cmd, answer_length)
    return ctx.encrypt_block(kid, cmd.data)[:answer_length]


def update_record(ctx: CardContext, cmd: Command) -> bytes:
    sfi, mode = record_reference(cmd)
    node = resolve(ctx, sfi)
    key: str = node.records  # type: ignore[assignment]
    templates = SSSE_RECORDS[key]
    if KEY_MAINTENANCE not in ctx.session.ext_auth:
        raise CardError(SW.SECURITY_STATUS)
    if mode == 4:
        if cmd.p1 == 0:
            raise CardError(SW.WRONG_PARAMETERS)
        spec = next((t for t in templates if t.number == cmd.p1), None)
    else:
        spec = next((t for t in templates if t.tag == cmd.p1), None)
    if spec is None:
        raise CardError(SW.RECORD_NOT_FOUND)
    data = cmd.data
    if len(data) != 2 + spec.length or data[1] != spec.length:
        raise CardError(SW.WRONG_LENGTH)
    if data[0] != spec.tag:
        raise CardError(SW.CONDITIONS)
    image = ctx.image
    image.records.setdefault(key, {})[spec.number] = data
    image.damaged.discard((key, spec.number))
    image.commit()
    return b""


def record_file(ctx: CardContext, sfi: int) -> Node:
    name = _SFI_FILES.get(sfi)
    if name is None:
        raise CardError(SW.FILE_NOT_FOUND)
    return ctx.nodes[name]


def fci(ctx: CardContext, node: Node) -> bytes:
    indicator = ALGORITHM_INDICATOR[ctx.image.algorithm]
    proprietary = tlv(0x88, b"\x1e") + tlv(0x9F0C, tlv(0x86, bytes((indicator,))))
    return tlv(0x6F, tlv(0x84, node.aid or b"") + tlv(0xA5, proprietary))


_CLA_00 = frozenset({0x00})
_SECURITY_COMMANDS = {
    0x20: Entry(_CLA_00, verify),
    0x5E: Entry(frozenset({0x80}), change_pin),
    0x2C: Entry(frozenset({0x84}), reset_retry_counter),
    0x82: Entry(_CLA_00, external_authenticate),
    0x88: Entry(_CLA_00, internal_authenticate),
}

SSSE = Application(
    "ssse",
    commands={**_SECURITY_COMMANDS, 0xDC: Entry(_CLA_00, update_record)},
    record_file=record_file,
    fci=fci,
)
#: The MF: the SSSE's security commands, no record files of its own.
MF = Application("mf", commands=_SECURITY_COMMANDS)
