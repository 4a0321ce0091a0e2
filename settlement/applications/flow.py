"""Card production in the service: the seven steps on one write transaction each.

The API layer (``settlement/applications/api.py``) calls these functions
inside :meth:`Service.mutate`; each takes the open connection, the caller
(:class:`Principal`), the outside registers and ``now``. The state machine
itself is pure (``settlement.rules.application_flow``); this module loads an
application, asks the rules whether the move is allowed, does the step's real
work (comparison against the police register and the bank's records, the
pre-check against the card base, card registration, account opening,
collection), and appends the step's history event with who did it and when.

Steps and who may do them (issuance.md; project choice where the spec is silent):

====  ===============================  =========================================
step  what                             who
====  ===============================  =========================================
1     application accepted             card centre (single, or an employer's batch)
2     data entry and audit             card centre
3     comparison                       the partner bank (or the card centre)
4     pre-check and registration       card centre
5     printing and personalisation     card centre (its terminal writes the card)
6     bank account opening             the application's own partner bank
7     issuance registration            card centre or a bank branch
====  ===============================  =========================================
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.applications.models import (
    T_APPLICATION,
    T_APPLICATION_EVENT,
    T_PROGRESS_FAILURE,
)
from settlement.applications.registers import Registers
from settlement.applications.schemas import (
    AccountOpenedIn,
    ApplicationIn,
    BatchIn,
    CorrectionIn,
    IssueIn,
    LossIn,
    PersonalisedIn,
    RejectionIn,
)
from settlement.authority import ADMIN, BANK_BRANCH, CARD_CENTRE, require_role
from settlement.cards import (
    cancel_card,
    collect_card,
    register_card,
    replace_card,
    report_loss,
)
from settlement.people import register_person
from settlement.problems import Problem
from settlement.proof import load_card, parse_card_id_code
from settlement.rules import application_flow as rules
from settlement.rules.application_flow import (
    REASON_TEXT,
    ApplicantData,
    FlowError,
    FlowState,
    Kind,
    Reason,
    Status,
    Step,
)
from settlement.rules.working_days import deadline, target_working_days
from settlement.schemas import CardActionIn, CardIn, PersonIn
from settlement.security import hash_password, password_matches
from settlement.service import Principal, audit
from settlement.store.db import as_utc, for_update
from settlement.store.tables import T_CARD, T_PERSON

#: Wrong query passwords allowed per SSN within the window before the query is refused.
PROGRESS_MAX_FAILURES = 5
PROGRESS_WINDOW = timedelta(minutes=15)
#: Validity of a social security card from its issue date (project choice: 10 years).
CARD_VALIDITY_YEARS = 10
#: Card numbers produced here: one letter and 8 digits (EF05 record 7, 9 ASCII).
CARD_NO_PREFIX = "S"


# --- loading and viewing -------------------------------------------------------------------


def _load(conn: Connection, application_id: str, *, lock: bool = True) -> Row:
    stmt = sa.select(T_APPLICATION).where(T_APPLICATION.c.application_id == application_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise Problem(404, "not_found", f"application {application_id} not found")
    return row


def _state(row: Row) -> FlowState:
    return FlowState(
        kind=Kind(row.kind),
        done=row.done,
        status=Status(row.status),
        returned_at=Step(row.returned_at_step) if row.returned_at_step else None,
        reason=Reason(row.reason_code) if row.reason_code else None,
    )


def _as_aware(value: datetime | None) -> datetime | None:
    return as_utc(value)


def _events(conn: Connection, application_id: str) -> list[Row]:
    return conn.execute(
        sa.select(T_APPLICATION_EVENT)
        .where(T_APPLICATION_EVENT.c.application_id == application_id)
        .order_by(T_APPLICATION_EVENT.c.id)
    ).all()


def application_view(
    conn: Connection, row: Row, regs: Registers, now: datetime, *, for_holder: bool = False
) -> dict[str, Any]:
    """The application as the API shows it: every step with its date, history, deadline."""
    state = _state(row)
    events = _events(conn, row.application_id)
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
                "at": _as_aware(event.at).isoformat() if event else None,
                "by": event.institution_code if event else None,
                "reason": reason,
            }
        )
    target = deadline(
        regs.calendar,
        _as_aware(row.applied_at),
        row.target_days,
        now=now,
        reached_at=_as_aware(row.notice_at),
    )
    view: dict[str, Any] = {
        "application_id": row.application_id,
        "kind": row.kind,
        "status": row.status,
        "batch_id": row.batch_id,
        "employer_code": row.employer_code,
        "certno": row.certno,
        "psn_name": row.psn_name,
        "psn_no": row.psn_no,
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
        "card_no": row.card_no,
        "card_id_code": row.card_id_code,
        "bank_code": row.bank_code,
        "pan": None if for_holder else row.pan,
        "replaces_card_no": row.replaces_card_no,
        "replacement_receipt_no": row.replacement_receipt_no,
        "collected_by": row.collected_by,
        "applied_at": _as_aware(row.applied_at).isoformat(),
        "collection_notice_at": _as_aware(row.notice_at).isoformat() if row.notice_at else None,
        "issued_at": _as_aware(row.issued_at).isoformat() if row.issued_at else None,
        "deadline": target.to_json(),
        "steps": steps,
        "history": [
            {
                "step": e.step,
                "action": e.action,
                "reason": e.reason_code,
                "detail": json.loads(e.detail) if e.detail else None,
                "by": e.institution_code,
                "terminal": None if for_holder else e.terminal_id,
                "at": _as_aware(e.at).isoformat(),
            }
            for e in events
        ],
    }
    return view


def get_application(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    row = _authorised_row(
        conn,
        principal,
        application_id,
        CARD_CENTRE,
        BANK_BRANCH,
        ADMIN,
        action="application.read",
        lock=False,
    )
    return application_view(conn, row, regs, now)


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
    """Applications matching the filters, oldest first (summaries without history)."""
    require_role(principal, CARD_CENTRE, BANK_BRANCH, ADMIN, action="application.list")
    stmt = sa.select(T_APPLICATION).order_by(
        T_APPLICATION.c.applied_at, T_APPLICATION.c.application_id
    )
    if batch_id:
        stmt = stmt.where(T_APPLICATION.c.batch_id == batch_id)
    if employer_code:
        stmt = stmt.where(T_APPLICATION.c.employer_code == employer_code)
    if status:
        stmt = stmt.where(T_APPLICATION.c.status == status)
    if next_step is not None:
        stmt = stmt.where(
            T_APPLICATION.c.status == Status.IN_PROGRESS.value,
            T_APPLICATION.c.done == next_step - 1,
        )
    if certno:
        stmt = stmt.where(T_APPLICATION.c.certno == certno)
    if principal.role == BANK_BRANCH:
        stmt = stmt.where(T_APPLICATION.c.bank_code == principal.bank_code)
    rows = conn.execute(stmt.limit(limit)).all()
    items = []
    for row in rows:
        state = _state(row)
        target = deadline(
            regs.calendar,
            _as_aware(row.applied_at),
            row.target_days,
            now=now,
            reached_at=_as_aware(row.notice_at),
        )
        items.append(
            {
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
        )
    # ``truncated``: there may be more than ``limit`` (a batch holds up to 2000; ask for more).
    return {"count": len(items), "truncated": len(items) == limit, "applications": items}


# --- helpers -------------------------------------------------------------------------------


def _event(
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
    conn.execute(
        T_APPLICATION_EVENT.insert().values(
            application_id=application_id,
            step=step,
            action=action,
            reason_code=reason,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
            institution_code=principal.institution_code if principal else None,
            terminal_id=principal.terminal_id if principal else None,
            at=now,
        )
    )


def _save(conn: Connection, application_id: str, state: FlowState, now: datetime, **values) -> None:
    conn.execute(
        T_APPLICATION.update()
        .where(T_APPLICATION.c.application_id == application_id)
        .values(
            status=state.status.value,
            done=state.done,
            returned_at_step=int(state.returned_at) if state.returned_at else None,
            reason_code=state.reason.value if state.reason else None,
            updated_at=now,
            **values,
        )
    )


def _flow_problem(error: FlowError) -> Problem:
    return Problem(409, error.code, error.message)


def _require_next(row: Row, step: Step) -> FlowState:
    """The application's state, provided ``step`` is what it waits for (else 409)."""
    state = _state(row)
    try:
        if state.status is not Status.IN_PROGRESS or state.next_step is not step:
            rules.complete(state, step)  # raises the precise FlowError
    except FlowError as error:
        raise _flow_problem(error) from None
    return state


def _complete(
    conn: Connection,
    principal: Principal,
    row: Row,
    step: Step,
    now: datetime,
    *,
    detail: dict[str, Any] | None = None,
    **values,
) -> None:
    try:
        state = rules.complete(_state(row), step)
    except FlowError as error:
        raise _flow_problem(error) from None
    _save(conn, row.application_id, state, now, reason_detail=None, **values)
    _event(conn, principal, row.application_id, int(step), "completed", now, detail=detail)
    audit(conn, principal, f"application.step{int(step)}", row.application_id, at=now)


def _reject(
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
    try:
        state = rules.reject(_state(row), step, reason)
    except FlowError as error:
        raise _flow_problem(error) from None
    action = "returned" if state.status is Status.RETURNED else "failed"
    _save(conn, row.application_id, state, now, reason_detail=detail)
    _event(
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


def _require_own_bank(principal: Principal, row: Row, action: str) -> None:
    if principal.role == BANK_BRANCH and principal.bank_code != row.bank_code:
        raise Problem(
            403,
            "not_entitled",
            f"application {row.application_id} is with bank {row.bank_code}; "
            f"this branch belongs to bank {principal.bank_code}",
            audit=(action, row.application_id),
        )


def _authorised_row(
    conn: Connection,
    principal: Principal,
    application_id: str,
    *roles: str,
    action: str,
    lock: bool = True,
) -> Row:
    """The application, once ``principal`` may act on it: a role among ``roles`` and,
    for a bank branch, the application's own bank (locked unless ``lock`` is False)."""
    require_role(principal, *roles, action=action, subject=application_id)
    row = _load(conn, application_id, lock=lock)
    _require_own_bank(principal, row, action)
    return row


def _new_id(prefix: str, day: date) -> str:
    """A new application or batch id: prefix, the business day, 8 random hex digits."""
    return f"{prefix}{day:%Y%m%d}{secrets.token_hex(4).upper()}"


def _view(conn: Connection, regs: Registers, application_id: str, now: datetime) -> dict:
    return application_view(conn, _load(conn, application_id, lock=False), regs, now)


# --- step 1: acceptance --------------------------------------------------------------------


def _insert_application(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    body: ApplicationIn,
    kind: Kind,
    now: datetime,
    *,
    batch_id: str | None = None,
    employer_code: str | None = None,
    employer_name: str | None = None,
    applied_at: datetime | None = None,
    password_hash: str | None = None,
) -> str:
    application_id = _new_id("AP", regs.calendar.local_day(now))
    target = target_working_days(kind is Kind.BATCH)
    applied = _applied_at(applied_at, now)
    conn.execute(
        T_APPLICATION.insert().values(
            application_id=application_id,
            kind=kind.value,
            batch_id=batch_id,
            employer_code=employer_code,
            employer_name=employer_name,
            certno=body.certno.upper(),
            psn_name=body.psn_name,
            gend=body.gend,
            brdy=body.brdy,
            naty=body.naty,
            birthplace=body.birthplace,
            psn_cert_type=body.psn_cert_type,
            hukou_no=body.hukou_no,
            photo_taken=body.photo_taken,
            insutype=body.insutype,
            region=body.region,
            bank_code=body.bank_code,
            query_password_hash=password_hash
            if password_hash is not None
            else (hash_password(body.query_password) if body.query_password else None),
            status=Status.IN_PROGRESS.value,
            done=0,
            applied_at=applied,
            target_days=target,
            due_on=regs.calendar.add_working_days(regs.calendar.local_day(applied), target),
            created_at=now,
            updated_at=now,
        )
    )
    row = _load(conn, application_id)
    _complete(
        conn,
        principal,
        row,
        Step.ACCEPTED,
        applied,
        detail={
            "kind": kind.value,
            "batch_id": batch_id,
            "employer_code": employer_code,
            "entered_at": now.isoformat(),
        },
    )
    return application_id


#: How far back a paper application (accepted at a community office) may be entered.
MAX_BACKDATE = timedelta(days=366)


def _applied_at(applied_at: datetime | None, now: datetime) -> datetime:
    """When the application was accepted: now, or the paper form's date (never the future)."""
    if applied_at is None:
        return now
    if applied_at > now + timedelta(minutes=5):
        raise Problem(422, "validation_error", "applied_at lies in the future")
    if applied_at < now - MAX_BACKDATE:
        raise Problem(422, "validation_error", "applied_at is more than a year ago")
    return applied_at.astimezone(UTC)  # stored in UTC (SQLite keeps no offset)


def hash_query_passwords(bodies: list[ApplicationIn]) -> list[str | None]:
    """The salted slow hashes of the applications' query passwords (``None`` where none given).

    Called by the API *before* the write transaction: scrypt costs ~50 ms a
    password and must not hold the single writer. Hashed on a few threads
    (hashlib's scrypt releases the GIL); production parameters unchanged.
    """
    todo = [i for i, b in enumerate(bodies) if b.query_password]
    hashes: list[str | None] = [None] * len(bodies)
    if len(todo) <= 1:
        for i in todo:
            hashes[i] = hash_password(bodies[i].query_password)
        return hashes
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 2)) as pool:
        for i, digest in zip(
            todo, pool.map(lambda i: hash_password(bodies[i].query_password), todo), strict=True
        ):
            hashes[i] = digest
    return hashes


def accept(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    body: ApplicationIn,
    now: datetime,
    *,
    password_hash: str | None = None,
) -> dict[str, Any]:
    """Step 1 for a single (sporadic) application handed in by the person."""
    require_role(principal, CARD_CENTRE, ADMIN, action="application.accept", subject=body.certno)
    application_id = _insert_application(
        conn,
        principal,
        regs,
        body,
        Kind.SINGLE,
        now,
        applied_at=body.applied_at,
        password_hash=password_hash,
    )
    return _view(conn, regs, application_id, now)


def accept_batch(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    body: BatchIn,
    now: datetime,
    *,
    password_hashes: list[str | None] | None = None,
) -> dict[str, Any]:
    """Step 1 for an employer's batch: one application per employee, one batch id."""
    require_role(
        principal, CARD_CENTRE, ADMIN, action="application.accept_batch", subject=body.employer_code
    )
    batch_id = _new_id("BT", regs.calendar.local_day(now))
    applied = _applied_at(body.applied_at, now)
    ids = [
        _insert_application(
            conn,
            principal,
            regs,
            item,
            Kind.BATCH,
            now,
            batch_id=batch_id,
            employer_code=body.employer_code,
            employer_name=body.employer_name,
            applied_at=_applied_at(item.applied_at, now) if item.applied_at else applied,
            password_hash=password_hashes[i] if password_hashes else None,
        )
        for i, item in enumerate(body.applications)
    ]
    return {
        "batch_id": batch_id,
        "employer_code": body.employer_code,
        "count": len(ids),
        "application_ids": ids,
        "applied_at": applied.isoformat(),
        "due_on": regs.calendar.add_working_days(
            regs.calendar.local_day(applied), target_working_days(True)
        ).isoformat(),
    }


# --- step 2: audit -------------------------------------------------------------------------


def _applicant(row: Row) -> ApplicantData:
    return ApplicantData(
        certno=row.certno,
        psn_name=row.psn_name,
        gend=row.gend,
        brdy=row.brdy,
        naty=row.naty,
        birthplace=row.birthplace,
        psn_cert_type=row.psn_cert_type,
        hukou_no=row.hukou_no,
        photo_taken=bool(row.photo_taken),
        insutype=row.insutype,
        region=row.region,
    )


def _new_psn_no(conn: Connection, region: str) -> str:
    while True:
        candidate = region + "".join(secrets.choice("0123456789") for _ in range(14))
        taken = conn.execute(
            sa.select(T_PERSON.c.psn_no).where(T_PERSON.c.psn_no == candidate)
        ).first()
        if taken is None:
            return candidate


def audit_step(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """Step 2: check the data; on success it becomes formal insured data (a person record)."""
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, ADMIN, action="application.audit"
    )
    _require_next(row, Step.AUDITED)
    findings = rules.audit_findings(_applicant(row))
    if findings:
        reason, _text = findings[0]
        detail = "; ".join(text for _r, text in findings)
        _reject(
            conn,
            principal,
            row,
            Step.AUDITED,
            reason,
            detail,
            now,
            extra={"reasons": [r.value for r, _t in findings]},
        )
        return _view(conn, regs, application_id, now)
    person = conn.execute(
        sa.select(T_PERSON.c.psn_no, T_PERSON.c.query_password_hash).where(
            T_PERSON.c.certno == row.certno
        )
    ).first()
    if person is None:
        psn_no = _new_psn_no(conn, row.region)
        register_person(
            conn,
            principal,
            PersonIn(
                psn_no=psn_no,
                psn_name=row.psn_name,
                gend=row.gend,
                brdy=row.brdy,
                certno=row.certno,
                psn_cert_type="id_card",
                household_register_no=row.hukou_no,
                origin="mainland",
            ),
            now,
        )
        has_password = False
    else:
        psn_no = person.psn_no
        has_password = bool(person.query_password_hash)
    if row.query_password_hash and not has_password:
        conn.execute(
            T_PERSON.update()
            .where(T_PERSON.c.psn_no == psn_no)
            .values(query_password_hash=row.query_password_hash)
        )
    _complete(conn, principal, row, Step.AUDITED, now, detail={"psn_no": psn_no}, psn_no=psn_no)
    return _view(conn, regs, application_id, now)


# --- step 3: comparison --------------------------------------------------------------------


def _comparison_refusal(
    regs: Registers, row: Row
) -> tuple[Reason, str, dict[str, list[str]] | None] | None:
    """What step 3 finds wrong (reason, detail, extra), or None when all matches.

    The police population register first; the partner bank's own customer
    record only once the police register agrees.
    """
    mismatches = regs.police.compare(
        row.certno,
        name=row.psn_name,
        sex=row.gend,
        birth_date=row.brdy,
        household_register_no=row.hukou_no if row.psn_cert_type == "household_register" else None,
    )
    if mismatches is None:
        return (
            Reason.NOT_IN_POLICE_REGISTER,
            f"the police population register has no person {row.certno}",
            None,
        )
    if mismatches:
        fields = [m.field for m in mismatches]
        return (
            Reason.POLICE_REGISTER_MISMATCH,
            "differs from the police population register: " + ", ".join(fields),
            {"fields": fields},
        )
    bank_diff = regs.bank(row.bank_code).compare(row.certno, name=row.psn_name)
    if bank_diff:
        fields = [f for f, _bank, _ours in bank_diff]
        return (
            Reason.BANK_RECORD_MISMATCH,
            f"differs from bank {row.bank_code}'s customer record: " + ", ".join(fields),
            {"fields": fields},
        )
    return None


def compare_step(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """Step 3: the police population register and the partner bank's own records."""
    row = _authorised_row(
        conn,
        principal,
        application_id,
        BANK_BRANCH,
        CARD_CENTRE,
        ADMIN,
        action="application.compare",
    )
    _require_next(row, Step.COMPARED)
    refusal = _comparison_refusal(regs, row)
    if refusal is not None:
        reason, detail, extra = refusal
        _reject(conn, principal, row, Step.COMPARED, reason, detail, now, extra=extra)
        return _view(conn, regs, application_id, now)
    # Verified against the police register: the insured person record takes the data
    # (a correction's name or household register number reaches it only now, never before).
    verified_hukou = row.hukou_no if row.psn_cert_type == "household_register" else None
    if row.psn_no:
        conn.execute(
            T_PERSON.update()
            .where(
                T_PERSON.c.psn_no == row.psn_no,
                sa.or_(
                    T_PERSON.c.psn_name != row.psn_name,
                    T_PERSON.c.household_register_no.is_distinct_from(verified_hukou)
                    if verified_hukou
                    else sa.false(),
                ),
            )
            .values(
                psn_name=row.psn_name,
                **({"household_register_no": verified_hukou} if verified_hukou else {}),
            )
        )
    _complete(
        conn,
        principal,
        row,
        Step.COMPARED,
        now,
        detail={"police_register": "match", "bank": row.bank_code},
    )
    return _view(conn, regs, application_id, now)


# --- step 4: pre-check and registration ----------------------------------------------------


def _card_no_taken(conn: Connection, card_no: str) -> bool:
    return bool(
        conn.execute(sa.select(T_CARD.c.card_no).where(T_CARD.c.card_no == card_no)).first()
        or conn.execute(
            sa.select(T_APPLICATION.c.card_no).where(T_APPLICATION.c.card_no == card_no)
        ).first()
    )


def _new_card_no(conn: Connection) -> str:
    while True:
        candidate = CARD_NO_PREFIX + "".join(secrets.choice("0123456789") for _ in range(8))
        if not _card_no_taken(conn, candidate):
            return candidate


def _card_blocker(conn: Connection, row: Row) -> tuple[str, dict[str, str]] | None:
    """Why the person may not get another card now (detail, extra), or None.

    A usable (issued or active) card, or another application of the same person
    already past registration (issuance.md step 4).
    """
    usable = conn.execute(
        sa.select(T_CARD.c.card_no, T_CARD.c.status).where(
            T_CARD.c.psn_no == row.psn_no, T_CARD.c.status.in_(("issued", "active"))
        )
    ).first()
    if usable is not None:
        return (
            f"card {usable.card_no} is {usable.status}: cancel it, or report it lost, first",
            {"card_no": usable.card_no},
        )
    other = conn.execute(
        sa.select(T_APPLICATION.c.application_id).where(
            T_APPLICATION.c.certno == row.certno,
            T_APPLICATION.c.application_id != row.application_id,
            T_APPLICATION.c.status == Status.IN_PROGRESS.value,
            T_APPLICATION.c.done >= int(Step.REGISTERED),
        )
    ).first()
    if other is not None:
        return (
            f"application {other.application_id} is already producing a card for this person",
            {"application_id": other.application_id},
        )
    return None


def precheck_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    now: datetime,
    *,
    card_no: str | None = None,
) -> dict[str, Any]:
    """Step 4: an existing usable card (or one in production) must be cancelled first.

    Never a duplicate: a card ``issued`` or ``active`` for the person, or
    another application of the same person already past this step and not yet
    finished, returns the application with ``active_card_exists``. A
    replacement passes because its old card is ``lost``.
    """
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, ADMIN, action="application.precheck"
    )
    _require_next(row, Step.REGISTERED)
    # Serialise pre-checks of one person (PostgreSQL; SQLite writers are serial already),
    # so two applications of the same person can never both pass.
    conn.execute(
        for_update(sa.select(T_PERSON.c.psn_no).where(T_PERSON.c.psn_no == row.psn_no), conn)
    )
    blocker = _card_blocker(conn, row)
    if blocker is not None:
        detail, extra = blocker
        _reject(
            conn,
            principal,
            row,
            Step.REGISTERED,
            Reason.ACTIVE_CARD_EXISTS,
            detail,
            now,
            extra=extra,
        )
        return _view(conn, regs, application_id, now)
    if card_no is None:
        card_no = _new_card_no(conn)
    elif _card_no_taken(conn, card_no):
        raise Problem(409, "conflict", f"card number {card_no} is already in use")
    _complete(
        conn, principal, row, Step.REGISTERED, now, detail={"card_no": card_no}, card_no=card_no
    )
    return _view(conn, regs, application_id, now)


# --- step 5: personalisation ---------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def personalisation_order(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """What the card centre's terminal writes onto the blank card (EF05 / EF06 / DF04)."""
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, action="application.order", lock=False
    )
    _require_next(row, Step.PERSONALISED)
    issue_date = regs.calendar.local_day(now)
    return {
        "application_id": row.application_id,
        "card_no": row.card_no,
        "region": row.region,
        "issue_date": issue_date.isoformat(),
        "expiry_date": _add_years(issue_date, CARD_VALIDITY_YEARS).isoformat(),
        "init_org": (principal.institution_code or "")[:12],
        "ssn": row.certno,
        "name": row.psn_name,
        "sex": row.gend,
        "nation": row.naty,
        "birthplace": row.birthplace,
        "birth_date": row.brdy.isoformat(),
        "insured_region": row.region,
        "insurance_type": row.insutype,
        "psn_no": row.psn_no,
        "insured_status": "1",
        "bank_code": row.bank_code,
    }


def personalised_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: PersonalisedIn,
    now: datetime,
) -> dict[str, Any]:
    """Step 5 done: the card was written and read back; it is registered as ``issued``.

    A replacement registers the new card against the lost one (the lost card
    stays blocked; the receipt exemption holds until the new card is collected).
    """
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, action="application.personalised"
    )
    _require_next(row, Step.PERSONALISED)
    if body.card_no != row.card_no:
        raise Problem(
            422,
            "validation_error",
            f"the card written carries {body.card_no}; the application registered {row.card_no}",
        )
    parse_card_id_code(body.card_id_code, row.region)
    card = CardIn(
        card_no=row.card_no,
        card_id_code=body.card_id_code.upper(),
        algorithm=body.algorithm,
        region=row.region,
        expiry=body.expiry_date,
        issue_date=body.issue_date,
        bank_code=row.bank_code,
        psn_no=row.psn_no,
        status="issued",
    )
    if row.kind == Kind.REPLACEMENT.value:
        replace_card(conn, principal, row.replaces_card_no, card, now)
    else:
        register_card(conn, principal, card, now)
    _complete(
        conn,
        principal,
        row,
        Step.PERSONALISED,
        now,
        detail={
            "card_no": row.card_no,
            "card_id_code": body.card_id_code.upper(),
            "algorithm": body.algorithm,
            "read_back": body.read_back_matches,
        },
        card_id_code=body.card_id_code.upper(),
        algorithm=body.algorithm,
    )
    return _view(conn, regs, application_id, now)


def reject_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: RejectionIn,
    now: datetime,
) -> dict[str, Any]:
    """A rejection entered by a person (audit findings, a failed card, a bank fault)."""
    step = Step(body.step)
    roles = (
        (BANK_BRANCH, CARD_CENTRE, ADMIN)
        if step in (Step.COMPARED, Step.ACCOUNT_OPENED)
        else (CARD_CENTRE, ADMIN)
    )
    row = _authorised_row(conn, principal, application_id, *roles, action="application.reject")
    try:
        reason = Reason(body.reason)
    except ValueError:
        raise Problem(422, "validation_error", f"unknown reason {body.reason!r}") from None
    _reject(conn, principal, row, step, reason, body.detail or REASON_TEXT[reason], now)
    return _view(conn, regs, application_id, now)


# --- step 6: bank account ------------------------------------------------------------------


def open_account(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """The issuing bank opens the account the card's financial application will carry.

    Idempotent per application: a second call returns the PAN already opened.
    """
    row = _authorised_row(
        conn, principal, application_id, BANK_BRANCH, action="application.open_account"
    )
    _require_next(row, Step.ACCOUNT_OPENED)
    pan = row.pan
    if pan is None:
        # Idempotent by application id: if an earlier attempt opened the account and then
        # its transaction never committed (crash, rollback), the bank returns that account.
        pan = regs.bank(row.bank_code).open_account(
            row.certno, row.psn_name, opened_at=now, reference=row.application_id
        )
        conn.execute(
            T_APPLICATION.update()
            .where(T_APPLICATION.c.application_id == application_id)
            .values(pan=pan, updated_at=now)
        )
        _event(
            conn,
            principal,
            application_id,
            int(Step.ACCOUNT_OPENED),
            "account",
            now,
            detail={"bank": row.bank_code},
        )
    card = load_card(conn, row.card_no)
    return {
        "application_id": application_id,
        "card_no": row.card_no,
        "bank_code": row.bank_code,
        "pan": pan,
        "pan_sequence": 1,
        "holder_name": row.psn_name,
        "certno": row.certno,
        "effective_date": card.issue_date.isoformat() if card.issue_date else None,
        "expiry_date": card.expiry.isoformat(),
    }


def account_opened_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: AccountOpenedIn,
    now: datetime,
) -> dict[str, Any]:
    """Step 6 done: the financial application was written and read back; collection notice."""
    row = _authorised_row(
        conn, principal, application_id, BANK_BRANCH, action="application.account_opened"
    )
    _require_next(row, Step.ACCOUNT_OPENED)
    if row.pan is None:
        raise Problem(
            409,
            "account_not_opened",
            "open the account first (POST .../bank-account), then write the card",
        )
    if body.pan != row.pan:
        raise Problem(
            422,
            "validation_error",
            f"the card carries PAN {body.pan}, the account opened is {row.pan}",
        )
    _complete(
        conn,
        principal,
        row,
        Step.ACCOUNT_OPENED,
        now,
        detail={"bank": row.bank_code, "read_back": body.read_back_matches},
        notice_at=now,
    )
    return _view(conn, regs, application_id, now)


# --- step 7: issuance ----------------------------------------------------------------------


def issue_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: IssueIn,
    now: datetime,
) -> dict[str, Any]:
    """Step 7: recorded with who collected the card and when; the card becomes ``active``."""
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, BANK_BRANCH, action="application.issue"
    )
    _require_next(row, Step.ISSUED)
    # In UTC before it is stored: SQLite keeps no offset, so +08:00 would be read back as UTC.
    collected_at = (body.collected_at or now).astimezone(UTC)
    if collected_at > now + timedelta(minutes=5):
        raise Problem(422, "validation_error", "collected_at lies in the future")
    notice_at = _as_aware(row.notice_at)
    if notice_at is not None and collected_at < notice_at:
        raise Problem(
            422,
            "validation_error",
            f"collected_at lies before the collection notice ({notice_at.isoformat()}): "
            "the card cannot have been collected before it was ready",
        )
    collect_card(conn, principal, row.card_no, CardActionIn(collected_by=body.collected_by), now)
    _complete(
        conn,
        principal,
        row,
        Step.ISSUED,
        now,
        detail={"collected_by": body.collected_by, "collected_at": collected_at.isoformat()},
        collected_by=body.collected_by,
        issued_at=collected_at,
    )
    return _view(conn, regs, application_id, now)


# --- corrections and withdrawal ------------------------------------------------------------

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
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, ADMIN, action="application.correct"
    )
    try:
        resumed = rules.correct(_state(row))
    except FlowError as error:
        raise _flow_problem(error) from None
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k in CORRECTABLE}
    before = {
        k: (getattr(row, k).isoformat() if isinstance(getattr(row, k), date) else getattr(row, k))
        for k in changes
    }
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
    _save(conn, application_id, resumed, now, reason_detail=None, **changes)
    _event(
        conn,
        principal,
        application_id,
        None,
        "corrected",
        now,
        reason=row.reason_code,
        detail={
            "fields": sorted(changes),
            "before": before,
            "resumes_at": int(resumed.next_step) if resumed.next_step else None,
            "note": body.note,
        },
    )
    audit(
        conn,
        principal,
        "application.correct",
        application_id,
        detail={"fields": sorted(changes)},
        at=now,
    )
    return _view(conn, regs, application_id, now)


def withdraw(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    row = _authorised_row(
        conn, principal, application_id, CARD_CENTRE, ADMIN, action="application.withdraw"
    )
    try:
        state = rules.withdraw(_state(row))
    except FlowError as error:
        raise _flow_problem(error) from None
    _save(conn, application_id, state, now)
    cancelled: list[str] = []
    account_left_open: str | None = None
    # A card written for this application but never collected is cancelled with it
    # (otherwise it would stand as "issued" and block the person's next application).
    if row.card_no and row.done >= int(Step.PERSONALISED):
        card = conn.execute(
            sa.select(T_CARD.c.status).where(T_CARD.c.card_no == row.card_no)
        ).first()
        if card is not None and card.status == "issued":
            cancel_card(
                conn, principal, row.card_no, CardActionIn(reason="application withdrawn"), now
            )
            cancelled.append(row.card_no)
            if row.pan:  # the bank closes the account opened for the card that never went out
                try:
                    regs.bank(row.bank_code).set_account_status(row.certno, row.pan, "closed")
                except Exception:  # noqa: BLE001 — the bank's own system; the cancellation stands
                    account_left_open = row.pan
    # A withdrawn replacement ends the pending replacement: the lost card is cancelled, so
    # its receipt no longer stands in for a card (settlement.md: lost → cancelled).
    if row.kind == Kind.REPLACEMENT.value and row.replaces_card_no:
        old = conn.execute(
            sa.select(T_CARD.c.status).where(T_CARD.c.card_no == row.replaces_card_no)
        ).first()
        if old is not None and old.status == "lost":
            cancel_card(
                conn,
                principal,
                row.replaces_card_no,
                CardActionIn(reason="replacement withdrawn"),
                now,
            )
            cancelled.append(row.replaces_card_no)
    _event(
        conn,
        principal,
        application_id,
        None,
        "withdrawn",
        now,
        detail={
            k: v
            for k, v in (("cards_cancelled", cancelled), ("account_left_open", account_left_open))
            if v
        }
        or None,
    )
    return _view(conn, regs, application_id, now)


# --- loss and replacement ------------------------------------------------------------------


def report_card_loss(
    conn: Connection, principal: Principal, regs: Registers, body: LossIn, now: datetime
) -> dict[str, Any]:
    """Loss reported at the issuing bank: block at once, receipt, replacement application.

    The old card is ``lost`` (refused for settlement from this moment), the
    bank freezes its account, a replacement receipt number is issued, and a
    replacement application starts at step 4 with steps 1–3 carried over from
    the lost card's holder record (issuance.md §Loss).
    """
    require_role(principal, BANK_BRANCH, CARD_CENTRE, action="card.loss", subject=body.card_no)
    card = load_card(conn, body.card_no)
    if principal.role == BANK_BRANCH and card.bank_code and card.bank_code != principal.bank_code:
        raise Problem(
            403,
            "not_entitled",
            f"card {body.card_no} was issued by bank {card.bank_code}: report the loss there "
            "or at the card centre",
            audit=("card.loss", body.card_no),
        )
    loss = report_loss(conn, principal, body.card_no, CardActionIn(reason=body.reason), now)
    person = conn.execute(sa.select(T_PERSON).where(T_PERSON.c.psn_no == card.psn_no)).one()
    source = conn.execute(
        sa.select(T_APPLICATION)
        .where(T_APPLICATION.c.card_no == body.card_no)
        .order_by(T_APPLICATION.c.applied_at.desc())
    ).first()
    pan_frozen = None
    if source is not None and source.pan:
        try:
            regs.bank(source.bank_code).set_account_status(source.certno, source.pan, "frozen")
            pan_frozen = source.pan
        except Exception:  # noqa: BLE001 — the bank's own system; the card block stands
            pan_frozen = None
    application_id = _new_id("AP", regs.calendar.local_day(now))
    if source is not None and source.status == Status.IN_PROGRESS.value:
        # Lost before it was collected: the application that made it can no longer finish
        # (its card is blocked); the replacement takes over, so it does not stand in the way
        # of the replacement's pre-check or wait forever at step 7.
        _save(conn, source.application_id, replace(_state(source), status=Status.WITHDRAWN), now)
        _event(
            conn,
            principal,
            source.application_id,
            None,
            "withdrawn",
            now,
            detail={"card_lost": body.card_no, "replaced_by_application": application_id},
        )
    target = target_working_days(False)
    conn.execute(
        T_APPLICATION.insert().values(
            application_id=application_id,
            kind=Kind.REPLACEMENT.value,
            certno=person.certno,
            psn_name=person.psn_name,
            gend=person.gend,
            brdy=person.brdy,
            naty=source.naty if source is not None else "01",
            birthplace=source.birthplace if source is not None else card.region,
            psn_cert_type=source.psn_cert_type if source is not None else "id_card",
            hukou_no=source.hukou_no if source is not None else person.household_register_no,
            photo_taken=True,
            insutype=source.insutype if source is not None else "310",
            region=card.region,
            bank_code=card.bank_code or (source.bank_code if source is not None else "102"),
            psn_no=person.psn_no,
            status=Status.IN_PROGRESS.value,
            done=int(Step.COMPARED),
            replaces_card_no=body.card_no,
            replacement_receipt_no=loss["replacement_receipt_no"],
            applied_at=now,
            target_days=target,
            due_on=regs.calendar.add_working_days(regs.calendar.local_day(now), target),
            created_at=now,
            updated_at=now,
        )
    )
    _event(
        conn,
        principal,
        application_id,
        None,
        "loss_reported",
        now,
        detail={
            "card_no": body.card_no,
            "receipt": loss["replacement_receipt_no"],
            "account_frozen": pan_frozen is not None,
        },
    )
    for step in (Step.ACCEPTED, Step.AUDITED, Step.COMPARED):
        _event(
            conn,
            principal,
            application_id,
            int(step),
            "carried_over",
            now,
            detail={"from_card": body.card_no},
        )
    return {
        **loss,
        "replacement_application": _view(conn, regs, application_id, now),
    }


# --- progress query ------------------------------------------------------------------------


def reserve_progress_attempt(conn: Connection, certno: str, now: datetime) -> int:
    """Count a progress-query attempt *before* its password is checked (own write transaction).

    The attempt is recorded as a failure first and taken back only when the
    password turns out right, so parallel guesses cannot slip past the limit
    between a count and a later insert (the check and the insert are one
    transaction; SQLite's writer is serial, PostgreSQL takes an advisory lock
    per SSN). Too many wrong passwords within the window → ``429 too_many_attempts``.
    Returns the attempt's id for :func:`release_progress_attempt`.
    """
    certno = certno.upper()
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"card-progress:{certno}"},
        )
    failures = conn.execute(
        sa.select(sa.func.count(), sa.func.min(T_PROGRESS_FAILURE.c.at)).where(
            T_PROGRESS_FAILURE.c.certno == certno, T_PROGRESS_FAILURE.c.at > now - PROGRESS_WINDOW
        )
    ).first()
    if failures[0] >= PROGRESS_MAX_FAILURES:
        oldest = _as_aware(failures[1])
        retry_after = max(1, int((oldest + PROGRESS_WINDOW - now).total_seconds()) + 1)
        raise Problem(
            429,
            "too_many_attempts",
            f"too many wrong query passwords for this SSN; try again in {retry_after} s, or "
            "have the password reset at the card centre or a partner bank branch",
            extra={"retry_after": retry_after},
            replayable=False,
        )
    inserted = conn.execute(T_PROGRESS_FAILURE.insert().values(certno=certno, at=now))
    return int(inserted.inserted_primary_key[0])


def release_progress_attempt(conn: Connection, attempt_id: int) -> None:
    """The password was right: the reserved attempt is not a failure."""
    conn.execute(T_PROGRESS_FAILURE.delete().where(T_PROGRESS_FAILURE.c.id == attempt_id))


_NO_PASSWORD_HASH: list[str] = []


def _dummy_hash() -> str:
    """A hash no password matches: an unknown SSN costs the same time as a wrong password."""
    if not _NO_PASSWORD_HASH:
        _NO_PASSWORD_HASH.append(hash_password(secrets.token_urlsafe(24)))
    return _NO_PASSWORD_HASH[0]


def progress_query(
    conn: Connection, regs: Registers, certno: str, password: str, now: datetime
) -> tuple[bool, dict[str, Any]]:
    """制卡进度查询: every application of the SSN with every step and its date.

    Returns ``(ok, body)``. The attempt was already counted by
    :func:`reserve_progress_attempt`; the caller takes it back when ``ok``.
    """
    certno = certno.upper()
    stored = conn.execute(
        sa.select(T_PERSON.c.query_password_hash).where(T_PERSON.c.certno == certno)
    ).scalar()
    rows = conn.execute(
        sa.select(T_APPLICATION)
        .where(T_APPLICATION.c.certno == certno)
        .order_by(T_APPLICATION.c.applied_at)
    ).all()
    candidates = (
        [stored] if stored else [r.query_password_hash for r in rows if r.query_password_hash]
    )
    if not candidates:
        password_matches(password, _dummy_hash())
        return False, {}
    if not any(password_matches(password, h) for h in candidates):
        return False, {}
    return True, {
        "certno": certno,
        "as_of": now.isoformat(),
        "applications": [application_view(conn, r, regs, now, for_holder=True) for r in rows],
    }
