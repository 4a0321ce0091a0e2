"""The card OS: session state, the INS → handler table and T=0 response rules.

Shaped like virtualsmartcard's ``SmartcardOS``: a handful of methods (ATR,
power up/down, reset, execute) and a table from INS to a handler that returns
response data or raises :class:`card.sw.CardError` with a named status word.

T=0 rules (card.md §Commands): a command with data to return answers
``data + 9000`` when it carries Le (``00`` or the exact length) and ``61xx``
otherwise, holding the data for GET RESPONSE; an Le that is neither ``00`` nor
the exact length answers ``6Cxx``. Commands with side effects (GET CHALLENGE,
INTERNAL AUTHENTICATE, GENERATE AC) check Le *before* acting so a ``6Cxx``
never costs a state change.

Security state belongs to an application: selecting outside the SSSE clears
the SSSE PIN and external authentications; selecting outside the financial
application clears the bank PIN and the EMV transaction **(project choice,
ISO 7816-4 §5.4 "security status of a DF")**. Power-on and reset clear all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from card import emv, files, ssse
from card.apdu import Command, parse
from card.crypto import ecb_encryptor
from card.image import CardImage, CardStorageError
from card.layout import Node, build_tree
from card.sw import SW, CardError, bytes_available, wrong_le

log = logging.getLogger(__name__)

Handler = Callable[["Chip", Command], bytes]


class Session:
    """Everything a power cycle or reset forgets."""

    __slots__ = (
        "bank_pin_ok",
        "challenge",
        "current_df",
        "current_ef",
        "ext_auth",
        "gen_ac_count",
        "gpo_done",
        "last_ac",
        "pending",
        "pending_sw",
        "ssse_pin_ok",
    )

    def __init__(self, mf: Node) -> None:
        self.current_df: Node = mf
        self.current_ef: Node | None = None
        self.ssse_pin_ok = False
        self.bank_pin_ok = False
        self.ext_auth: set[int] = set()
        self.challenge: bytes | None = None
        self.pending = b""
        self.pending_sw = SW.OK
        self.clear_emv()

    def clear_ssse(self) -> None:
        self.ssse_pin_ok = False
        self.ext_auth = set()

    def clear_emv(self) -> None:
        self.bank_pin_ok = False
        self.gpo_done = False
        self.gen_ac_count = 0
        self.last_ac: bytes | None = None

    @property
    def app(self) -> str | None:
        return self.current_df.app


#: INS -> (allowed CLA bytes, handler). UPDATE RECORD, VERIFY and CHANGE PIN
#: dispatch further inside on CLA / P2 / application.
HANDLERS: dict[int, tuple[frozenset[int], Handler]] = {
    0xA4: (frozenset({0x00}), files.select),
    0xB2: (frozenset({0x00}), files.read_record),
    0xDC: (frozenset({0x00, 0x84}), files.update_record),
    0x20: (frozenset({0x00}), ssse.verify),
    0x5E: (frozenset({0x80}), ssse.change_pin),
    0x2C: (frozenset({0x84}), ssse.reset_retry_counter),
    0x84: (frozenset({0x00}), ssse.get_challenge),
    0x82: (frozenset({0x00}), ssse.external_authenticate),
    0x88: (frozenset({0x00}), ssse.internal_authenticate),
    0xA8: (frozenset({0x80}), emv.get_processing_options),
    0xCA: (frozenset({0x80}), emv.get_data),
    0xAE: (frozenset({0x80}), emv.generate_ac),
    0x24: (frozenset({0x84}), emv.pin_change_unblock),
    0xDA: (frozenset({0x84}), emv.put_data),
}
KNOWN_CLA = frozenset({0x00, 0x80, 0x84})
INS_GET_RESPONSE = 0xC0

_SW_OK = b"\x90\x00"


def _sw(sw: int) -> bytes:
    return bytes((sw >> 8, sw & 0xFF))


class Chip:
    """One card's operating system bound to its image."""

    def __init__(self, image: CardImage, *, strict: bool = False) -> None:
        self.image = image
        self.strict = strict  # re-raise unexpected exceptions (tests only)
        self.mf, self.nodes = build_tree()
        self.session = Session(self.mf)
        self.warning: int | None = None  # e.g. 6281 to replace 9000 on this response
        #: the last failure to write the image (the command it hit answered 6985)
        self.storage_failure: CardStorageError | None = None
        self._ecb: dict[int, object] = {}

    # --- lifecycle ---------------------------------------------------------------------

    def reset_session(self) -> None:
        self.session = Session(self.mf)

    # --- helpers for handlers -------------------------------------------------------------

    def encrypt_block(self, kid: int, block: bytes) -> bytes:
        """``ENC(K_kid, block)`` with a cached ECB encryptor."""
        enc = self._ecb.get(kid)
        if enc is None:
            enc = ecb_encryptor(self.image.algorithm, self.image.ssse_keys[kid])
            self._ecb[kid] = enc
        return enc.update(block)  # type: ignore[attr-defined]

    def enter(self, node: Node) -> None:
        """Make ``node`` current, clearing the security state of an application left."""
        session = self.session
        new_df = node.df()
        old_app, new_app = session.current_df.app, new_df.app
        if old_app != new_app:
            if old_app == "ssse":
                session.clear_ssse()
            elif old_app == "emv":
                session.clear_emv()
        session.current_df = new_df
        session.current_ef = node if node.records else None

    # --- APDU execution ---------------------------------------------------------------

    def execute(self, apdu: bytes) -> bytes:
        """Response data + SW1 SW2 for any byte string; never raises (unless strict)."""
        session = self.session
        pending, pending_sw = session.pending, session.pending_sw
        session.pending = b""
        try:
            cmd = parse(apdu)
            if cmd.cla not in KNOWN_CLA:
                raise CardError(SW.CLA_NOT_SUPPORTED)
            if cmd.ins == INS_GET_RESPONSE:
                return self._get_response(cmd, pending, pending_sw)
            entry = HANDLERS.get(cmd.ins)
            if entry is None:
                raise CardError(SW.INS_NOT_SUPPORTED)
            if cmd.cla not in entry[0]:
                raise CardError(SW.CLA_NOT_SUPPORTED)
            self.warning = None
            data = entry[1](self, cmd)
        except CardError as err:
            return _sw(err.sw)
        except CardStorageError as exc:
            # Persistent state could not be written: the command must not succeed
            # (card.md §Persistence: written before the response). An EEPROM
            # write failure has no listed status word, so: conditions not satisfied.
            self.storage_failure = exc
            log.error("card image not written: %s", exc)
            return _sw(SW.CONDITIONS)
        except Exception:
            if self.strict:
                raise
            log.exception("card OS failure on %s", bytes(apdu).hex())
            return _sw(SW.CONDITIONS)
        ok = self.warning or SW.OK
        if not data:
            return _sw(ok)
        le = cmd.le
        n = len(data)
        if le is None:
            session.pending, session.pending_sw = data, ok
            return _sw(bytes_available(n))
        if le == 0 or le == n:
            return data + (_SW_OK if ok == SW.OK else _sw(ok))
        return _sw(wrong_le(n))

    def _get_response(self, cmd: Command, pending: bytes, pending_sw: int) -> bytes:
        if cmd.cla != 0x00:
            raise CardError(SW.CLA_NOT_SUPPORTED)
        if cmd.data:
            raise CardError(SW.WRONG_LENGTH)
        if cmd.p1 or cmd.p2:
            raise CardError(SW.WRONG_P1P2)
        if not pending:
            raise CardError(SW.CONDITIONS)
        n = len(pending)
        le = cmd.le or min(n, 256)  # Le absent or 00: everything (up to 256)
        if le > n:
            self.session.pending, self.session.pending_sw = pending, pending_sw
            return _sw(wrong_le(n))
        if le < n:
            self.session.pending, self.session.pending_sw = pending[le:], pending_sw
            return pending[:le] + _sw(bytes_available(n - le))
        return pending + _sw(pending_sw)
