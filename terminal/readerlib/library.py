"""The reader library's behaviour, in Python: what ``Init``, ``ReadCardBas``, ``VerifyPIN`` and
``ChangePIN`` do (reader-library.md; docs/reader-library.md).

:class:`ReaderLibrary` is what the C entry points (``terminal.readerlib.capi``)
call; every method returns an :class:`Outcome` (a return code and the text for
the output buffer) and never raises. One instance per process
(:data:`LIBRARY`), one call at a time.

``ReadCardBas`` reads the card in the real card's order (card.md §What real
cards do): SELECT SSSE, EF05, GET CHALLENGE, INTERNAL AUTHENTICATE (P2 00, key
01) over the settlement service's ``card_authentication`` nonce — the PSAM checks
the answer (is the card genuine?) and the service records a networked card
authentication whose token becomes ``pBusiCardInfo`` —, GET CHALLENGE and
EXTERNAL AUTHENTICATE key 0A (is the terminal genuine?), then EF06. The card
session stays open for ``VerifyPIN``: the PIN from the pad, VERIFY, then
INTERNAL AUTHENTICATE key 02 over a ``pin_verification`` nonce upgrades the
authentication to PIN-verified.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import datetime

from card.keystore import KEY_TERMINAL_AUTH
from terminal import apdu
from terminal.cardinfo import CardDataError, HolderData, IssuanceData, parse_identification_code
from terminal.client.http import RetryPolicy
from terminal.client.settlement import SettlementClient
from terminal.flows.common import CardRefused, verify_pin
from terminal.flows.pins import change_ssse_pin
from terminal.psam import Psam
from terminal.readerlib.abi import ITYPES, Code
from terminal.readerlib.cardinfo import BasicCardInfo, terminal_number
from terminal.readerlib.errors import LibraryError, failure
from terminal.readerlib.pinpad import ScriptedPad, TtyPad
from terminal.readerlib.settings import InitSettings, parse_init
from terminal.readers.base import ReaderError
from terminal.session import EF05_RECORDS, EF06_RECORDS, INTERNAL_AUTH_P2, CardSession

PURPOSE_CARD = "card_authentication"
PURPOSE_PIN = "pin_verification"


@dataclass(frozen=True)
class Outcome:
    """A call's return code, the text of its (first) output buffer, and ``pBusiCardInfo``."""

    code: Code
    text: str
    busi: str = ""


@dataclass
class _Card:
    """The card of the last ``ReadCardBas``, its open session and its authentication."""

    connection: object
    session: CardSession
    card_no: str
    token: str | None


class ReaderLibrary:
    """One process's reader library (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.settings: InitSettings | None = None
        self._psam: Psam | None = None
        self._terminal_no = ""
        self._client: SettlementClient | None = None
        self._pad: ScriptedPad | TtyPad | None = None
        self._reader = None
        self._card: _Card | None = None

    # --- the calls ------------------------------------------------------------------

    def init(self, text: str) -> Outcome:
        """``Init``: settings, PSAM, service client and PIN pad; no card, no network yet."""
        with self._lock:
            return self._run("Init", self._init, text)

    def read_card_bas(self, itype: int | None = None) -> Outcome:
        """``ReadCardBas`` (``itype`` None) or ``iReadCardBas(itype)``."""
        with self._lock:
            return self._run("ReadCardBas", self._read_card_bas, itype)

    def verify_pin(self, itype: int | None = None) -> Outcome:
        with self._lock:
            return self._run("VerifyPIN", self._verify_pin, itype)

    def change_pin(self, itype: int | None = None) -> Outcome:
        with self._lock:
            return self._run("ChangePIN", self._change_pin, itype)

    def close(self) -> None:
        """Release the card, the reader, the pad and the client (also at process exit)."""
        with self._lock:
            self._drop_card()
            self._drop_reader()
            if self._pad is not None:
                self._pad.close()
                self._pad = None
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- the work -------------------------------------------------------------------

    def _run(self, name: str, work, *args) -> Outcome:
        try:
            outcome = work(*args)
        except BaseException as exc:  # the HIS process must keep running, whatever happened
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            code, text = failure(exc)
            if code in (Code.READER, Code.CARD, Code.NO_CARD):
                self._drop_card()
            if code in (Code.READER, Code.CARD):
                self._drop_reader()  # reopened on the next call (pcscd may have restarted)
            outcome = Outcome(code, text)
        self._log(name, outcome)
        return outcome

    def _init(self, text: str) -> Outcome:
        self.close()  # a failed Init leaves the library uninitialised, not half-configured
        self.settings = self._psam = None
        settings = parse_init(text)
        psam = Psam.load(settings.psam_path)
        terminal_no = terminal_number(psam, settings.psam_path)
        self._pad = TtyPad() if settings.pinpad == "tty" else ScriptedPad(_reader_key(settings))
        self._client = SettlementClient(
            settings.service_url,
            settings.access_key,
            timeout=settings.timeout_s,
            retry=RetryPolicy(attempts=2),
        )
        self.settings, self._psam, self._terminal_no = settings, psam, terminal_no
        return Outcome(Code.OK, "初始化成功")

    def _ready(self) -> tuple[InitSettings, SettlementClient]:
        if self.settings is None or self._client is None:
            raise LibraryError(Code.NOT_INITIALISED, "未初始化：请先调用Init（且Init返回0）")
        return self.settings, self._client

    def _read_card_bas(self, itype: int | None) -> Outcome:
        settings, client = self._ready()
        _check_itype(itype)
        self._drop_card()
        session, connection = self._connect(settings)
        session.select_ssse()
        issuance = IssuanceData.from_records(
            session.read_records(apdu.SFI_ISSUANCE, EF05_RECORDS, "EF05")
        )
        if parse_identification_code(issuance.identification_code) != (
            session.identity.region,
            session.identity.card_factor,
        ):
            raise CardDataError("EF05 card identification code does not match the ATR")
        card_no = issuance.card_number
        if issuance.expiry_date < datetime.now().date():
            raise CardRefused("card_expired", card_no, f"card {card_no} expired (EF05)")
        session.psam.require(KEY_TERMINAL_AUTH, session.identity, "authenticate the terminal")
        token = self._authenticate(session, client, card_no)
        session.external_authenticate(KEY_TERMINAL_AUTH, "authenticate the terminal")
        holder = HolderData.from_records(
            session.read_records(apdu.SFI_HOLDER, EF06_RECORDS, "EF06")
        )
        info = BasicCardInfo.from_card(
            issuance, holder, session.atr, self._terminal_no, _device_no(settings)
        )
        self._card = _Card(connection, session, card_no, token)
        return Outcome(Code.OK, info.text(), token)

    def _connect(self, settings: InitSettings) -> tuple[CardSession, object]:
        if self._reader is None:
            from terminal.readers import open_reader

            self._reader = open_reader(settings.reader)
        if settings.wait_s > 0:
            self._reader.wait_for_card(settings.wait_s)
        elif not self._reader.card_present():
            raise LibraryError(
                Code.NO_CARD, f"读卡器（{self._reader.name}）中没有卡，请插入社会保障卡"
            )
        connection = self._reader.connect()
        try:
            return CardSession(connection, self._psam, connection.atr), connection
        except Exception:
            connection.close()
            raise

    def _authenticate(self, session: CardSession, client: SettlementClient, card_no: str) -> str:
        """GET CHALLENGE, then INTERNAL AUTHENTICATE (P2 00: key 01) over the service's nonce,
        checked by the PSAM and by the service, which records a networked card authentication;
        its token."""
        challenge = client.challenge(card_no, PURPOSE_CARD)
        nonce = bytes.fromhex(challenge["nonce"])
        session.get_challenge()  # the real reading order (card.md §What real cards do)
        command = apdu.internal_authenticate(INTERNAL_AUTH_P2, nonce, apdu.INTERNAL_AUTH_ANSWER)
        answer = session.send(command, "INTERNAL AUTH")
        session.psam.check_internal_auth(session.identity, nonce, answer)
        auth = client.authenticate_card(card_no, challenge["challenge_id"], answer.hex().upper())
        org_id = self.settings.org_id if self.settings else None
        if org_id and auth.get("fixmedins_code") != org_id:
            raise LibraryError(
                Code.BAD_ARGUMENT,
                f"ORG_ID（{org_id}）与ACCESS_KEY所属机构（{auth.get('fixmedins_code')}）不一致",
            )
        return auth["token"]

    def _current_card(self) -> _Card:
        if self._card is None:
            raise LibraryError(Code.SEQUENCE, "请先读卡（ReadCardBas），再校验或修改密码")
        return self._card

    def _verify_pin(self, itype: int | None) -> Outcome:
        settings, client = self._ready()
        _check_itype(itype)
        card = self._current_card()
        pin = self._pad.get(settings.pin_timeout_s, "请输入社保卡密码：")
        verify_pin(card.session, client, card.card_no, lambda _prompt: pin)
        if card.token is not None:
            challenge = client.challenge(card.card_no, PURPOSE_PIN)
            cryptogram = card.session.card_present_proof(bytes.fromhex(challenge["nonce"]))
            client.verify_card_authentication_pin(
                card.token, challenge["challenge_id"], cryptogram.hex().upper()
            )
        return Outcome(Code.OK, "密码校验成功")

    def _change_pin(self, itype: int | None) -> Outcome:
        settings, client = self._ready()
        _check_itype(itype)
        card = self._current_card()
        old = self._pad.get(settings.pin_timeout_s, "请输入原密码：")
        new = self._pad.get(settings.pin_timeout_s, "请输入新密码：")
        again = self._pad.get(settings.pin_timeout_s, "请再次输入新密码：")
        if new != again:
            raise LibraryError(Code.BAD_ARGUMENT, "两次输入的新密码不一致，密码未修改")
        try:
            apdu.pin_block(new)
        except ValueError:
            raise LibraryError(Code.BAD_ARGUMENT, "新密码格式不正确，密码未修改") from None
        change_ssse_pin(card.session, client, old, new)
        return Outcome(Code.OK, "密码修改成功")

    # --- housekeeping ---------------------------------------------------------------

    def _drop_card(self) -> None:
        card, self._card = self._card, None
        if card is not None:
            with contextlib.suppress(ReaderError, OSError):  # the card or pcscd is gone already
                card.connection.close()

    def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(ReaderError, OSError):  # pcscd is gone already
                reader.close()

    def _log(self, name: str, outcome: Outcome) -> None:
        """One line per call in ``LOG_PATH`` (never a PIN: no text here holds one)."""
        settings = self.settings
        if settings is None or settings.log_path is None:
            return
        path = settings.log_path
        if path.suffix != ".log":
            path = path / f"sscardreader-{datetime.now():%Y%m%d}.log"
        line = f"{datetime.now().isoformat(timespec='milliseconds')} {name} {int(outcome.code)} "
        line += outcome.text.replace("\n", " ") + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as log:
                log.write(line)
        except OSError:
            pass  # a log that cannot be written never fails a card read


def _check_itype(itype: int | None) -> None:
    if itype is None or itype in (1, 3, 4):
        return
    if itype == 2:
        raise LibraryError(Code.UNSUPPORTED, "读卡器不支持非接触读卡（iType=2），请用1（接触）或3")
    raise LibraryError(
        Code.BAD_ARGUMENT, f"iType必须是{'、'.join(f'{k}（{v}）' for k, v in ITYPES.items())}"
    )


def _reader_key(settings: InitSettings) -> str | int:
    return 0 if settings.reader is None else settings.reader


def _device_no(settings: InitSettings) -> str:
    if settings.device_no:
        return settings.device_no
    key = _reader_key(settings)
    return f"SSCARD{key:04d}" if isinstance(key, int) else "SSCARD0000"


#: The one library of this process (the C entry points use it).
LIBRARY = ReaderLibrary()
