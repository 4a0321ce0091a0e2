"""Success answers of setup, people, cards, proofs, catalogue, inpatient and API keys
(docs/api.md, per section); see :mod:`settlement.api.responses`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Fen = int
Time = str
Day = str


class Out(BaseModel):
    """An answer body (extra keys allowed: the API only adds)."""


# --- setup: health, institutions, terminals (docs/api.md §Setup) ----------------------------


class Health(Out):
    status: Literal["ok"]
    database: str
    policy_version: str


class Probe(Out):
    id: int


class Institution(Out):
    code: str
    name: str
    kind: Literal["hospital", "pharmacy", "bank_branch", "card_centre", "payment_channel"]
    hospital_level: int | None = None
    pin_service: bool
    bank_code: str | None = None
    region: str
    created_at: Time


class TerminalCreated(Out):
    terminal_id: str
    institution: str
    key_id: str
    api_key: str


# --- people and coverage (§People) ---------------------------------------------------------


class Coverage(Out):
    insutype: str
    begndate: Day
    enddate: Day | None = None
    paid: bool
    covered: bool | None = None


class CoveragePeriod(Out):
    id: int
    psn_no: str
    insutype: str
    begndate: Day
    enddate: Day | None = None
    paid: bool


class MigratedCoverage(CoveragePeriod):
    """A paid coverage period migrated by the admin (issue 20)."""

    source: Literal["migration"]
    reason: str


class PersonCard(Out):
    card_no: str
    status: str
    expiry: Day


class Document(Out):
    document_type: str
    document_number: str
    valid_until: Day | None = None


class Person(Out):
    """1101 person info."""

    psn_no: str
    psn_name: str
    gend: str
    brdy: Day
    age: int
    certno: str
    psn_cert_type: str
    acct_balance: Fen
    insuinfo: list[Coverage]
    cards: list[PersonCard]
    as_of: Day
    household_register_no: str | None = None
    origin: str | None = None
    documents: list[Document] = []
    contribution: dict[str, Any] | None = None


class AccountCredit(Out):
    psn_no: str
    acct_balance: Fen


class QueryPasswordSet(Out):
    psn_no: str
    mode: Literal["change", "reset"]


class QueryPasswordChecked(Out):
    psn_no: str
    valid: bool


# --- cards, PINs, proofs, card authentication (§Cards, §PIN operations, §Card proof) ---------


class Card(Out):
    card_no: str
    card_id_code: str
    algorithm: Literal["3des", "sm4"]
    region: str
    psn_no: str | None = None
    status: str
    expiry: Day
    expired: bool
    issue_date: Day | None = None
    bank_code: str | None = None
    replaces_card_no: str | None = None
    replaced_by: str | None = None
    lost_at: Time | None = None
    cancelled_card_no: str | None = None
    ssse_pin_state: Literal["usable", "blocked"] | None = None


class CardLoss(Out):
    card_no: str
    status: str
    replacement_receipt_no: str | None = None
    lost_at: Time | None = None


class PinOperation(Out):
    audit_id: int
    allowed: bool
    card_no: str | None = None
    pin: Literal["ssse", "bank"]
    operation: Literal["verify", "change", "reset", "unblock"]
    result: str


class PinAuthority(Out):
    allowed: bool
    code: str | None = None
    reason: str


class Challenge(Out):
    challenge_id: str
    card_no: str
    purpose: Literal["admission", "discharge", "card_authentication", "pin_verification"]
    nonce: str
    algorithm: Literal["3des", "sm4"]
    expires_at: Time


class CardAuthentication(Out):
    token: str
    card_no: str
    card_sn: str
    psn_no: str | None = None
    fixmedins_code: str
    terminal_id: str
    created_at: Time
    expires_at: Time
    pin_verified: bool
    pin_verified_at: Time | None = None


# --- catalogue (§Catalogue) -------------------------------------------------------------------


class CatalogueVersion(Out):
    version_id: str
    seq: int
    source: str
    entry_count: int
    loaded_at: Time | None = None


class CatalogueEntry(Out):
    med_list_codg: str
    med_list_name: str
    chrgitm_lv: str
    med_chrgitm_type: str
    selfpay_prop: str
    pric_uplmt_amt: str | None = None
    selfpay_prop_bp: int
    pric_uplmt_e6: int | None = None
    begndate: Day | None = None
    enddate: Day | None = None


class Catalogue(Out):
    version_id: str | None = None
    versions: list[CatalogueVersion]
    entries: list[CatalogueEntry] = []


# --- inpatient (§Inpatient) ---------------------------------------------------------------


class Split(Out):
    """The bill split of settlement.md (all fen)."""

    medfee_sumamt: Fen
    fulamt_ownpay_amt: Fen
    overlmt_selfpay: Fen
    preselfpay_amt: Fen
    inscp_scp_amt: Fen
    act_pay_dedc: Fen
    fund_pay_sumamt: Fen
    psn_part_amt: Fen
    acct_pay: Fen
    psn_cash_pay: Fen


class Admitted(Out):
    """2401 admission."""

    mdtrt_id: str
    psn_no: str
    insutype: str
    begntime: Time
    adm_date: Day
    fixmedins_code: str
    auth_method: str
    card_no: str | None = None
    status: str
    ipt_no: str | None = None


class Settlement(Split):
    """2304 settlement."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    insutype: str
    fixmedins_code: str
    setl_time: Time
    balc: Fen
    fee_count: int
    policy_version: str
    auth_method: str
    status: str


class Admission(Out):
    mdtrt_id: str
    psn_no: str
    insutype: str
    fixmedins_code: str
    begntime: Time
    adm_date: Day
    endtime: Time | None = None
    auth_method: str
    evidence: dict[str, Any] | None = None
    card_no: str | None = None
    dept_name: str
    dise_name: str
    ipt_no: str | None = None
    status: str
    fee_count: int
    medfee_sumamt: Fen
    settlement: Settlement | None = None


class Admissions(Out):
    admissions: list[dict[str, Any]]


class FeeLineResult(Out):
    feedetl_sn: str
    med_list_codg: str
    cnt_e4: int
    pric_e6: int
    det_item_fee_sumamt: Fen
    overlmt_amt: Fen
    fulamt_ownpay_amt: Fen
    preselfpay_amt: Fen
    inscp_scp_amt: Fen
    chrgitm_lv: str
    list_type: Literal["A", "B", "C"]
    med_chrgitm_type: str
    selfpay_prop_bp: int
    pric_uplmt_e6: int | None = None
    catalogue_version: str


class FeesUploaded(Out):
    """2301 fee upload."""

    mdtrt_id: str
    accepted: list[str]
    duplicates: list[str]
    fee_count: int
    medfee_sumamt: Fen
    catalogue_version: str | None = None
    result: list[FeeLineResult]


class PreSettlement(Split):
    """2303 pre-settlement (nothing written)."""

    mdtrt_id: str
    psn_no: str
    insutype: str
    fee_count: int
    policy_version: str
    balc: Fen


class Reversal(Out):
    """2305 reversal."""

    setl_id: str
    revs_setl_id: str
    mdtrt_id: str
    status: str
    fund_pay_sumamt: Fen
    acct_pay: Fen
    balc: Fen
    revs_time: Time


class StayStatus(Out):
    """2402 discharge, 2405 its cancellation, 2404 admission cancellation, 2403 change."""

    mdtrt_id: str
    status: Literal["admitted", "discharged", "settled", "cancelled"]


class FeesCancelled(Out):
    """2302 fee cancellation: the lines cancelled."""

    mdtrt_id: str
    cancelled: list[str]


class DailyReport(Out):
    """One institution's day (settlement.md §Reconciliation), or every institution's for admin
    without ``institution``."""

    date: Day
    institution: str | None = None
    settlements: dict[str, int] | None = None
    reversals: dict[str, int] | None = None
    net: dict[str, int] | None = None
    checks: dict[str, bool] | None = None
    institutions: list[dict[str, Any]] | None = None
    balanced: bool


# --- API keys (§API keys) -------------------------------------------------------------------


class ApiKey(Out):
    """A key as the API shows it: never its secret or hash."""

    key_id: str
    role: str
    institution: str | None = None
    terminal_id: str | None = None
    name: str | None = None
    revoked: bool
    created_at: Time | None = None
    revoked_at: Time | None = None
    expires_at: Time | None = None
    previous_valid_until: Time | None = None


class ApiKeys(Out):
    keys: list[ApiKey]


class RotatedKey(ApiKey):
    api_key: str
