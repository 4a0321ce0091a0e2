"""Card applications as the API shows them: every step with its date, the history, the deadline.

Read-only; the holder's own view (the progress query, 制卡进度查询, issuance.md)
leaves out the PAN and the terminals.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from settlement.applications.common import authorised_row, require, state_of
from settlement.applications.registers import Registers
from settlement.rules.application_flow import FlowState, Status, Step
from settlement.rules.production_authority import Action
from settlement.rules.roles import BANK_BRANCH
from settlement.rules.working_days import Deadline, deadline
from settlement.service import Principal
from settlement.store import applications as store
from settlement.store.db import as_utc


def _iso(value: datetime | None) -> str | None:
    """A stored time, timezone-aware, as ISO 8601 (None stays None)."""
    aware = as_utc(value)
    return aware.isoformat() if aware is not None else None


def _deadline(regs: Registers, row: Row, now: datetime) -> Deadline:
    """The application measured against its service target (issuance.md §Service targets)."""
    return deadline(
        regs.calendar,
        as_utc(row.applied_at),
        row.target_days,
        now=now,
        reached_at=as_utc(row.notice_at),
    )


def _step_views(row: Row, state: FlowState, events: list[Row]) -> list[dict[str, Any]]:
    """Each of the seven steps: done, carried over, returned, current or pending; when, by whom."""
    last_done: dict[int, Row] = {}
    last_refused: dict[int, Row] = {}
    for event in events:
        if event.step and event.action in ("completed", "carried_over"):
            last_done[event.step] = event
        elif event.step and event.action in ("returned", "failed"):
            last_refused[event.step] = event
    steps = []
    for step in Step:
        event = last_done.get(int(step)) if step <= state.done else None
        reason = None
        if step <= state.done:
            step_state = "carried_over" if event and event.action == "carried_over" else "done"
        elif state.status is Status.RETURNED and step == state.returned_at:
            step_state = "returned"
            event = last_refused.get(int(step))  # when and by whom it was sent back
            reason = row.reason_code
        elif state.next_step is step:
            step_state = "current"
        else:
            step_state = "pending"
        steps.append(
            {
                "step": int(step),
                "name": step.slug,
                "label": step.label,
                "state": step_state,
                "at": _iso(event.at) if event else None,
                "by": event.institution_code if event else None,
                "reason": reason,
            }
        )
    return steps


def _history(events: list[Row], *, for_holder: bool) -> list[dict[str, Any]]:
    return [
        {
            "step": e.step,
            "action": e.action,
            "reason": e.reason_code,
            "detail": json.loads(e.detail) if e.detail else None,
            "by": e.institution_code,
            "terminal": None if for_holder else e.terminal_id,
            "at": _iso(e.at),
        }
        for e in events
    ]


def _where_it_stands(row: Row, state: FlowState) -> dict[str, Any]:
    """The next step, the open return (退回) and the last production fault."""
    return {
        "next_step": None
        if state.next_step is None
        else {"step": int(state.next_step), "name": state.next_step.slug},
        "returned": None
        if state.status is not Status.RETURNED
        else {
            "step": row.returned_at_step,
            "reason": row.reason_code,
            "detail": row.reason_detail,
        },
        "last_failure": None
        if state.status is not Status.IN_PROGRESS or not row.reason_code
        else {
            "step": state.next_step and int(state.next_step),
            "reason": row.reason_code,
            "detail": row.reason_detail,
        },
    }


def application_view(
    conn: Connection, row: Row, regs: Registers, now: datetime, *, for_holder: bool = False
) -> dict[str, Any]:
    """The application as the API shows it: every step with its date, history, deadline."""
    state = state_of(row)
    events = store.events(conn, row.application_id)
    return {
        "application_id": row.application_id,
        "kind": row.kind,
        "status": row.status,
        "batch_id": row.batch_id,
        "employer_code": row.employer_code,
        "certno": row.certno,
        "psn_name": row.psn_name,
        "psn_no": row.psn_no,
        **_where_it_stands(row, state),
        "card_no": row.card_no,
        "card_id_code": row.card_id_code,
        "bank_code": row.bank_code,
        "pan": None if for_holder else row.pan,
        "replaces_card_no": row.replaces_card_no,
        "replacement_receipt_no": row.replacement_receipt_no,
        "collected_by": row.collected_by,
        "applied_at": _iso(row.applied_at),
        "collection_notice_at": _iso(row.notice_at),
        "issued_at": _iso(row.issued_at),
        "deadline": _deadline(regs, row, now).to_json(),
        "steps": _step_views(row, state, events),
        "history": _history(events, for_holder=for_holder),
    }


def view(conn: Connection, regs: Registers, application_id: str, now: datetime) -> dict[str, Any]:
    """The application as it stands after a step (read again, unlocked)."""
    return application_view(conn, store.load(conn, application_id, lock=False), regs, now)


def get_application(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    row = authorised_row(conn, principal, application_id, Action.READ, lock=False)
    return application_view(conn, row, regs, now)


def _summary(regs: Registers, row: Row, now: datetime) -> dict[str, Any]:
    """One line of a list: where it stands and whether it is late (no history)."""
    state = state_of(row)
    target = _deadline(regs, row, now)
    return {
        "application_id": row.application_id,
        "kind": row.kind,
        "status": row.status,
        "batch_id": row.batch_id,
        "certno": row.certno,
        "psn_name": row.psn_name,
        "done": row.done,
        "next_step": int(state.next_step) if state.next_step else None,
        "reason": row.reason_code,
        "card_no": row.card_no,
        "due_on": target.due_on.isoformat(),
        "late": target.late,
        "due_provisional": target.provisional,
    }


def list_applications(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    now: datetime,
    *,
    batch_id: str | None = None,
    employer_code: str | None = None,
    status: str | None = None,
    next_step: int | None = None,
    certno: str | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """Applications matching the filters, oldest first (summaries without history).

    A bank branch sees its own bank's applications only.
    """
    require(principal, Action.LIST, None)
    rows = store.search(
        conn,
        batch_id=batch_id,
        employer_code=employer_code,
        status=status,
        next_step=next_step,
        certno=certno,
        bank_code=(principal.bank_code or "") if principal.role == BANK_BRANCH else None,
        limit=limit,
    )
    items = [_summary(regs, row, now) for row in rows]
    # ``truncated``: there may be more than ``limit`` (a batch holds up to 2000; ask for more).
    return {"count": len(items), "truncated": len(items) == limit, "applications": items}
