"""SSSE security commands (card.md §Commands, §Keys).

* VERIFY ``00 20 00 00`` — SSSE PIN, packed BCD, Lc 2–6; ``P2 80`` is the bank
  PIN (:mod:`card.emv`). Each PIN only while its application is selected
  (the MF counts as the SSSE's side); otherwise ``6985``.
* CHANGE PIN ``80 5E 01 00 old FF new`` — the PIN of the selected application.
* RESET RETRY COUNTER ``84 2C 03 00 04 MAC`` / ``84 2C 02 00 Lc newPIN MAC`` —
  MAC (key 03, IV = last challenge) over ``CLA INS P1 P2 Lc || newPIN``
  where Lc counts the MAC **(project choice)**; a wrong MAC is ``6982``.
* GET CHALLENGE — one block (8 bytes 3DES, 16 bytes SM4).
* EXTERNAL AUTHENTICATE ``00 82 00 kid`` — keys 04 and 07; the challenge is
  used up either way; wrong ``6300``; other key ids ``6A88``.
* INTERNAL AUTHENTICATE ``00 88 00 kid`` — keys 01 (free) and 02 (SSSE PIN
  verified in this session, else ``6982``); other key ids ``6A88``.

SSSE key commands answer ``6985`` while the financial application or the PSE
is selected.
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING

from card import emv, pins
from card.apdu import Command, check_le
from card.crypto import ssse_mac
from card.keystore import (
    KEY_INTERNAL_AUTH,
    KEY_MAINTENANCE,
    KEY_MEDICAL_READ,
    KEY_PIN_UNBLOCK,
    KEY_TRANSACTION,
)
from card.sw import SW, CardError

if TYPE_CHECKING:
    from card.chip import Chip

EXTERNAL_KEYS = frozenset({KEY_MAINTENANCE, KEY_MEDICAL_READ})
INTERNAL_KEYS = frozenset({KEY_INTERNAL_AUTH, KEY_TRANSACTION})


def _require_ssse_side(chip: Chip) -> None:
    if chip.session.current_df.app in ("emv", "pse"):
        raise CardError(SW.CONDITIONS)


def verify(chip: Chip, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    if cmd.p2 == 0x80:
        return emv.verify_bank_pin(chip, cmd)
    if cmd.p2 != 0x00:
        raise CardError(SW.REF_NOT_FOUND)
    _require_ssse_side(chip)
    session, pin = chip.session, chip.image.ssse_pin
    if not cmd.data:
        pins.status(pin, session.ssse_pin_ok)
        return b""
    if not 2 <= len(cmd.data) <= 6:
        raise CardError(SW.WRONG_LENGTH)
    session.ssse_pin_ok = False
    pins.present(chip.image, pin, pins.bcd_pin(cmd.data))
    session.ssse_pin_ok = True
    return b""


def change_pin(chip: Chip, cmd: Command) -> bytes:
    if cmd.p1 != 0x01 or cmd.p2 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    app = chip.session.current_df.app
    if app == "pse":
        raise CardError(SW.CONDITIONS)
    pin = chip.image.bank_pin if app == "emv" else chip.image.ssse_pin
    old, sep, new = cmd.data.partition(b"\xff")
    if not sep or not 2 <= len(old) <= 6 or not 2 <= len(new) <= 6:
        raise CardError(SW.WRONG_LENGTH)
    new_digits = pins.bcd_pin(new)
    if new_digits is None:
        raise CardError(SW.WRONG_LENGTH)
    pins.present(chip.image, pin, pins.bcd_pin(old))
    pin.set(new_digits)
    chip.image.commit()
    return b""


def reset_retry_counter(chip: Chip, cmd: Command) -> bytes:
    if cmd.p2 != 0x00 or cmd.p1 not in (0x02, 0x03):
        raise CardError(SW.WRONG_P1P2)
    _require_ssse_side(chip)
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
    session, image = chip.session, chip.image
    challenge = session.challenge
    if challenge is None:
        raise CardError(SW.CONDITIONS)
    key = image.ssse_keys.get(KEY_PIN_UNBLOCK)
    if key is None:
        raise CardError(SW.REF_NOT_FOUND)
    session.challenge = None
    message = cmd.header + bytes((len(data),)) + data[:-4]
    if not hmac.compare_digest(ssse_mac(image.algorithm, key, message, challenge), data[-4:]):
        raise CardError(SW.SECURITY_STATUS)
    if new_digits is None:
        image.ssse_pin.tries_left = image.ssse_pin.limit
    else:
        image.ssse_pin.set(new_digits)
    image.commit()
    return b""


def get_challenge(chip: Chip, cmd: Command) -> bytes:
    if cmd.p1 or cmd.p2:
        raise CardError(SW.WRONG_P1P2)
    if cmd.data:
        raise CardError(SW.WRONG_LENGTH)
    size = chip.image.algorithm.block_size
    check_le(cmd, size)
    challenge = os.urandom(size)
    chip.session.challenge = challenge
    return challenge


def external_authenticate(chip: Chip, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    _require_ssse_side(chip)
    kid = cmd.p2
    if kid not in EXTERNAL_KEYS or kid not in chip.image.ssse_keys:
        raise CardError(SW.REF_NOT_FOUND)
    if len(cmd.data) != chip.image.algorithm.block_size:
        raise CardError(SW.WRONG_LENGTH)
    session = chip.session
    challenge = session.challenge
    if challenge is None:
        raise CardError(SW.CONDITIONS)
    session.challenge = None
    if not hmac.compare_digest(chip.encrypt_block(kid, challenge), cmd.data):
        session.ext_auth.discard(kid)
        raise CardError(SW.AUTH_FAILED)
    session.ext_auth.add(kid)
    return b""


def internal_authenticate(chip: Chip, cmd: Command) -> bytes:
    if cmd.p1 != 0x00:
        raise CardError(SW.WRONG_P1P2)
    _require_ssse_side(chip)
    kid = cmd.p2
    if kid not in INTERNAL_KEYS or kid not in chip.image.ssse_keys:
        raise CardError(SW.REF_NOT_FOUND)
    size = chip.image.algorithm.block_size
    if len(cmd.data) != size:
        raise CardError(SW.WRONG_LENGTH)
    if kid == KEY_TRANSACTION and not chip.session.ssse_pin_ok:
        raise CardError(SW.SECURITY_STATUS)
    check_le(cmd, size)
    return chip.encrypt_block(kid, cmd.data)
