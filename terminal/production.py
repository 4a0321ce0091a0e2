"""Card production at the card centre and the bank (issuance.md steps 5 and 6).

Step 5 (印刷封装, 社保信息写入) — :func:`personalise_ssse`: the card centre's
terminal takes a blank card (file structure present, its own diversified keys
loaded, every record empty; ``card.issue.new_blank_card``) and writes EF05,
EF06 and DF04 through the card's own commands: SELECT SSSE, INTERNAL
AUTHENTICATE 01 (is this one of the issuer's cards?), GET CHALLENGE +
EXTERNAL AUTHENTICATE 04 with the PSAM's maintenance key, then UPDATE RECORD
for every record (DF04 after SELECT DF04, SFI 0 = current file). Nothing here
touches a card image file: every byte goes through a reader.

Step 6 (银行开户, 金融信息写入) — :func:`write_financial_app`: the issuing
bank's terminal opens a secure channel to the blank financial application
(GET DATA ATC, GET CHALLENGE) and sends the issuer-script personalisation
(``84 DA`` keys, ``84 24`` bank PIN, ``84 DC`` records, ``84 DA DF7F``) built
by ``card.emv_script.personalisation_script`` with the keys only the bank's
PSAM holds.

Both are read back in a fresh card session (a new connection = a reset) and
compared field by field with what was ordered (:func:`verify_ssse`,
:func:`verify_financial_app`); the service is told a step is done only when
the card reads back identically. :func:`personalise` and :func:`open_account`
are the whole workflow of one step against the service's API (order → write
→ read back → report, or a recorded production fault).

Record layouts: card.md §SSSE files and §Financial application, built by
``card.issue.ssse_records`` / ``card.issue.emv_records`` so the card, the
factory and this terminal share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import NoReturn

from card import tlv
from card.emv_script import personalisation_script
from card.issue import CardHolder, IssueError, emv_records, ssse_records
from card.sw import SW
from terminal import apdu
from terminal.cardinfo import CardDataError, CardIdentity
from terminal.client.applications import ApplicationsClient
from terminal.emv import DEBIT_AID, read_financial_app
from terminal.psam import NotEntitled, Psam
from terminal.session import EF05_RECORDS, CardSession

SFI_CURRENT = 0  # UPDATE RECORD / READ RECORD on the currently selected file (DF04)


class ProductionError(Exception):
    """Personalisation or the bank's write failed; the message says what to do."""


@dataclass(frozen=True)
class PersonalisationOrder:
    """Everything the card centre writes onto one card (the service's order, step 5)."""

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
    insurance_type: str  # '310' / '390'
    psn_no: str
    bank_code: str
    insured_status: str = "1"

    @classmethod
    def from_json(cls, data: dict) -> PersonalisationOrder:
        """From the service's ``personalisation-order`` answer (dates ISO)."""
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
                insurance_type=data["insurance_type"],
                psn_no=data["psn_no"],
                bank_code=data["bank_code"],
                insured_status=data.get("insured_status", "1"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProductionError(f"malformed personalisation order: {exc}") from exc

    @property
    def holder(self) -> CardHolder:
        try:
            return CardHolder(
                name=self.name,
                ssn=self.ssn,
                sex=self.sex,
                nation=self.nation,
                birth_date=self.birth_date,
                birthplace=self.birthplace,
            )
        except IssueError as exc:
            raise ProductionError(f"the order's holder data cannot go on a card: {exc}") from exc

    def records(self, identity: CardIdentity) -> dict[str, dict[int, bytes]]:
        """EF05 / EF06 / DF04 records for the blank card ``identity``."""
        if identity.region != self.region:
            raise ProductionError(
                f"the blank card belongs to region {identity.region}, the order to "
                f"{self.region}: take a blank card of region {self.region}"
            )
        try:
            return ssse_records(
                self.holder,
                algorithm=identity.algorithm,
                region=self.region,
                card_factor=identity.card_factor,
                card_number=self.card_no,
                issue_date=self.issue_date,
                expiry_date=self.expiry_date,
                insurance_type=self.insurance_type,
                psn_no=self.psn_no,
                insured_status=self.insured_status,
                init_org=self.init_org,
            )
        except IssueError as exc:
            raise ProductionError(f"the order cannot go on a card: {exc}") from exc


@dataclass(frozen=True)
class Personalised:
    """What step 5 reports to the service."""

    card_no: str
    card_id_code: str  # hex upper-case
    algorithm: str
    issue_date: date
    expiry_date: date
    apdu_count: int

    def to_json(self) -> dict:
        return {
            "card_no": self.card_no,
            "card_id_code": self.card_id_code,
            "algorithm": self.algorithm,
            "issue_date": self.issue_date.isoformat(),
            "expiry_date": self.expiry_date.isoformat(),
            "read_back_matches": True,
        }


# --- step 5: the card centre -------------------------------------------------------------


def _require_blank(session: CardSession) -> None:
    """A card whose EF05 already carries data is not a blank: never overwrite a card."""
    _data, sw = session.exchange(apdu.read_record(apdu.SFI_ISSUANCE, 1))
    if sw == SW.OK:
        raise ProductionError(
            "this card is already personalised (EF05 has data): take a blank card from the "
            "chip maker's delivery"
        )
    if sw != SW.RECORD_NOT_FOUND:
        raise apdu.CardStatusError("READ RECORD EF05.1", sw)


def personalise_ssse(session: CardSession, order: PersonalisationOrder) -> Personalised:
    """Write EF05 / EF06 / DF04 of a blank card with the card's own commands."""
    identity = session.identity
    records = order.records(identity)
    try:
        session.psam.require(0x04, identity, "personalise the card")
        session.select_ssse()
        session.authenticate()  # INTERNAL AUTHENTICATE 01: one of the issuer's blank cards
        _require_blank(session)
        session.authenticate_maintenance()  # GET CHALLENGE + EXTERNAL AUTHENTICATE 04
        for number, record in sorted(records["EF05"].items()):
            session.update_record(apdu.SFI_ISSUANCE, number, record)
        for number, record in sorted(records["EF06"].items()):
            session.update_record(apdu.SFI_HOLDER, number, record)
        session.send(apdu.select_fid(apdu.DF04_FID), "SELECT DF04")
        for number, record in sorted(records["DF04"].items()):
            session.update_record(SFI_CURRENT, number, record)
    except apdu.CardStatusError as exc:
        raise ProductionError(f"personalisation failed: {exc}; set this card aside") from exc
    return Personalised(
        card_no=order.card_no,
        card_id_code=identity.identification_code.hex().upper(),
        algorithm=identity.algorithm.value,
        issue_date=order.issue_date,
        expiry_date=order.expiry_date,
        apdu_count=session.apdu_count,
    )


@dataclass
class ReadBack:
    """The comparison of a card read back through a reader with the order."""

    differences: list[str] = field(default_factory=list)
    records_compared: int = 0

    @property
    def identical(self) -> bool:
        return not self.differences

    def compare_records(
        self, session: CardSession, sfi: int, expected: dict[int, bytes], *, file: str, label: str
    ) -> None:
        """READ RECORD each of ``expected`` from ``sfi``; note every record that differs."""
        for number, record in sorted(expected.items()):
            got = session.send(apdu.read_record(sfi, number), f"READ RECORD {file}.{number}")
            self.records_compared += 1
            if got != record:
                self.differences.append(f"{label} record {number}")


def verify_ssse(
    session: CardSession,
    order: PersonalisationOrder,
    *,
    medical_session: CardSession | None = None,
) -> ReadBack:
    """Read EF05 / EF06 (and DF04 through ``medical_session``) back and compare.

    Every record is read raw and compared byte for byte with what the order
    produces, then the parsed values are checked against the order's fields.
    DF04 is readable only after EXTERNAL AUTHENTICATE 07, which a card
    centre PSAM does not hold: pass a session whose PSAM does (a hospital's
    reader, as the card will be read in use).
    """
    result = ReadBack()
    expected = order.records(session.identity)
    try:
        public = session.read_public()
        session.authenticate()
        for name, sfi in (("EF05", apdu.SFI_ISSUANCE), ("EF06", apdu.SFI_HOLDER)):
            result.compare_records(session, sfi, expected[name], file=name, label=name)
    except (apdu.CardStatusError, CardDataError) as exc:
        result.differences.append(f"read back failed: {exc}")
        return result
    issuance, holder = public.issuance, public.holder
    checks = [
        ("card number", issuance.card_number, order.card_no),
        ("issue date", issuance.issue_date, order.issue_date),
        ("expiry date", issuance.expiry_date, order.expiry_date),
        ("SSN", holder.ssn, order.ssn),
        ("name", holder.name, order.name),
        ("sex", holder.sex, order.sex),
        ("birth date", holder.birth_date, order.birth_date),
        ("birthplace", holder.birthplace, order.birthplace),
        ("nation", holder.nation, order.nation),
    ]
    if medical_session is not None:
        try:
            medical = medical_session.read_medical()
        except (apdu.CardStatusError, CardDataError, NotEntitled) as exc:
            result.differences.append(f"DF04 read back failed: {exc}")
            return result
        result.records_compared += len(expected["DF04"])
        checks += [
            ("insured region", medical.insured_region, order.region),
            ("insurance type", medical.insurance_type, order.insurance_type),
            ("person number", medical.psn_no, order.psn_no),
            ("insured status", medical.insured_status, order.insured_status),
        ]
    for label, got, want in checks:
        if got != want:
            result.differences.append(f"{label}: card {got!r}, order {want!r}")
    return result


# --- step 6: the bank --------------------------------------------------------------------


@dataclass(frozen=True)
class BankAccount:
    """The account the bank opened for the card (the service's ``bank-account`` answer)."""

    application_id: str
    card_no: str
    bank_code: str
    pan: str
    pan_sequence: int
    effective_date: date
    expiry_date: date

    @classmethod
    def from_json(cls, data: dict) -> BankAccount:
        try:
            return cls(
                application_id=data["application_id"],
                card_no=data["card_no"],
                bank_code=data["bank_code"],
                pan=data["pan"],
                pan_sequence=int(data.get("pan_sequence", 1)),
                effective_date=date.fromisoformat(data["effective_date"]),
                expiry_date=date.fromisoformat(data["expiry_date"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProductionError(f"malformed bank account answer: {exc}") from exc


def _holder_on_card(session: CardSession) -> CardHolder:
    """The holder as the card centre wrote it (EF06), for the bank's own records."""
    public = session.read_public()
    h = public.holder
    return CardHolder(
        name=h.name,
        ssn=h.ssn,
        sex=h.sex,
        nation=h.nation,
        birth_date=h.birth_date,
        birthplace=h.birthplace,
    )


def financial_records(holder: CardHolder, account: BankAccount) -> dict[int, dict[int, bytes]]:
    """The financial application's records by SFI, then record number."""
    return emv_records(
        holder,
        pan=account.pan,
        pan_sequence=account.pan_sequence,
        issue_date=account.effective_date,
        expiry_date=account.expiry_date,
    )


def write_financial_app(session: CardSession, account: BankAccount, *, bank_pin: str) -> int:
    """Personalise the blank financial application under secure messaging; APDUs sent.

    The card must already carry its social security data (step 5): the bank
    checks the card number and writes the holder's SSN into its records.
    """
    operation = "write the financial application"
    bank = session.psam.issuer_keys(account.bank_code, operation)  # NotEntitled otherwise
    try:
        holder = _holder_on_card(session)
        card_no = session.send(apdu.read_record(apdu.SFI_ISSUANCE, EF05_RECORDS), "READ EF05.7")
        if tlv_value(card_no).rstrip(b"\x00").decode("ascii", "replace") != account.card_no:
            raise ProductionError(
                f"this card is not {account.card_no}: put the card of application "
                f"{account.application_id} in the reader"
            )
        records = financial_records(holder, account)
        session.send(apdu.select_aid(DEBIT_AID), "SELECT debit application")
        atc_tlv = session.send(bytes.fromhex("80CA9F3600"), "GET DATA ATC")
        atc = int.from_bytes(tlv.find(atc_tlv, b"\x9f\x36") or b"\x00\x00", "big")
        challenge = session.get_challenge()
        commands = personalisation_script(
            bank,
            session.identity.card_factor,
            atc,
            challenge,
            pan=account.pan,
            pan_sequence=account.pan_sequence,
            records=records,
            bank_pin=bank_pin,
        )
        for command in commands:
            session.send(command, f"issuer script {command[:4].hex().upper()}")
    except apdu.CardStatusError as exc:
        if exc.sw == SW.SECURITY_STATUS:
            raise ProductionError(
                f"the card refused bank {account.bank_code}'s secure messaging ({exc}): this "
                "blank card was not made for this bank, or its financial application is "
                "already personalised"
            ) from exc
        raise ProductionError(f"writing the financial application failed: {exc}") from exc
    return session.apdu_count


def tlv_value(record: bytes) -> bytes:
    """The value of a one-TLV SSSE record."""
    _tag, value = apdu.parse_tlv_record(record)
    return value


def verify_financial_app(session: CardSession, account: BankAccount) -> ReadBack:
    """Read the financial application back as an EMV terminal would, and compare."""
    result = ReadBack()
    try:
        holder = _holder_on_card(session)
        expected = financial_records(holder, account)
        app = read_financial_app(session)  # SELECT ADF, GPO, records along the AFL
        for sfi, records in sorted(expected.items()):
            result.compare_records(
                session, sfi, records, file=f"EMV{sfi}", label=f"financial SFI {sfi}"
            )
    except (apdu.CardStatusError, CardDataError) as exc:
        result.differences.append(f"read back failed: {exc}")
        return result
    if app.pan != account.pan:
        result.differences.append(f"PAN: card {app.pan}, account {account.pan}")
    if app.pan_sequence != account.pan_sequence:
        result.differences.append("PAN sequence number")
    return result


# --- workflows: one card, one application, the service told only after a read back ------


def _fail_step(
    client: ApplicationsClient,
    application_id: str,
    check: ReadBack,
    *,
    step: int,
    reason: str,
    what: str,
) -> NoReturn:
    """Record the production fault with the service (a rejection of ``step``) and stop."""
    differences = "; ".join(check.differences)
    client.reject(application_id, step, reason, "read back differs: " + differences[:450])
    raise ProductionError(f"{what}: {differences}")


def personalise(
    client: ApplicationsClient,
    psam: Psam,
    reader,
    application_id: str,
    medical_psam: Psam | None = None,
) -> dict:
    """Step 5 with the card in ``reader``: order, write, read back, report."""
    order = PersonalisationOrder.from_json(client.personalisation_order(application_id))
    with reader.connect() as conn:
        done = personalise_ssse(CardSession(conn, psam, conn.atr), order)
    with reader.connect() as conn:
        # One card session, two PSAMs: the centre's for EF05/EF06, a key-07 one for DF04.
        medical = CardSession(conn, medical_psam, conn.atr) if medical_psam else None
        check = verify_ssse(CardSession(conn, psam, conn.atr), order, medical_session=medical)
    if not check.identical:
        _fail_step(
            client,
            application_id,
            check,
            step=5,
            reason="personalisation_failed",
            what="the card does not read back as ordered",
        )
    return client.personalised(application_id, done.to_json())


def open_account(
    client: ApplicationsClient, psam: Psam, reader, application_id: str, bank_pin: str
) -> dict:
    """Step 6 with the card in ``reader``: open the account, write, read back, report."""
    account = BankAccount.from_json(client.open_bank_account(application_id))
    with reader.connect() as conn:
        write_financial_app(CardSession(conn, psam, conn.atr), account, bank_pin=bank_pin)
    with reader.connect() as conn:
        check = verify_financial_app(CardSession(conn, psam, conn.atr), account)
    if not check.identical:
        _fail_step(
            client,
            application_id,
            check,
            step=6,
            reason="bank_write_failed",
            what="the financial application does not read back as written",
        )
    return client.account_opened(application_id, {"pan": account.pan, "read_back_matches": True})
