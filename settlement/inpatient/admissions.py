"""2401 admission registration, and reading stays.

docs/api.md §Admission: card proof or exemption, then coverage on the admission date; the
admission time within its window (:func:`settlement.rules.stays.check_admission_time`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from card.keystore import KeyStore
from settlement.authority import require_role
from settlement.inpatient.common import authenticate_holder, new_id, time_refused
from settlement.inpatient.views import admission_view
from settlement.people import load_person_for_billing, require_covered
from settlement.problems import Problem, not_found
from settlement.rules.roles import HOSPITAL
from settlement.rules.stays import StayTimeError, check_admission_time
from settlement.schemas import AdmissionIn
from settlement.service import Principal, audit
from settlement.store import admissions, people


def admit(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    body: AdmissionIn,
    now: datetime,
    tz,
    backdate_days: int,
) -> dict:
    """2401 admission registration: card proof or exemption, then coverage on the admission date.

    ``backdate_days``: how far ``begntime`` may lie in the past
    (``Settings.admission_backdate_days``, docs/api.md §Admission times)."""
    require_role(principal, HOSPITAL, action="admission", subject=body.psn_no)
    begntime = _admission_time(body, now, backdate_days)
    _ipt_no_free(conn, principal, body.ipt_no)
    person = load_person_for_billing(conn, body.psn_no)
    adm_date = begntime.astimezone(tz).date()
    today = now.astimezone(tz).date()
    people.prefetch_coverage(conn, body.psn_no)  # read with the proof's: one round trip
    auth_method, card_no, evidence = authenticate_holder(
        conn,
        keystore,
        principal,
        person,
        body.proof,
        body.exemption,
        "admission",
        adm_date,
        now,
        today,
        body.card_authentication,
    )
    try:
        require_covered(conn, body.psn_no, body.insutype, adm_date, "admission")
    except Problem as problem:
        problem.consume_challenge = body.proof.challenge_id if body.proof else None
        raise
    mdtrt_id = new_id("M", now)
    insert_stay(
        conn,
        body.ipt_no,
        mdtrt_id=mdtrt_id,
        institution_code=principal.institution_code,
        terminal_id=principal.terminal_id,
        psn_no=body.psn_no,
        insutype=body.insutype,
        hospital_level=principal.hospital_level,
        begntime=begntime,
        adm_date=adm_date,
        dept_name=body.dept_name,
        dise_name=body.dise_name,
        auth_method=auth_method,
        card_no=card_no,
        evidence=evidence,
        created_at=now,
    )
    audit(
        conn,
        principal,
        "admission",
        mdtrt_id,
        detail={"psn_no": body.psn_no, "auth_method": auth_method, "card_no": card_no},
        at=now,
    )
    return {
        "mdtrt_id": mdtrt_id,
        "psn_no": body.psn_no,
        "insutype": body.insutype,
        "begntime": begntime.isoformat(),
        "adm_date": adm_date.isoformat(),
        "fixmedins_code": principal.institution_code,
        "auth_method": auth_method,
        "card_no": card_no,
        "status": "admitted",
        "ipt_no": body.ipt_no,
    }


def _admission_time(body: AdmissionIn, now: datetime, backdate_days: int) -> datetime:
    """The stay's ``begntime`` (now if not given), UTC, checked against ``now``."""
    begntime = (body.begntime or now).astimezone(UTC)
    try:
        check_admission_time(begntime, now, backdate_days)
    except StayTimeError as error:
        raise time_refused(error) from None
    return begntime


def _ipt_no_free(conn: Connection, principal: Principal, ipt_no: str | None) -> None:
    """Refuse ``ipt_no`` when another live stay of the caller's institution carries it
    (nhsa.md 2401 ``ipt_no``: unique per institution; a cancelled stay frees it):
    ``409 ipt_no_taken`` naming that stay, checked before the card proof is used."""
    if ipt_no is None:
        return
    taken = admissions.stay_of_ipt_no(conn, principal.institution_code, ipt_no)
    if taken is not None:
        raise _ipt_no_taken(ipt_no, taken)


def _ipt_no_taken(ipt_no: str, taken: str | None) -> Problem:
    stay = f"stay {taken}" if taken else "another stay"
    return Problem(
        409,
        "ipt_no_taken",
        f"ipt_no {ipt_no} is already the inpatient number of {stay} of this institution; "
        "use that stay, or cancel it before registering the admission again",
        extra={"ipt_no": ipt_no, "mdtrt_id": taken},
    )


#: How SQLite and PostgreSQL name the ``ipt_no`` unique index in a refused insert.
_IPT_NO_INDEX = ("admission.ipt_no", "uq_admission_institution_ipt_no")


def insert_stay(conn: Connection, ipt_no: str | None, **columns) -> None:
    """The new stay's row; a concurrent admission that took ``ipt_no`` first (the unique index
    of migration 0176, PostgreSQL) is the same ``409 ipt_no_taken``."""
    try:
        admissions.insert(conn, ipt_no=ipt_no, **columns)
    except IntegrityError as error:
        message = str(error.orig)
        if ipt_no is None or not any(name in message for name in _IPT_NO_INDEX):
            raise
        raise _ipt_no_taken(ipt_no, None) from None


def _own(principal: Principal) -> str | None:
    """The institution whose stays the caller may see (None: all, for the admin)."""
    return None if principal.is_admin else principal.institution_code


def load_admission(
    conn: Connection, principal: Principal, mdtrt_id: str, *, lock: bool = False
) -> Row:
    """The admission, if the caller's institution owns it (404 otherwise: existence not revealed)."""
    admission = admissions.find(conn, mdtrt_id, _own(principal), lock=lock)
    if admission is None:
        raise not_found(f"admission {mdtrt_id}")
    return admission


def load_admission_for_billing(conn: Connection, principal: Principal, mdtrt_id: str):
    """:func:`load_admission` (locked on PostgreSQL) with the columns billing needs (hot path)."""
    admission = admissions.find_for_billing(conn, mdtrt_id, _own(principal))
    if admission is None:
        raise not_found(f"admission {mdtrt_id}")
    return admission


def list_admissions(
    conn: Connection,
    principal: Principal,
    *,
    status: str | None,
    psn_no: str | None,
    limit: int,
    ipt_no: str | None = None,
) -> list[dict]:
    """The newest ``limit`` admissions the caller may see (its own institution's; an admin: all);
    ``ipt_no``: the stays (not cancelled) under that inpatient number (nhsa.md 2401 ``ipt_no``)."""
    rows = admissions.latest(
        conn,
        institution_code=_own(principal),
        status=status,
        psn_no=psn_no,
        limit=limit,
        ipt_no=ipt_no,
    )
    return [admission_view(conn, row) for row in rows]
