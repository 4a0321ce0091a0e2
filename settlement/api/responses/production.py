"""Success answers of card production (docs/api.md §Card applications, card-production.md)."""

from __future__ import annotations

from typing import Any, Literal

from settlement.api.responses.models import CardLoss, Day, Out, Time


class Application(Out):
    """A card application with its steps, history and deadline."""

    application_id: str
    kind: str
    status: str
    batch_id: str | None = None
    employer_code: str | None = None
    certno: str
    psn_name: str
    psn_no: str | None = None
    card_no: str | None = None
    card_id_code: str | None = None
    bank_code: str | None = None
    pan: str | None = None
    replaces_card_no: str | None = None
    replacement_receipt_no: str | None = None
    collected_by: str | None = None
    applied_at: Time | None = None
    collection_notice_at: Time | None = None
    issued_at: Time | None = None
    deadline: dict[str, Any]
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]


class ApplicationSummary(Out):
    application_id: str
    kind: str
    status: str
    batch_id: str | None = None
    certno: str
    psn_name: str
    done: bool | None = None
    next_step: int | None = None
    reason: str | None = None
    card_no: str | None = None
    due_on: Day
    late: bool
    due_provisional: bool


class Applications(Out):
    count: int
    truncated: bool
    applications: list[ApplicationSummary]


class ApplicationBatch(Out):
    batch_id: str
    employer_code: str | None = None
    count: int
    application_ids: list[str]
    applied_at: Time
    due_on: Day


class PersonalisationOrder(Out):
    """What the card centre's terminal writes onto the blank card (EF05 / EF06 / DF04)."""

    application_id: str
    card_no: str
    region: str
    issue_date: Day
    expiry_date: Day
    init_org: str
    ssn: str
    name: str
    sex: str | None = None
    nation: str | None = None
    birthplace: str | None = None
    birth_date: Day
    insured_region: str
    insurance_type: str | None = None
    psn_no: str | None = None


class BankAccount(Out):
    """The partner bank's account for the card's financial application."""

    application_id: str
    card_no: str
    bank_code: str
    pan: str
    pan_sequence: str | int
    holder_name: str
    certno: str
    effective_date: Day | None = None
    expiry_date: Day


class CardLossReport(CardLoss):
    """A loss reported at the card centre: the card blocked, its bank account frozen, and
    the replacement application opened."""

    account_frozen: bool
    bank_error: str | None = None
    replacement_application: Application


class Progress(Out):
    """The holder's own progress query (query password checked)."""

    certno: str
    as_of: Time
    applications: list[Application]


class Citizen(Out):
    """A citizen of the simulated police population register, as entered."""

    certno: str
    psn_name: str
    gend: Literal["1", "2"]
    brdy: Day
    naty: str
    birthplace: str
    hukou_no: str
