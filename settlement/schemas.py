"""Request bodies of the HTTP API (docs/api.md), national field names, amounts in fen."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

#: Largest amount in one money field, in fen (10 000 000 000 yuan): every sum the service keeps
#: (balances, bills, daily reports) stays far inside a signed 64-bit column (docs/api.md §Limits).
MONEY_MAX = 1_000_000_000_000
#: Unit price of one fee line: at most 10 000 000 yuan, in fen.
PRICE_MAX = 1_000_000_000
#: Quantity of one fee line (negative for a refund): at most 100 000 units.
QUANTITY_MAX = 100_000
#: A money amount in fen: a JSON integer (not a string, float or boolean), 0..MONEY_MAX.
Money = Annotated[int, Field(strict=True, ge=0, le=MONEY_MAX)]
InsuType = Literal["310", "390"]
CardNo = str


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def calendar_day(value: object) -> object:
    """A date as ``YYYY-MM-DD`` only: pydantic alone reads ``0`` or ``1764288000`` as a Unix
    time (``date=0`` was 1970-01-01); anything else is ``422 validation_error`` (issue 16)."""
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("expected a calendar date as YYYY-MM-DD, e.g. 2026-11-23")


def instant(value: object) -> object:
    """A date and time as ISO 8601 text only (no Unix time number)."""
    if isinstance(value, str) and _ISO_INSTANT.match(value) or isinstance(value, datetime):
        return value
    raise ValueError("expected a date and time in ISO 8601, e.g. 2026-11-23T08:00:00+08:00")


#: A calendar date in a body or a query parameter (docs/api.md §Errors).
Day = Annotated[date, BeforeValidator(calendar_day)]
#: A point in time in a body: ISO 8601 text.
Instant = Annotated[datetime, BeforeValidator(instant)]


#: Bidirectional controls (U+202A..U+202E, U+2066..U+2069): a right-to-left override makes a
#: name read differently on a screen and in a report than it is stored.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


@functools.cache
def _name_fields(model_class: type[BaseModel]) -> tuple[str, ...]:
    """The name fields of a body class (``*name``, ``collected_by``), looked up once per class."""
    return tuple(
        field
        for field in model_class.model_fields
        if field.endswith("name") or field == "collected_by"
    )


def check_names(model: BaseModel) -> BaseModel:
    """Refuse a name field (``*name``, ``collected_by``) holding a control character (NUL,
    newline...) or a bidirectional override: ``422 validation_error`` (issue 16)."""
    for field in _name_fields(type(model)):
        value = getattr(model, field)
        # A printable string has neither (control characters are Cc, the overrides Cf): the
        # character-by-character look only for the others (hot path: 20 fee lines a request).
        if not isinstance(value, str) or value.isprintable():
            continue
        if any(ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError(f"{field} holds a control or bidirectional-override character")
    return model


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _names(self) -> _Body:
        return check_names(self)


class InstitutionIn(_Body):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["hospital", "pharmacy", "bank_branch", "card_centre", "payment_channel"]
    hospital_level: int | None = Field(default=None, ge=1, le=3, strict=True)
    pin_service: StrictBool = False
    bank_code: str | None = Field(default=None, max_length=8)
    region: str = Field(default="430100", pattern=r"^\d{6}$")

    @model_validator(mode="after")
    def _kind_fields(self) -> InstitutionIn:
        if self.kind == "hospital" and self.hospital_level is None:
            raise ValueError("hospitals need hospital_level 1, 2 or 3")
        if self.kind == "bank_branch" and not self.bank_code:
            raise ValueError("bank branches need bank_code (e.g. 102)")
        if self.kind == "hospital" and self.pin_service and self.hospital_level != 3:
            # settlement.md §PIN authority: designated *tertiary* hospitals
            raise ValueError("only level-3 hospitals can be designated PIN-service hospitals")
        return self


class TerminalIn(_Body):
    terminal_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)


class KeyRotationIn(_Body):
    """``POST /v1/api-keys/{key_id}/rotation`` (docs/api.md §API keys)."""

    grace_s: int = Field(default=0, ge=0, le=7 * 24 * 3600, strict=True)


class KeyExpiryIn(_Body):
    """``PUT /v1/api-keys/{key_id}/expiry``: when the key stops working (null: never)."""

    expires_at: Annotated[AwareDatetime, BeforeValidator(instant)] | None


class DocumentIn(_Body):
    document_type: Literal["resident_id", "passport", "hk_macao_permit", "taiwan_permit"]
    document_number: str = Field(min_length=1, max_length=64)
    valid_until: Day | None = None


class PersonIn(_Body):
    psn_no: str = Field(min_length=1, max_length=32)
    psn_name: str = Field(min_length=1, max_length=100)
    gend: Literal["1", "2", "9"] = "9"
    brdy: Day
    certno: str = Field(min_length=1, max_length=32)
    psn_cert_type: Literal[
        "resident_id", "id_card", "passport", "hk_macao_permit", "taiwan_permit"
    ] = "resident_id"
    household_register_no: str | None = Field(default=None, max_length=32)
    origin: Literal["mainland", "foreign", "hong_kong", "macao", "taiwan"] | None = None
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)
    acct_balance: Money = 0


class CoverageIn(_Body):
    insutype: InsuType
    begndate: Day
    enddate: Day | None = None
    paid: StrictBool = False  # true only through a payment or a migration (docs/api.md)

    @model_validator(mode="after")
    def _order(self) -> CoverageIn:
        if self.enddate is not None and self.enddate < self.begndate:
            raise ValueError("enddate is before begndate")
        return self


class EnrolmentIn(_Body):
    applied_on: Day
    paid: StrictBool = False  # true only through a payment or a migration (docs/api.md)


class CoverageMigrationIn(_Body):
    """A paid coverage period recorded by the admin from another system (docs/api.md
    §Contributions, migration): an employee's period paid through the employer, a resident's
    paid before this service."""

    psn_no: str = Field(min_length=1, max_length=32)
    insutype: InsuType
    begndate: Day
    enddate: Day | None = None
    reason: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _order(self) -> CoverageMigrationIn:
        if self.enddate is not None and self.enddate < self.begndate:
            raise ValueError("enddate is before begndate")
        return self


class AccountCreditIn(_Body):
    amount: Annotated[Money, Field(gt=0)]
    reason: str = Field(default="", max_length=200)


class QueryPasswordIn(_Body):
    mode: Literal["change", "reset"]
    old_password: str | None = Field(default=None, max_length=32)
    new_password: str = Field(min_length=6, max_length=32)


class PasswordCheckIn(_Body):
    password: str = Field(min_length=1, max_length=32)


class CardIn(_Body):
    card_no: str = Field(min_length=1, max_length=16)
    card_id_code: str = Field(pattern=r"^[0-9A-Fa-f]{32}$")
    algorithm: Literal["3des", "sm4"]
    region: str = Field(pattern=r"^\d{6}$")
    expiry: Day
    issue_date: Day | None = None
    bank_code: str | None = Field(default=None, max_length=8)
    psn_no: str | None = Field(default=None, max_length=32)
    status: Literal["issued", "active"] = "issued"


class CardActionIn(_Body):
    reason: str = Field(default="", max_length=200)
    collected_by: str = Field(default="", max_length=100)


class PinOperationIn(_Body):
    """A PIN operation to audit. ``card_id_code`` (from the ATR) names the card when the
    terminal's PSAM refused before reading its number (docs/api.md §PIN operations)."""

    card_no: str | None = Field(default=None, min_length=1, max_length=16)
    card_id_code: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{32}$")
    pin: Literal["ssse", "bank"]
    operation: Literal["verify", "change", "reset", "unblock"]
    result: Literal["ok", "wrong_pin", "blocked", "failed", "attempted"]
    sw: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{4}$")

    @model_validator(mode="after")
    def _one_card(self) -> PinOperationIn:
        if (self.card_no is None) == (self.card_id_code is None):
            raise ValueError("name the card by card_no or by card_id_code (one of them)")
        return self


class ChallengeIn(_Body):
    card_no: str = Field(min_length=1, max_length=16)
    purpose: Literal["admission", "discharge", "card_authentication", "pin_verification"]


class CardAuthenticationIn(_Body):
    """The card's INTERNAL AUTHENTICATE key-01 answer over a ``card_authentication`` nonce."""

    card_no: str = Field(min_length=1, max_length=16)
    challenge_id: str = Field(min_length=1, max_length=40)
    cryptogram: str = Field(min_length=1, max_length=64)


class PinVerificationIn(_Body):
    """The card's key-02 answer (PIN verified on the card) over a ``pin_verification`` nonce."""

    challenge_id: str = Field(min_length=1, max_length=40)
    cryptogram: str = Field(min_length=1, max_length=64)


class ProofBody(_Body):
    card_no: str = Field(min_length=1, max_length=16)
    challenge_id: str = Field(min_length=1, max_length=40)
    cryptogram: str | None = Field(default=None, max_length=64)


_EVIDENCE_ALIASES = {
    "hukou_no": "household_register_no",
    "doc_type": "document_type",
    "doc_no": "document_number",
    "replacement_receipt_no": "receipt_no",
}


class ExemptionBody(BaseModel):
    """The exemption evidence (keys of ``settlement/rules/exemptions.py``, aliases accepted)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["child_under_7", "foreign_document", "lost_card_receipt"]
    household_register_no: str | None = Field(default=None, max_length=64)
    document_type: str | None = Field(default=None, max_length=24)
    document_number: str | None = Field(default=None, max_length=64)
    receipt_no: str | None = Field(default=None, max_length=40)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            for alias, name in _EVIDENCE_ALIASES.items():
                if alias in data:
                    _merge(data, name, data.pop(alias), alias)
            if "certno" in data:
                _merge(data, "document_type", "resident_id", "certno")
                _merge(data, "document_number", data.pop("certno"), "certno")
        return data

    def evidence(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude={"kind"}).items() if v is not None}


class EvidenceConflict(ValueError):
    """The same evidence field given twice (name and alias) with different values."""


def _merge(data: dict, name: str, value, alias: str) -> None:
    if name in data and data[name] != value:
        raise EvidenceConflict(f"{alias} and {name} disagree: send the evidence once")
    data[name] = value


class _Authenticated(_Body):
    proof: ProofBody | None = None
    exemption: ExemptionBody | None = None
    #: The token of a networked card authentication (docs/api.md §Card authentication).
    card_authentication: str | None = Field(default=None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _one_path(self):
        given = [self.proof, self.exemption, self.card_authentication]
        if sum(value is not None for value in given) > 1:
            raise ValueError("send one of proof, card_authentication or exemption, not several")
        return self


class AdmissionIn(_Authenticated):
    psn_no: str = Field(min_length=1, max_length=32)
    insutype: InsuType
    begntime: Instant | None = None
    dept_name: str = Field(default="", max_length=100)
    dise_name: str = Field(default="", max_length=200)
    #: The hospital's inpatient number (住院号, 2401 ``ipt_no``): unique per institution among
    #: the stays not cancelled (docs/api.md §Admission).
    ipt_no: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^\S(.*\S)?$")

    @field_validator("begntime")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("begntime needs a UTC offset, e.g. 2026-11-23T08:00:00+08:00")
        return value


_DECIMAL_QUANTITY = r"^-?[0-9]{1,6}(\.[0-9]{1,4})?$"
_DECIMAL_PRICE = r"^[0-9]{1,8}(\.[0-9]{1,6})?$"


class FeeLineIn(_Body):
    """A fee line (docs/api.md §Fees): the quantity either ``cnt`` (a whole number) or
    ``cnt_decimal`` (a decimal string, up to 4 decimals); the unit price either ``pric``
    (whole fen) or ``pric_yuan`` (a decimal string, up to 6 decimals of a yuan). ``list_type``
    is deprecated: the catalogue decides the class, and a ``list_type`` still sent must agree
    with it."""

    feedetl_sn: str = Field(min_length=1, max_length=40)
    med_list_codg: str = Field(min_length=1, max_length=50)
    med_list_name: str = Field(default="", max_length=200)
    list_type: Literal["A", "B", "C"] | None = None
    cnt: int | None = Field(default=None, strict=True, ge=-QUANTITY_MAX, le=QUANTITY_MAX)
    cnt_decimal: str | None = Field(default=None, pattern=_DECIMAL_QUANTITY)
    pric: int | None = Field(default=None, strict=True, ge=0, le=PRICE_MAX)
    pric_yuan: str | None = Field(default=None, pattern=_DECIMAL_PRICE)
    init_feedetl_sn: str | None = Field(default=None, max_length=40)

    @property
    def cnt_e4(self) -> int:
        """The quantity × 10 000, exact."""
        if self.cnt is not None:
            return self.cnt * 10_000
        text = self.cnt_decimal or "0"
        whole, _, decimals = text.lstrip("-").partition(".")
        value = int(whole) * 10_000 + int((decimals + "0000")[:4])
        return -value if text.startswith("-") else value

    @property
    def pric_e6(self) -> int:
        """The unit price in micro-yuan, exact."""
        if self.pric is not None:
            return self.pric * 10_000
        whole, _, decimals = (self.pric_yuan or "0").partition(".")
        return int(whole) * 1_000_000 + int((decimals + "000000")[:6])

    @model_validator(mode="after")
    def _refund(self) -> FeeLineIn:
        if (self.cnt is None) == (self.cnt_decimal is None):
            raise ValueError("send the quantity as cnt (whole) or cnt_decimal, one of them")
        if (self.pric is None) == (self.pric_yuan is None):
            raise ValueError("send the unit price as pric (fen) or pric_yuan (yuan), one of them")
        if self.cnt is not None:  # the common case, bounded by the field
            if self.cnt == 0:
                raise ValueError("cnt must not be 0")
        else:
            cnt_e4 = self.cnt_e4
            if cnt_e4 == 0:
                raise ValueError("cnt must not be 0")
            if abs(cnt_e4) > QUANTITY_MAX * 10_000:
                raise ValueError(f"cnt must be between -{QUANTITY_MAX} and {QUANTITY_MAX}")
        if self.pric_yuan is not None and self.pric_e6 > PRICE_MAX * 10_000:
            raise ValueError(f"the unit price must be at most {PRICE_MAX} fen")
        return self


class FeeUploadIn(_Body):
    feedetail: list[FeeLineIn] = Field(min_length=1, max_length=1000)


class PreSettlementIn(_Body):
    acct_used_flag: StrictBool = False


class SettlementIn(_Authenticated):
    acct_used_flag: StrictBool = False
    endtime: Instant | None = None


class ReversalIn(_Body):
    reason: str = Field(default="", max_length=200)


def _aware_time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("a time needs a UTC offset, e.g. 2026-11-23T08:00:00+08:00")
    return value


class DischargeIn(_Body):
    """2402 discharge (docs/api.md §Stay lifecycle): ``endtime`` (default now)."""

    endtime: datetime | None = None
    _aware = field_validator("endtime")(_aware_time)


class AdmissionChangeIn(_Body):
    """2403 admission change: what is given changes (``begntime`` within its window)."""

    begntime: datetime | None = None
    dept_name: str = Field(default="", max_length=100)
    dise_name: str = Field(default="", max_length=200)
    _aware = field_validator("begntime")(_aware_time)


class FeeCancelIn(_Body):
    """2302 fee cancel: one line's ``feedetl_sn``, or ``"0000"`` for every standing line."""

    feedetl_sn: str = Field(min_length=1, max_length=40)


# --- contributions (issue 20, docs/api.md §Contributions) ---------------------------------

ContributionCategory = Literal["resident", "flexible_worker"]
InsuranceYear = Annotated[int, Field(strict=True, ge=2000, le=2100)]


class EnrolmentRecordIn(_Body):
    psn_no: str = Field(min_length=1, max_length=32)
    category: ContributionCategory = "resident"
    applied_on: Day | None = None  # None: the business day of entry
    entered_on: Day | None = None  # admin only: a record migrated from an earlier system


class EnrolmentCorrectionIn(_Body):
    category: ContributionCategory | None = None
    applied_on: Day | None = None


class PaymentOrderIn(_Body):
    channel_order_id: str = Field(min_length=1, max_length=64)
    psn_no: str = Field(min_length=1, max_length=32)
    year: InsuranceYear


class PaymentConfirmationIn(_Body):
    channel_txn_id: str = Field(min_length=1, max_length=64)
    amount_fen: Money


class MigratedPaymentIn(_Body):
    psn_no: str = Field(min_length=1, max_length=32)
    year: InsuranceYear
    amount_fen: Money
    reason: str = Field(min_length=1, max_length=200)
