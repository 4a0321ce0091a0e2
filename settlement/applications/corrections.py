"""The applicant's correction of a returned application (退回修改), and withdrawal.

A correction of personal data resumes at step 2 (audited and compared again);
after a pre-check return the pre-check is repeated
(``settlement.rules.application_flow.correct``). A withdrawal cancels what the
application made and nobody collected.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from settlement.applications.common import (
    AccountChange,
    authorised_row,
    change_account_status,
    event,
    flow_problem,
    state_of,
)
from settlement.applications.registers import Registers
from settlement.applications.schemas import CorrectionIn
from settlement.applications.views import view
from settlement.cards import cancel_card
from settlement.problems import Problem
from settlement.rules import application_flow as rules
from settlement.rules.application_flow import FlowError, Kind, Step
from settlement.rules.production_authority import Action
from settlement.schemas import CardActionIn
from settlement.service import Principal, audit
from settlement.store import applications as store

#: The applicant's data a correction may change (the rest is the flow's own).
CORRECTABLE = (
    "psn_name",
    "gend",
    "brdy",
    "naty",
    "birthplace",
    "psn_cert_type",
    "hukou_no",
    "photo_taken",
    "insutype",
    "bank_code",
)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def correct(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: CorrectionIn,
    now: datetime,
) -> dict[str, Any]:
    """The applicant's correction: changed fields are saved and the flow resumes.

    Personal data corrections resume at step 2 (audited and compared again);
    after a pre-check return the pre-check is repeated (the old card should be
    cancelled by now).
    """
    row = authorised_row(conn, principal, application_id, Action.CORRECT)
    try:
        resumed = rules.correct(state_of(row))
    except FlowError as error:
        raise flow_problem(error) from None
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k in CORRECTABLE}
    before = {k: _json_value(getattr(row, k)) for k in changes}
    if row.kind == Kind.REPLACEMENT.value and changes:
        raise Problem(
            409,
            "replacement_data_fixed",
            "a replacement copies the lost card's data; correct the person's record "
            "with a new application instead",
        )
    if changes and resumed.next_step is not None and resumed.next_step > Step.AUDITED:
        # Changed data is never taken on trust: audited and compared again, even when the
        # return came from the pre-check (which alone would resume at step 4).
        resumed = replace(resumed, done=int(Step.ACCEPTED))
    store.save_state(conn, application_id, resumed, now, reason_detail=None, **changes)
    detail = {
        "fields": sorted(changes),
        "before": before,
        "resumes_at": int(resumed.next_step) if resumed.next_step else None,
        "note": body.note,
    }
    event(
        conn,
        principal,
        application_id,
        None,
        "corrected",
        now,
        reason=row.reason_code,
        detail=detail,
    )
    audit(
        conn,
        principal,
        "application.correct",
        application_id,
        detail={"fields": sorted(changes)},
        at=now,
    )
    return view(conn, regs, application_id, now)


def _cancel_uncollected_card(
    conn: Connection, principal: Principal, regs: Registers, row: Row, now: datetime
) -> tuple[str | None, AccountChange | None]:
    """A card written for the application but never collected is cancelled with it, and the
    bank closes the account opened for it; ``(card cancelled, what the bank did)``.

    (Left standing as ``issued``, the card would block the person's next application.)
    """
    if not row.card_no or row.done < int(Step.PERSONALISED):
        return None, None
    if store.card_status(conn, row.card_no) != "issued":
        return None, None
    cancel_card(conn, principal, row.card_no, CardActionIn(reason="application withdrawn"), now)
    if not row.pan:
        return row.card_no, None
    return row.card_no, change_account_status(regs, row.bank_code, row.certno, row.pan, "closed")


def _end_pending_replacement(
    conn: Connection, principal: Principal, row: Row, now: datetime
) -> str | None:
    """A withdrawn replacement ends the pending replacement: the lost card is cancelled, so
    its receipt no longer stands in for a card (settlement.md: lost → cancelled)."""
    if row.kind != Kind.REPLACEMENT.value or not row.replaces_card_no:
        return None
    if store.card_status(conn, row.replaces_card_no) != "lost":
        return None
    reason = CardActionIn(reason="replacement withdrawn")
    cancel_card(conn, principal, row.replaces_card_no, reason, now)
    return row.replaces_card_no


def withdraw(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """The applicant gives up before issuance; what was made for them is cancelled."""
    row = authorised_row(conn, principal, application_id, Action.WITHDRAW)
    try:
        state = rules.withdraw(state_of(row))
    except FlowError as error:
        raise flow_problem(error) from None
    store.save_state(conn, application_id, state, now)
    card, closing = _cancel_uncollected_card(conn, principal, regs, row, now)
    old_card = _end_pending_replacement(conn, principal, row, now)
    failed = closing if closing is not None and not closing.done else None
    detail = {
        k: v
        for k, v in (
            ("cards_cancelled", [c for c in (card, old_card) if c]),
            # The bank could not close the account: the cancellation stands, the bank is told.
            ("account_left_open", failed and failed.pan),
            ("bank_error", failed and failed.bank_error),
        )
        if v
    }
    event(conn, principal, application_id, None, "withdrawn", now, detail=detail or None)
    return view(conn, regs, application_id, now)
