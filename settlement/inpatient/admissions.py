"""2401 admission registration, and reading stays.

docs/api.md §Admission: card proof or exemption, then coverage on the admission date; the
admission time within its window (:func:`settlement.rules.stays.check_admission_time`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Row

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
from settlement.store import admissions


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
    begntime = (body.begntime or now).astimezone(UTC)
    try:
        check_admission_time(begntime, now, backdate_days)
    except StayTimeError as error:
        raise time_refused(error) from None
    person = load_person_for_billing(conn, body.psn_no)
    adm_date = begntime.astimezone(tz).date()
    today = now.astimezone(tz).date()
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
    admissions.insert(
        conn,
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
    }


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
) -> list[dict]:
    """The newest ``limit`` admissions the caller may see (its own institution's; an admin: all)."""
    rows = admissions.latest(
        conn, institution_code=_own(principal), status=status, psn_no=psn_no, limit=limit
    )
    return [admission_view(conn, row) for row in rows]
