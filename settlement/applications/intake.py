"""Step 1, application accepted (参保受理, issuance.md): single applications and employers' batches.

A batch (via the employer) has 30 working days to the collection notice, a
single (sporadic) application 5 (``settlement.rules.working_days``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from settlement.applications.common import complete, new_id, require
from settlement.applications.registers import Registers
from settlement.applications.schemas import ApplicationIn, BatchIn
from settlement.applications.views import view
from settlement.problems import Problem
from settlement.rules.application_flow import Kind, Status, Step
from settlement.rules.clock import CLOCK_SKEW
from settlement.rules.production_authority import Action
from settlement.rules.working_days import target_working_days
from settlement.security import hash_password
from settlement.service import Principal
from settlement.store import applications as store

#: How far back a paper application (accepted at a community office) may be entered.
MAX_BACKDATE = timedelta(days=366)


def applied_at_or_now(applied_at: datetime | None, now: datetime) -> datetime:
    """When the application was accepted: now, or the paper form's date (never the future)."""
    if applied_at is None:
        return now
    if applied_at > now + CLOCK_SKEW:
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
    with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 2)) as pool:
        for i, digest in zip(
            todo, pool.map(lambda i: hash_password(bodies[i].query_password), todo), strict=True
        ):
            hashes[i] = digest
    return hashes


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
    """Store one application and complete its step 1 at the time it was accepted."""
    application_id = new_id("AP", regs.calendar.local_day(now))
    target = target_working_days(kind is Kind.BATCH)
    applied = applied_at_or_now(applied_at, now)
    if password_hash is None and body.query_password:
        password_hash = hash_password(body.query_password)
    store.insert(
        conn,
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
        query_password_hash=password_hash,
        status=Status.IN_PROGRESS.value,
        done=0,
        applied_at=applied,
        target_days=target,
        due_on=regs.calendar.add_working_days(regs.calendar.local_day(applied), target),
        created_at=now,
        updated_at=now,
    )
    complete(
        conn,
        principal,
        store.load(conn, application_id),
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
    require(principal, Action.ACCEPT, body.certno)
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
    return view(conn, regs, application_id, now)


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
    require(principal, Action.ACCEPT_BATCH, body.employer_code)
    batch_id = new_id("BT", regs.calendar.local_day(now))
    applied = applied_at_or_now(body.applied_at, now)
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
            applied_at=applied_at_or_now(item.applied_at, now) if item.applied_at else applied,
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
