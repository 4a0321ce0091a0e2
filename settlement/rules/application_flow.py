"""The seven steps of card production as a pure state machine (issuance.md).

1. application accepted (参保受理)
2. data entry and audit (数据录入和审核)
3. comparison with the police register and the bank's records (数据比对)
4. pre-check against the card base and registration (预判和登记)
5. printing and personalisation (印刷封装, 社保信息写入)
6. bank account opening and financial data (银行开户, 金融信息写入)
7. issuance registration (发卡登记)

An application is a :class:`FlowState`. Each function here takes a state and
returns the next one, or raises :class:`FlowError` carrying a stable ``code``
when the move is not allowed. No clock, no database: the service layer
records who did what and when around these calls.

Rejections (project choice, following the card centres' practice):

* A *return* (退回) sends the application back to the applicant: missing or
  inconsistent data at audit, a mismatch at comparison, or an active card
  that must be cancelled at pre-check. Nothing moves until a *correction*
  arrives; a correction of personal data resumes at step 2 (the corrected
  data is audited and compared again), a return at pre-check resumes at step 4.
* A *failure* at step 5 or 6 (a faulty blank card, a write that did not read
  back, the bank's system refusing) stays with the card centre or the bank:
  the step stays open and is simply done again.

Replacement after a loss (issuance.md §Loss) starts with steps 1–3 carried
over from the lost card and runs steps 4–7.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import Enum, IntEnum

from settlement.rules.citizen_id import birth_date_of, is_valid_ssn, sex_of


class Step(IntEnum):
    """The seven production steps; the value is the step number."""

    ACCEPTED = 1  # 参保受理
    AUDITED = 2  # 数据录入和审核
    COMPARED = 3  # 数据比对
    REGISTERED = 4  # 预判和登记
    PERSONALISED = 5  # 印刷封装, 社保信息写入
    ACCOUNT_OPENED = 6  # 银行开户, 金融信息写入
    ISSUED = 7  # 发卡登记

    @property
    def label(self) -> str:
        return STEP_LABELS[self]

    @property
    def slug(self) -> str:
        return self.name.lower()


STEP_LABELS: dict[Step, str] = {
    Step.ACCEPTED: "application accepted (参保受理)",
    Step.AUDITED: "data entry and audit (数据录入和审核)",
    Step.COMPARED: "comparison (数据比对)",
    Step.REGISTERED: "pre-check and registration (预判和登记)",
    Step.PERSONALISED: "printing and personalisation (印刷封装, 社保信息写入)",
    Step.ACCOUNT_OPENED: "bank account opening (银行开户, 金融信息写入)",
    Step.ISSUED: "issuance registration (发卡登记)",
}


class Kind(str, Enum):
    """How the application came in."""

    BATCH = "batch"  # via the employer, 30 working days
    SINGLE = "single"  # by the person, 5 working days
    REPLACEMENT = "replacement"  # after a loss report, steps 4–7 (补卡)


class Status(str, Enum):
    """Where the application is as a whole."""

    IN_PROGRESS = "in_progress"  # the next step is someone's work
    RETURNED = "returned"  # back with the applicant for correction (退回修改)
    ISSUED = "issued"  # step 7 done: the card is active
    WITHDRAWN = "withdrawn"  # the applicant gave up


class Reason(str, Enum):
    """Stable codes for every rejection; the text is for people."""

    # step 2: audit
    MISSING_PHOTO = "missing_photo"
    MISSING_IDENTITY_DOCUMENT = "missing_identity_document"
    INVALID_SSN = "invalid_ssn"
    INCOMPLETE_DATA = "incomplete_data"
    # step 3: comparison
    NOT_IN_POLICE_REGISTER = "not_in_police_register"
    POLICE_REGISTER_MISMATCH = "police_register_mismatch"
    BANK_RECORD_MISMATCH = "bank_record_mismatch"
    # step 4: pre-check
    ACTIVE_CARD_EXISTS = "active_card_exists"
    # step 5 / 6: production faults, retried by the centre or the bank
    PERSONALISATION_FAILED = "personalisation_failed"
    BANK_WRITE_FAILED = "bank_write_failed"


REASON_TEXT: dict[Reason, str] = {
    Reason.MISSING_PHOTO: "no photo: the photo is taken on site at the service hall",
    Reason.MISSING_IDENTITY_DOCUMENT: (
        "no identity document: bring the ID card, or the household register (户口本) "
        "if there is no ID card"
    ),
    Reason.INVALID_SSN: "the social security number is not a valid citizen ID number",
    Reason.INCOMPLETE_DATA: "the application is missing required data",
    Reason.NOT_IN_POLICE_REGISTER: "the police population register has no such person",
    Reason.POLICE_REGISTER_MISMATCH: "the data differs from the police population register",
    Reason.BANK_RECORD_MISMATCH: "the data differs from the partner bank's customer record",
    Reason.ACTIVE_CARD_EXISTS: (
        "the person has an active card: it must be cancelled (or reported lost) first"
    ),
    Reason.PERSONALISATION_FAILED: "writing the card failed: personalise a new blank card",
    Reason.BANK_WRITE_FAILED: "the bank could not write the financial application: retry",
}

#: Which step may reject for which reason.
REASONS_BY_STEP: dict[Step, frozenset[Reason]] = {
    Step.AUDITED: frozenset(
        {
            Reason.MISSING_PHOTO,
            Reason.MISSING_IDENTITY_DOCUMENT,
            Reason.INVALID_SSN,
            Reason.INCOMPLETE_DATA,
        }
    ),
    Step.COMPARED: frozenset(
        {
            Reason.NOT_IN_POLICE_REGISTER,
            Reason.POLICE_REGISTER_MISMATCH,
            Reason.BANK_RECORD_MISMATCH,
        }
    ),
    Step.REGISTERED: frozenset({Reason.ACTIVE_CARD_EXISTS}),
    Step.PERSONALISED: frozenset({Reason.PERSONALISATION_FAILED}),
    Step.ACCOUNT_OPENED: frozenset({Reason.BANK_WRITE_FAILED}),
}

#: Reasons that go back to the applicant (the rest are retried in house).
RETURNED_TO_APPLICANT: frozenset[Reason] = (
    REASONS_BY_STEP[Step.AUDITED] | REASONS_BY_STEP[Step.COMPARED] | {Reason.ACTIVE_CARD_EXISTS}
)

#: Which steps a kind of application runs through.
FIRST_STEP: dict[Kind, Step] = {
    Kind.BATCH: Step.ACCEPTED,
    Kind.SINGLE: Step.ACCEPTED,
    Kind.REPLACEMENT: Step.REGISTERED,
}


class FlowError(Exception):
    """A move the state machine does not allow; ``code`` is stable for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FlowState:
    """Where one application stands.

    ``done`` is the highest completed step (0 before step 1 for a new
    application, 3 for a replacement, whose first three steps are carried over).
    While ``status`` is ``returned``, ``returned_at`` and ``reason`` say which
    step sent it back and why.
    """

    kind: Kind
    done: int
    status: Status = Status.IN_PROGRESS
    returned_at: Step | None = None
    reason: Reason | None = None

    @property
    def next_step(self) -> Step | None:
        """The step someone has to do now, or ``None`` when nothing can move."""
        if self.status is not Status.IN_PROGRESS or self.done >= Step.ISSUED:
            return None
        return Step(self.done + 1)

    @property
    def collection_notice_sent(self) -> bool:
        """The card is ready to collect (step 6 done): the service target's end point."""
        return self.done >= Step.ACCOUNT_OPENED


def start(kind: Kind) -> FlowState:
    """A new application, before step 1 (or, for a replacement, before step 4)."""
    return FlowState(kind=kind, done=FIRST_STEP[kind] - 1)


def complete(state: FlowState, step: Step) -> FlowState:
    """Mark ``step`` done; it must be the next step of an application in progress."""
    _require_moving(state)
    if state.next_step is not step:
        expected = state.next_step.label if state.next_step else "nothing"
        raise FlowError(
            "step_out_of_order", f"cannot do step {int(step)} now: the next step is {expected}"
        )
    status = Status.ISSUED if step is Step.ISSUED else Status.IN_PROGRESS
    return replace(state, done=int(step), status=status, returned_at=None, reason=None)


def reject(state: FlowState, step: Step, reason: Reason) -> FlowState:
    """Step ``step`` (the next step) refuses the application for ``reason``.

    Reasons in :data:`RETURNED_TO_APPLICANT` send it back (status
    ``returned``); production faults keep it in progress on the same step.
    """
    _require_moving(state)
    if state.next_step is not step:
        raise FlowError("step_out_of_order", f"step {int(step)} is not the application's next step")
    if reason not in REASONS_BY_STEP.get(step, frozenset()):
        raise FlowError("reason_not_for_step", f"step {int(step)} cannot reject for {reason.value}")
    if reason in RETURNED_TO_APPLICANT:
        return replace(state, status=Status.RETURNED, returned_at=step, reason=reason)
    return replace(state, reason=reason)


def resume_step(state: FlowState) -> Step:
    """Where a correction takes a returned application.

    Corrected personal data is audited and compared again (step 2); after a
    pre-check return (the old card now cancelled) the pre-check is repeated.
    A replacement never goes before step 4.
    """
    if state.status is not Status.RETURNED or state.returned_at is None:
        raise FlowError("not_returned", "only a returned application can be corrected")
    if state.returned_at in (Step.AUDITED, Step.COMPARED):
        step = Step.AUDITED
    else:
        step = state.returned_at
    return max(step, FIRST_STEP[state.kind])


def correct(state: FlowState) -> FlowState:
    """The applicant's correction arrived: the flow resumes at :func:`resume_step`."""
    step = resume_step(state)
    return replace(
        state, status=Status.IN_PROGRESS, done=int(step) - 1, returned_at=None, reason=None
    )


def withdraw(state: FlowState) -> FlowState:
    """The applicant gives up before issuance."""
    if state.status is Status.ISSUED:
        raise FlowError("already_issued", "an issued card cannot be withdrawn; report it lost")
    if state.status is Status.WITHDRAWN:
        raise FlowError("withdrawn", "the application was already withdrawn")
    return replace(state, status=Status.WITHDRAWN)


def _require_moving(state: FlowState) -> None:
    if state.status is Status.RETURNED:
        raise FlowError(
            "awaiting_correction",
            f"the application was returned ({state.reason.value if state.reason else '?'}): "
            "it needs the applicant's correction first",
        )
    if state.status is Status.ISSUED:
        raise FlowError("already_issued", "the card has already been issued")
    if state.status is Status.WITHDRAWN:
        raise FlowError("withdrawn", "the application was withdrawn")


# --- step 2: the audit's checks (数据录入和审核) ---------------------------------------------


@dataclass(frozen=True)
class ApplicantData:
    """What the applicant (or the employer) handed in, as the audit sees it."""

    certno: str
    psn_name: str
    gend: str
    brdy: date
    naty: str
    birthplace: str
    psn_cert_type: str  # id_card | household_register
    hukou_no: str | None
    photo_taken: bool
    insutype: str
    region: str


IDENTITY_DOCUMENTS = ("id_card", "household_register")


def audit_findings(data: ApplicantData) -> list[tuple[Reason, str]]:
    """Every reason the audit returns the application for, with a sentence each.

    Anyone without an ID card applies with the household register; the photo
    is taken on site (issuance.md). The citizen ID number must be valid and
    agree with the stated birth date and sex.
    """
    findings: list[tuple[Reason, str]] = []
    if not data.photo_taken:
        findings.append((Reason.MISSING_PHOTO, REASON_TEXT[Reason.MISSING_PHOTO]))
    if data.psn_cert_type not in IDENTITY_DOCUMENTS:
        findings.append(
            (
                Reason.MISSING_IDENTITY_DOCUMENT,
                f"identity document {data.psn_cert_type!r}: use id_card or household_register",
            )
        )
    elif data.psn_cert_type == "household_register" and not data.hukou_no:
        findings.append(
            (
                Reason.MISSING_IDENTITY_DOCUMENT,
                "applying without an ID card needs the household register (户口本) number",
            )
        )
    if not is_valid_ssn(data.certno):
        findings.append((Reason.INVALID_SSN, REASON_TEXT[Reason.INVALID_SSN]))
    else:
        if birth_date_of(data.certno) != data.brdy:
            findings.append(
                (Reason.INCOMPLETE_DATA, "the birth date differs from the one in the ID number")
            )
        if sex_of(data.certno) != data.gend:
            findings.append(
                (Reason.INCOMPLETE_DATA, "the sex differs from the one in the ID number")
            )
    missing = [
        name
        for name, ok in (
            ("psn_name", bool(data.psn_name.strip())),
            ("naty", len(data.naty) == 2 and data.naty.isdigit()),
            ("birthplace", len(data.birthplace) == 6 and data.birthplace.isdigit()),
            ("region", len(data.region) == 6 and data.region.isdigit()),
            ("insutype", data.insutype in ("310", "390")),
        )
        if not ok
    ]
    if missing:
        findings.append((Reason.INCOMPLETE_DATA, "missing or malformed: " + ", ".join(missing)))
    return findings
