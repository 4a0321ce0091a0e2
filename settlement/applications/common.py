"""What every card production step shares: the caller's authority, the state, the history.

Each step (``intake``, ``checks``, ``production``, ``corrections``, ``loss``)
loads its application through :func:`authorised_row` (role from the authority
table ``settlement.rules.production_authority``, own bank for a bank branch),
asks the pure state machine (``settlement.rules.application_flow``) whether the
move is allowed, and records it with :func:`complete` or :func:`reject`: the
new state, one history event with who did it and when, one audit entry.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from settlement.applications.registers import Registers
from settlement.authority import require_role
from settlement.external.bank_records import BankRecordsError
from settlement.problems import Problem
from settlement.rules import application_flow as rules
from settlement.rules.application_flow import FlowError, FlowState, Kind, Reason, Status, Step
from settlement.rules.production_authority import Action, bank_branch_may_act, roles_for
from settlement.service import Principal, audit
from settlement.store import applications as store


def state_of(row: Row) -> FlowState:
    """Where a stored application stands, as the state machine sees it."""
    return FlowState(
        kind=Kind(row.kind),
        done=row.done,
        status=Status(row.status),
        returned_at=Step(row.returned_at_step) if row.returned_at_step else None,
        reason=Reason(row.reason_code) if row.reason_code else None,
    )


def flow_problem(error: FlowError) -> Problem:
    """A move the state machine refuses: ``409`` with the rule's stable code."""
    return Problem(409, error.code, error.message)


def require(principal: Principal, action: Action, subject: str | None, step: Step | None = None):
    """``403 not_entitled`` (audited) unless the authority table lets the caller do ``action``."""
    require_role(principal, *roles_for(action, step), action=action.value, subject=subject)


def authorised_row(
    conn: Connection,
    principal: Principal,
    application_id: str,
    action: Action,
    *,
    step: Step | None = None,
    lock: bool = True,
) -> Row:
    """The application, once ``principal`` may do ``action`` on it: a role the authority
    table names and, for a bank branch, the application's own bank (locked unless
    ``lock`` is False)."""
    require(principal, action, application_id, step)
    row = store.load(conn, application_id, lock=lock)
    if not bank_branch_may_act(principal.role, principal.bank_code, row.bank_code):
        # Another bank's application is answered like an unknown one (issue 16: no
        # existence leak, no bank named); the refusal is still audited.
        raise Problem(
            404,
            "not_found",
            f"application {row.application_id} not found",
            audit=(action.value, row.application_id),
        )
    return row


def require_next(row: Row, step: Step) -> FlowState:
    """The application's state, provided ``step`` is what it waits for (else 409)."""
    state = state_of(row)
    try:
        if state.status is not Status.IN_PROGRESS or state.next_step is not step:
            rules.complete(state, step)  # raises the precise FlowError
    except FlowError as error:
        raise flow_problem(error) from None
    return state


def event(
    conn: Connection,
    principal: Principal | None,
    application_id: str,
    step: int | None,
    action: str,
    now: datetime,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append a history event done by ``principal``'s institution and terminal."""
    store.add_event(
        conn,
        application_id,
        step,
        action,
        now,
        institution_code=principal.institution_code if principal else None,
        terminal_id=principal.terminal_id if principal else None,
        reason=reason,
        detail=detail,
    )


def complete(
    conn: Connection,
    principal: Principal,
    row: Row,
    step: Step,
    now: datetime,
    *,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """Step ``step`` done: the new state (and ``values``), a ``completed`` event, an audit."""
    try:
        state = rules.complete(state_of(row), step)
    except FlowError as error:
        raise flow_problem(error) from None
    store.save_state(conn, row.application_id, state, now, reason_detail=None, **values)
    event(conn, principal, row.application_id, int(step), "completed", now, detail=detail)
    audit(conn, principal, f"application.step{int(step)}", row.application_id, at=now)


def reject(
    conn: Connection,
    principal: Principal,
    row: Row,
    step: Step,
    reason: Reason,
    detail: str,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Step ``step`` refuses: returned to the applicant, or failed and open (``rules.reject``)."""
    try:
        state = rules.reject(state_of(row), step, reason)
    except FlowError as error:
        raise flow_problem(error) from None
    action = "returned" if state.status is Status.RETURNED else "failed"
    store.save_state(conn, row.application_id, state, now, reason_detail=detail)
    event(
        conn,
        principal,
        row.application_id,
        int(step),
        action,
        now,
        reason=reason.value,
        detail={"detail": detail, **(extra or {})},
    )
    audit(
        conn,
        principal,
        f"application.step{int(step)}",
        row.application_id,
        outcome="refused",
        code=reason.value,
        detail={"detail": detail},
        at=now,
    )


def new_id(prefix: str, day: date) -> str:
    """A new application (``AP``) or batch (``BT``) id: prefix, business day, 8 hex digits."""
    return f"{prefix}{day:%Y%m%d}{secrets.token_hex(4).upper()}"


@dataclass(frozen=True)
class AccountChange:
    """What the partner bank did when asked to freeze or close a card's account.

    The bank's records are its own system (``settlement.external``): it may
    fail (an unreadable file, a bank that is no partner, an account it does
    not hold). The service's own change (the card blocked or cancelled)
    stands either way; the outcome says whether the bank followed, and why not.
    """

    pan: str
    status: str  # the status asked for: 'frozen' | 'closed'
    done: bool
    bank_error: str | None = None


def change_account_status(
    regs: Registers, bank_code: str, certno: str, pan: str, status: str
) -> AccountChange:
    """Ask bank ``bank_code`` to set the account ``pan`` to ``status``; never raises for the
    bank's own failures (:class:`~settlement.external.bank_records.BankRecordsError`,
    an unwritable file), which the outcome carries instead."""
    try:
        regs.bank(bank_code).set_account_status(certno, pan, status)
    except (BankRecordsError, OSError) as exc:
        return AccountChange(pan, status, done=False, bank_error=str(exc))
    return AccountChange(pan, status, done=True)
