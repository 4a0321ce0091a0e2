"""The holder's progress query (制卡进度查询, issuance.md): SSN plus query password.

Every application of the SSN with every step and its date. Wrong passwords
are throttled per SSN: :data:`PROGRESS_MAX_FAILURES` within
:data:`PROGRESS_WINDOW`, then ``429 too_many_attempts`` until the oldest
failure leaves the window (or the password is reset at a counter, which
clears the failures: ``settlement.people``).
"""

from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from settlement.applications.registers import Registers
from settlement.applications.views import application_view
from settlement.problems import Problem
from settlement.security import hash_password, password_matches
from settlement.store import applications as store

#: Wrong query passwords allowed per SSN within the window before the query is refused.
PROGRESS_MAX_FAILURES = 5
PROGRESS_WINDOW = timedelta(minutes=15)


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
    store.lock_progress_queries(conn, certno)
    failures, oldest = store.recent_failures(conn, certno, now - PROGRESS_WINDOW)
    if failures >= PROGRESS_MAX_FAILURES and oldest is not None:
        retry_after = max(1, int((oldest + PROGRESS_WINDOW - now).total_seconds()) + 1)
        raise Problem(
            429,
            "too_many_attempts",
            f"too many wrong query passwords for this SSN; try again in {retry_after} s, or "
            "have the password reset at the card centre or a partner bank branch",
            extra={"retry_after": retry_after},
            replayable=False,
        )
    return store.add_failure(conn, certno, now)


def release_progress_attempt(conn: Connection, attempt_id: int) -> None:
    """The password was right: the reserved attempt is not a failure."""
    store.remove_failure(conn, attempt_id)


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches: an unknown SSN costs the same time as a wrong password."""
    return hash_password(secrets.token_urlsafe(24))


def progress_query(
    conn: Connection, regs: Registers, certno: str, password: str, now: datetime
) -> tuple[bool, dict[str, Any]]:
    """制卡进度查询: every application of the SSN with every step and its date.

    Returns ``(ok, body)``. The attempt was already counted by
    :func:`reserve_progress_attempt`; the caller takes it back when ``ok``.
    The person record's password counts; before step 2 made one, the
    applications' own.
    """
    certno = certno.upper()
    stored = store.stored_query_password(conn, certno)
    rows = store.of_person(conn, certno)
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


def wrong_password(certno: str) -> Problem:
    """``403 password_invalid`` (audited) for a wrong password or an unknown SSN: the answer
    does not tell them apart, and names the throttle."""
    return Problem(
        403,
        "password_invalid",
        "the SSN and query password do not match; after "
        f"{PROGRESS_MAX_FAILURES} wrong tries the query is locked for "
        f"{int(PROGRESS_WINDOW.total_seconds() // 60)} minutes",
        audit=("card_progress.query", certno.upper()),
    )
