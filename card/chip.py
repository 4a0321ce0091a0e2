"""The card OS: power and reset, GET RESPONSE, and dispatch to the selected application.

Shaped like virtualsmartcard's ``SmartcardOS``: a handful of methods (ATR,
power up/down, reset, execute) and tables from INS to a handler that returns
response data or raises :class:`card.sw.CardError` with a named status word.
The OS owns the card-wide commands (:data:`CARD_COMMANDS`: SELECT, READ
RECORD, GET CHALLENGE, GET DATA); every other INS goes to the command table of
the application the current DF belongs to (:mod:`card.ssse`, :mod:`card.pboc`,
:mod:`card.pse`; the MF uses the SSSE's security commands). A command another
application has but the selected one does not answers ``6985``; an INS no
application has ``6D00``; a CLA the INS never takes ``6E00``.

T=0 rules (card.md §Commands): a command with data to return answers
``data + 9000`` when it carries Le (``00`` or the exact length) and ``61xx``
otherwise, holding the data for GET RESPONSE; an Le that is neither ``00`` nor
the exact length answers ``6Cxx``. Commands with side effects (GET CHALLENGE,
INTERNAL AUTHENTICATE, GENERATE AC) check Le *before* acting so a ``6Cxx``
never costs a state change.

Security state belongs to one application (card.md §What real cards do; ISO
7816-4 §5.4 "security status of a DF"): selecting another application, or
the MF, clears the PINs verified, the external authentications and the EMV
transaction. Moving inside one application (SSSE → EF05 → DF04) keeps them.
Power-on and reset clear all.
"""

from __future__ import annotations

import logging

from card import iso7816, pboc, pse, ssse
from card.apdu import Command, parse
from card.context import Application, CommandTable, Entry, Session
from card.crypto import ecb_encryptor
from card.image import CardImage, CardStorageError
from card.layout import Node, build_tree
from card.sw import SW, CardError, bytes_available, wrong_le

log = logging.getLogger(__name__)

#: Commands the OS answers whatever is selected.
CARD_COMMANDS: dict[int, Entry] = {
    0xA4: Entry(frozenset({0x00}), iso7816.select),
    0xB2: Entry(frozenset({0x00}), iso7816.read_record),
    0x84: Entry(frozenset({0x00}), iso7816.get_challenge),
    0xCA: Entry(frozenset({0x80}), pboc.get_data),
}
#: Node.app -> the application that owns the node (None: the MF).
APPLICATIONS: dict[str | None, Application] = {
    None: ssse.MF,
    "ssse": ssse.SSSE,
    "pse": pse.PSE,
    "emv": pboc.DEBIT,
}
KNOWN_CLA = frozenset({0x00, 0x80, 0x84})
INS_GET_RESPONSE = 0xC0


def _all_classes(tables: list[CommandTable]) -> dict[int, frozenset[int]]:
    classes: dict[int, frozenset[int]] = {}
    for table in tables:
        for ins, entry in table.items():
            classes[ins] = classes.get(ins, frozenset()) | entry.classes
    return classes


#: INS -> every CLA some table takes it with (to tell 6985 from 6E00 and 6D00).
ALL_CLASSES = _all_classes([CARD_COMMANDS, *(a.commands for a in APPLICATIONS.values())])

_SW_OK = b"\x90\x00"


def _sw(sw: int) -> bytes:
    return bytes((sw >> 8, sw & 0xFF))


class Chip:
    """One card's operating system bound to its image (a :class:`card.context.CardContext`)."""

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

    # --- the context handlers see ----------------------------------------------------------

    def encrypt_block(self, kid: int, block: bytes) -> bytes:
        """``ENC(K_kid, block)`` with a cached ECB encryptor."""
        enc = self._ecb.get(kid)
        if enc is None:
            enc = ecb_encryptor(self.image.algorithm, self.image.ssse_keys[kid])
            self._ecb[kid] = enc
        return enc.update(block)  # type: ignore[attr-defined]

    @property
    def application(self) -> Application:
        return APPLICATIONS[self.session.current_df.app]

    def application_of(self, node: Node) -> Application:
        return APPLICATIONS[node.app]

    def enter(self, node: Node) -> None:
        """Make ``node`` current, clearing the security state of an application left."""
        session = self.session
        new_df = node.df()
        old_app, new_app = session.current_df.app, new_df.app
        if old_app != new_app:
            session.clear_security()
        session.current_df = new_df
        session.current_ef = node if node.records else None

    # --- APDU execution ---------------------------------------------------------------

    def _entry(self, cmd: Command) -> Entry:
        """The handler for ``cmd`` in the selected application, or the refusal's status word."""
        entry = CARD_COMMANDS.get(cmd.ins) or self.application.commands.get(cmd.ins)
        if entry is not None and cmd.cla in entry.classes:
            return entry
        classes = ALL_CLASSES.get(cmd.ins)
        if classes is None:
            raise CardError(SW.INS_NOT_SUPPORTED)
        if cmd.cla not in classes:
            raise CardError(SW.CLA_NOT_SUPPORTED)
        raise CardError(SW.CONDITIONS)  # another application's command

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
            handler = self._entry(cmd).handler
            self.warning = None
            data = handler(self, cmd)
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
