"""The settlement service's tables (SQLModel), one class per domain thing.

The schema itself is owned by the Alembic migrations in ``settlement/migrations``
(``python -m settlement migrate``); these classes describe the same tables for
queries. Conventions: money is integer fen (``BigInteger``), times are stored in
UTC (timezone-aware in Python), business days (``setl_date``...) are calendar
days in the service's time zone, identifiers are the national-style strings the
API shows (``psn_no``, ``mdtrt_id``, ``setl_id``).

A later migration can add tables (e.g. card applications, issue 8) that refer
to ``person.psn_no`` and ``card.card_no`` without touching these.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _money(**kw) -> object:
    return Field(default=0, sa_type=sa.BigInteger, **kw)


def _time(**kw) -> object:
    return Field(sa_type=sa.DateTime(timezone=True), **kw)


class Institution(SQLModel, table=True):
    """A hospital, pharmacy, bank branch or the card centre (role = ``kind``)."""

    __tablename__ = "institution"
    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # hospital | pharmacy | bank_branch | card_centre | admin
    hospital_level: int | None = None  # 1/2/3 for hospitals
    pin_service: bool = False  # designated PIN-service hospital / special pharmacy
    bank_code: str | None = Field(default=None, max_length=8)
    region: str = Field(default="430100", max_length=6)
    created_at: datetime = _time()


class Terminal(SQLModel, table=True):
    """A terminal (desk PC, kiosk, bank counter) of one institution."""

    __tablename__ = "terminal"
    terminal_id: str = Field(primary_key=True, max_length=64)
    institution_code: str = Field(foreign_key="institution.code", index=True, max_length=32)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _time()


class ApiKey(SQLModel, table=True):
    """An API key: public ``key_id`` + SHA-256 of the random secret (never the secret)."""

    __tablename__ = "api_key"
    key_id: str = Field(primary_key=True, max_length=32)
    secret_hash: str = Field(max_length=64)
    role: str = Field(max_length=16)  # admin | terminal
    institution_code: str | None = Field(default=None, foreign_key="institution.code")
    terminal_id: str | None = Field(default=None, foreign_key="terminal.terminal_id")
    name: str = Field(default="", max_length=200)
    revoked: bool = False
    created_at: datetime = _time()
    revoked_at: datetime | None = _time(default=None, nullable=True)
    expires_at: datetime | None = _time(default=None, nullable=True)  # None: never
    previous_secret_hash: str | None = Field(default=None, max_length=64)  # a rotation's grace
    previous_valid_until: datetime | None = _time(default=None, nullable=True)


class Person(SQLModel, table=True):
    """An insured person (参保人) with identity documents and the personal account balance."""

    __tablename__ = "person"
    psn_no: str = Field(primary_key=True, max_length=32)
    psn_name: str = Field(max_length=100)
    gend: str = Field(default="9", max_length=1)
    brdy: date
    certno: str = Field(index=True, max_length=32)
    psn_cert_type: str = Field(default="resident_id", max_length=24)
    household_register_no: str | None = Field(default=None, max_length=32)
    origin: str | None = Field(default=None, max_length=16)
    acct_balance: int = _money()
    query_password_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = _time()


class IdentityDocumentRow(SQLModel, table=True):
    """One identity document on a person's record (ID card, passport, travel permit)."""

    __tablename__ = "identity_document"
    id: int | None = Field(default=None, primary_key=True)
    psn_no: str = Field(foreign_key="person.psn_no", index=True, max_length=32)
    document_type: str = Field(max_length=24)
    document_number: str = Field(max_length=64)
    valid_until: date | None = None


class CoveragePeriodRow(SQLModel, table=True):
    """A coverage period of one scheme (``310``/``390``), paid or not."""

    __tablename__ = "coverage_period"
    id: int | None = Field(default=None, primary_key=True)
    psn_no: str = Field(foreign_key="person.psn_no", index=True, max_length=32)
    insutype: str = Field(max_length=3)
    begndate: date
    enddate: date | None = None
    paid: bool = True
    created_at: datetime = _time()


class BenefitYear(SQLModel, table=True):
    """A person's use of one scheme's annual ceiling in one benefit year.

    ``ceiling_used`` = fund payments of active settlements; ``settled_admissions`` =
    active settlements (for the second-admission deductible). Settlement adds,
    reversal subtracts exactly what the settlement added.
    """

    __tablename__ = "benefit_year"
    psn_no: str = Field(foreign_key="person.psn_no", primary_key=True, max_length=32)
    insutype: str = Field(primary_key=True, max_length=3)
    year: int = Field(primary_key=True)
    ceiling_used: int = _money()
    settled_admissions: int = 0


class AccountEntry(SQLModel, table=True):
    """A movement of a personal account (个人账户): credits, settlement payments, reversals.

    The balance on ``person.acct_balance`` always equals the sum of the person's entries;
    the reconciliation checks it.
    """

    __tablename__ = "account_entry"
    id: int | None = Field(default=None, primary_key=True)
    psn_no: str = Field(foreign_key="person.psn_no", index=True, max_length=32)
    amount: int = _money()  # + credit / reversal refund, - settlement payment
    kind: str = Field(max_length=16)  # opening | credit | settlement | reversal
    ref: str | None = Field(default=None, max_length=40)
    at: datetime = _time()


class Card(SQLModel, table=True):
    """A social security card as the service knows it (card.md §EF05, issuance.md states)."""

    __tablename__ = "card"
    card_no: str = Field(primary_key=True, max_length=16)
    card_id_code: str = Field(unique=True, max_length=32)  # hex upper-case, 16 bytes
    algorithm: str = Field(max_length=8)  # 3des | sm4
    region: str = Field(max_length=6)
    psn_no: str = Field(foreign_key="person.psn_no", index=True, max_length=32)
    status: str = Field(max_length=12)  # issued | active | lost | replaced | cancelled
    issue_date: date | None = None
    expiry: date
    bank_code: str | None = Field(default=None, max_length=8)
    replacement_receipt_no: str | None = Field(default=None, unique=True, max_length=32)
    replaces_card_no: str | None = Field(default=None, max_length=16)
    replaced_by: str | None = Field(default=None, max_length=16)
    lost_at: datetime | None = _time(default=None)
    collected_at: datetime | None = _time(default=None)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class Challenge(SQLModel, table=True):
    """A card-present proof challenge: single-use, short-lived, bound to card+purpose+terminal."""

    __tablename__ = "challenge"
    challenge_id: str = Field(primary_key=True, max_length=40)
    card_no: str = Field(max_length=16)
    # admission | discharge | card_authentication | pin_verification
    purpose: str = Field(max_length=24)
    terminal_id: str = Field(max_length=64)
    nonce: str = Field(max_length=32)  # hex
    expires_at: datetime = _time()
    used_at: datetime | None = _time(default=None)


class CardAuthentication(SQLModel, table=True):
    """A networked card authentication (联网认证, docs/api.md §Card authentication): the card
    proved itself (key 01) at one institution and terminal, maybe its holder too (key 02 after
    the PIN), valid until ``expires_at``, for any purpose."""

    __tablename__ = "card_authentication"
    __table_args__ = (
        sa.Index("ix_card_authentication_card_institution", "card_no", "institution_code"),
    )
    token: str = Field(primary_key=True, max_length=40)
    card_no: str = Field(max_length=16)
    card_id_code: str = Field(max_length=32)  # the card_sn of the national platform
    psn_no: str = Field(max_length=32)
    institution_code: str = Field(max_length=32)
    terminal_id: str = Field(max_length=64)
    key_id: str = Field(max_length=32)
    challenge_id: str = Field(max_length=40)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    pin_challenge_id: str | None = Field(default=None, max_length=40)
    pin_verified_at: datetime | None = _time(default=None)


class Admission(SQLModel, table=True):
    """An inpatient stay (2401 入院登记) at one institution."""

    __tablename__ = "admission"
    __table_args__ = (
        sa.Index(
            "uq_admission_institution_ipt_no",
            "institution_code",
            "ipt_no",
            unique=True,
            sqlite_where=sa.text("ipt_no IS NOT NULL AND status <> 'cancelled'"),
            postgresql_where=sa.text("ipt_no IS NOT NULL AND status <> 'cancelled'"),
        ),
    )
    mdtrt_id: str = Field(primary_key=True, max_length=40)
    institution_code: str = Field(foreign_key="institution.code", index=True, max_length=32)
    terminal_id: str = Field(max_length=64)
    psn_no: str = Field(foreign_key="person.psn_no", index=True, max_length=32)
    insutype: str = Field(max_length=3)
    hospital_level: int
    begntime: datetime = _time()
    adm_date: date
    endtime: datetime | None = _time(default=None)
    dept_name: str = Field(default="", max_length=100)
    dise_name: str = Field(default="", max_length=200)
    auth_method: str = Field(max_length=20)  # card | child_under_7 | ...
    card_no: str | None = Field(default=None, max_length=16)
    evidence: str | None = None  # JSON of the exemption evidence (audited path)
    status: str = Field(default="admitted", max_length=12)  # admitted|discharged|settled|cancelled
    created_at: datetime = _time()
    # the hospital's admission number (2401 mdtrtinfo.ipt_no), unique per institution among the
    # stays not cancelled (migration 0176)
    ipt_no: str | None = Field(default=None, max_length=40)


class FeeLine(SQLModel, table=True):
    """One fee detail line (2301 费用明细); ``det_item_fee_sumamt`` = cnt × pric (fen)."""

    __tablename__ = "fee_line"
    __table_args__ = (sa.UniqueConstraint("mdtrt_id", "feedetl_sn", name="uq_fee_line_sn"),)
    id: int | None = Field(default=None, primary_key=True)
    mdtrt_id: str = Field(foreign_key="admission.mdtrt_id", max_length=40)
    feedetl_sn: str = Field(max_length=40)
    med_list_codg: str = Field(max_length=50)
    med_list_name: str = Field(default="", max_length=200)
    list_type: str = Field(max_length=1)  # A | B | C
    cnt: int
    pric: int = _money()
    det_item_fee_sumamt: int = _money()
    init_feedetl_sn: str | None = Field(default=None, max_length=40)
    created_at: datetime = _time()
    # issue 14: the exact values and the catalogue's per-line split (cnt/pric above: legacy
    # whole units, rounded half up; list_type: the catalogue's class as a letter)
    cnt_e4: int | None = Field(default=None, sa_type=sa.BigInteger)  # cnt × 10 000
    pric_e6: int | None = Field(default=None, sa_type=sa.BigInteger)  # price in micro-yuan
    chrgitm_lv: str | None = Field(default=None, max_length=2)  # 01 甲 / 02 乙 / 03 丙
    med_chrgitm_type: str = Field(default="", max_length=6)
    selfpay_prop_bp: int = 0
    pric_uplmt_e6: int | None = Field(default=None, sa_type=sa.BigInteger)
    overlmt_amt: int = _money()
    fulamt_ownpay_amt: int = _money()
    preselfpay_amt: int = _money()
    inscp_scp_amt: int = _money()
    catalogue_version: str | None = Field(default=None, max_length=40)


class Settlement(SQLModel, table=True):
    """A discharge settlement (2304) with every split field.

    ``active_mdtrt_id`` equals ``mdtrt_id`` while the settlement stands and is
    NULL once reversed; its UNIQUE constraint is the database's guarantee of one
    settlement per admission.
    """

    __tablename__ = "settlement"
    __table_args__ = (  # migration 0180: the daily report and the day's ledger check
        sa.Index("ix_settlement_institution_day", "institution_code", "setl_date"),
        sa.Index("ix_settlement_person_year", "psn_no", "insutype", "benefit_year"),
    )
    setl_id: str = Field(primary_key=True, max_length=40)
    mdtrt_id: str = Field(foreign_key="admission.mdtrt_id", index=True, max_length=40)
    active_mdtrt_id: str | None = Field(default=None, unique=True, max_length=40)
    institution_code: str = Field(foreign_key="institution.code", max_length=32)
    terminal_id: str = Field(max_length=64)
    psn_no: str = Field(max_length=32)
    insutype: str = Field(max_length=3)
    benefit_year: int
    auth_method: str = Field(max_length=20)
    card_no: str | None = Field(default=None, max_length=16)
    medfee_sumamt: int = _money()
    fulamt_ownpay_amt: int = _money()
    preselfpay_amt: int = _money()
    inscp_scp_amt: int = _money()
    act_pay_dedc: int = _money()
    fund_pay_sumamt: int = _money()
    psn_part_amt: int = _money()
    acct_pay: int = _money()
    psn_cash_pay: int = _money()
    balc: int = _money()
    overlmt_selfpay: int = _money()  # issue 14: sum of the lines' overlmt_amt
    fee_count: int = 0
    policy_version: str = Field(max_length=16)
    setl_time: datetime = _time()
    setl_date: date = Field(index=True)
    status: str = Field(default="settled", max_length=12)  # settled | reversed


class Reversal(SQLModel, table=True):
    """A settlement reversal (2305); one per settlement (UNIQUE ``setl_id``)."""

    __tablename__ = "reversal"
    __table_args__ = (sa.Index("ix_reversal_institution_day", "institution_code", "revs_date"),)
    revs_setl_id: str = Field(primary_key=True, max_length=40)
    setl_id: str = Field(foreign_key="settlement.setl_id", unique=True, max_length=40)
    mdtrt_id: str = Field(max_length=40)
    institution_code: str = Field(foreign_key="institution.code", max_length=32)
    terminal_id: str = Field(max_length=64)
    reason: str = Field(default="", max_length=200)
    revs_time: datetime = _time()
    revs_date: date = Field(index=True)


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a mutating request, by (API key, Idempotency-Key)."""

    __tablename__ = "idempotency_record"
    key_id: str = Field(primary_key=True, max_length=32)
    idempotency_key: str = Field(primary_key=True, max_length=128)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str
    created_at: datetime = _time()


class AuditEntry(SQLModel, table=True):
    """Append-only audit log (UPDATE and DELETE are refused by database triggers)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_institution_at", "institution_code", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time()
    key_id: str | None = Field(default=None, max_length=32)
    institution_code: str | None = Field(default=None, max_length=32)
    terminal_id: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=64)
    subject: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16)  # ok | refused
    code: str | None = Field(default=None, max_length=48)
    detail: str | None = None  # JSON


class DurableProbe(SQLModel, table=True):
    """The benchmark baseline: one durable insert per request (``POST /v1/probe``)."""

    __tablename__ = "durable_probe"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time()
    key_id: str = Field(max_length=32)


class GatewayCredential(SQLModel, table=True):
    """A credential of the national-platform gateway (docs/gateway.md §Authentication), bound
    to one institution: TIF ``paasid`` + secret, CSB ``access_key`` + secret key, or an
    ``apikey``. TIF/CSB secrets are needed to check signatures, so they are kept encrypted
    under a key derived from the key store (``secret_enc``); an apikey is kept as its hash."""

    __tablename__ = "gateway_credential"
    kind: str = Field(primary_key=True, max_length=8)  # tif | csb | apikey
    key: str = Field(primary_key=True, max_length=64)  # paasid | access_key | sha256(apikey)
    institution_code: str = Field(index=True, max_length=32)
    secret_enc: str | None = Field(default=None, max_length=400)
    created_at: datetime = _time()


class GatewayNonce(SQLModel, table=True):
    """A nonce (TIF) or timestamp (CSB) already accepted for one credential: a replay is refused."""

    __tablename__ = "gateway_nonce"
    credential: str = Field(primary_key=True, max_length=80)  # kind:key
    nonce: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = _time(index=True)


class GatewaySignIn(SQLModel, table=True):
    """A 9001 sign-in of one operator at one institution, valid for its business day."""

    __tablename__ = "gateway_sign_in"
    sign_no: str = Field(primary_key=True, max_length=40)
    institution_code: str = Field(index=True, max_length=32)
    opter: str = Field(max_length=32)
    opter_name: str = Field(default="", max_length=50)
    business_date: date
    signed_in_at: datetime = _time()
    signed_out_at: datetime | None = _time(default=None)


class GatewayMessage(SQLModel, table=True):
    """Every gateway message by ``msgid`` with its answer (a retry gets the first answer again;
    2601 undoes the message named by ``omsgid``)."""

    __tablename__ = "gateway_message"
    institution_code: str = Field(primary_key=True, max_length=32)
    msgid: str = Field(primary_key=True, max_length=40)
    infno: str = Field(max_length=8)
    body_hash: str = Field(max_length=64)
    opter: str = Field(default="", max_length=32)
    answer: str = Field(sa_type=sa.Text)  # the output envelope, JSON
    subject: str | None = Field(default=None, max_length=64)  # mdtrt_id / setl_id it made
    received_at: datetime = _time()
    undone_by: str | None = Field(default=None, max_length=40)


class FeeLineCancelled(SQLModel, table=True):
    """A fee line cancelled by 2302 (the ``fee_line`` row as JSON): kept, out of the bill."""

    __tablename__ = "fee_line_cancelled"
    id: int | None = Field(default=None, primary_key=True)
    mdtrt_id: str = Field(max_length=40, index=True)
    feedetl_sn: str = Field(max_length=40)
    line: str = Field(sa_type=sa.Text)
    cancelled_at: datetime = _time()
    cancelled_by: str | None = Field(default=None, max_length=64)


class CatalogueVersion(SQLModel, table=True):
    """One load of the insurance catalogue (issue 14); ``seq`` orders the loads."""

    __tablename__ = "catalogue_version"
    version_id: str = Field(primary_key=True, max_length=40)
    seq: int = Field(unique=True)
    source: str = Field(default="", max_length=200)
    entry_count: int = 0
    loaded_at: datetime = _time()


class CatalogueEntryRow(SQLModel, table=True):
    """A catalogue entry as loaded in ``version_id``; standing until a later load of the same
    code names itself in ``superseded_by``."""

    __tablename__ = "catalogue_entry"
    id: int | None = Field(default=None, primary_key=True)
    version_id: str = Field(foreign_key="catalogue_version.version_id", max_length=40)
    med_list_codg: str = Field(index=True, max_length=50)
    med_list_name: str = Field(default="", max_length=200)
    chrgitm_lv: str = Field(max_length=2)
    med_chrgitm_type: str = Field(default="", max_length=6)
    selfpay_prop_bp: int
    pric_uplmt_e6: int | None = Field(default=None, sa_type=sa.BigInteger)
    begndate: date | None = None
    enddate: date | None = None
    superseded_by: str | None = Field(default=None, index=True, max_length=40)


class EnrolmentRecord(SQLModel, table=True):
    """A person's enrolment record for contribution payment (issue 20): entered at a community
    office, payable after the entry delay, correctable for 5 working days."""

    __tablename__ = "enrolment_record"
    psn_no: str = Field(foreign_key="person.psn_no", primary_key=True, max_length=32)
    category: str = Field(max_length=16)  # resident | flexible_worker
    applied_on: date
    coverage_start: date
    entered_on: date  # business day of entry
    entered_at: datetime = _time()
    entered_by: str | None = Field(default=None, max_length=64)
    corrected_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class PaymentOrder(SQLModel, table=True):
    """A contribution payment order of a payment channel for one person-year."""

    __tablename__ = "payment_order"
    __table_args__ = (
        sa.UniqueConstraint("channel", "channel_order_id"),
        sa.Index("ix_payment_order_channel_confirmed_on", "channel", "confirmed_on"),
        sa.Index("ix_payment_order_channel_created_on", "channel", "created_on"),
    )
    order_no: str = Field(primary_key=True, max_length=40)
    channel: str = Field(max_length=32)
    channel_order_id: str = Field(max_length=64)
    psn_no: str = Field(foreign_key="person.psn_no", index=True, max_length=32)
    category: str = Field(max_length=16)
    year: int
    medical_fen: int = _money()
    pension_fen: int = _money()
    amount_fen: int = _money()
    rates_version: str = Field(max_length=16)
    status: str = Field(default="pending", max_length=16)  # pending | confirmed (expired: derived)
    created_at: datetime = _time()
    created_on: date | None = None  # business day of the creation (None: before revision 0175)
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    confirmed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    confirmed_on: date | None = None  # business day of the confirmation
    channel_txn_id: str | None = Field(default=None, max_length=64)


class ContributionPayment(SQLModel, table=True):
    """One paid person-year: at most one row per (person, year) - never paid twice."""

    __tablename__ = "contribution_payment"
    psn_no: str = Field(foreign_key="person.psn_no", primary_key=True, max_length=32)
    year: int = Field(primary_key=True)
    order_no: str | None = Field(default=None, unique=True, max_length=40)  # None: by the admin
    channel: str | None = Field(default=None, max_length=32)
    amount_fen: int = _money()
    source: str = Field(max_length=16)  # channel | admin
    paid_at: datetime = _time()
    coverage_id: int | None = None


T_INSTITUTION = Institution.__table__
T_TERMINAL = Terminal.__table__
T_API_KEY = ApiKey.__table__
T_PERSON = Person.__table__
T_DOCUMENT = IdentityDocumentRow.__table__
T_COVERAGE = CoveragePeriodRow.__table__
T_BENEFIT_YEAR = BenefitYear.__table__
T_ACCOUNT = AccountEntry.__table__
T_CARD = Card.__table__
T_CHALLENGE = Challenge.__table__
T_CARD_AUTH = CardAuthentication.__table__
T_ADMISSION = Admission.__table__
T_FEE_LINE = FeeLine.__table__
T_SETTLEMENT = Settlement.__table__
T_REVERSAL = Reversal.__table__
T_AUDIT = AuditEntry.__table__
T_PROBE = DurableProbe.__table__
T_GATEWAY_CREDENTIAL = GatewayCredential.__table__
T_GATEWAY_NONCE = GatewayNonce.__table__
T_GATEWAY_SIGN_IN = GatewaySignIn.__table__
T_GATEWAY_MESSAGE = GatewayMessage.__table__
T_FEE_LINE_CANCELLED = FeeLineCancelled.__table__
T_CATALOGUE_VERSION = CatalogueVersion.__table__
T_CATALOGUE_ENTRY = CatalogueEntryRow.__table__

metadata = SQLModel.metadata
T_ENROLMENT = EnrolmentRecord.__table__
T_PAYMENT_ORDER = PaymentOrder.__table__
T_CONTRIBUTION_PAYMENT = ContributionPayment.__table__
