"""Steps 2–4 (issuance.md): data audit, comparison with the outside registers, pre-check.

2. Data entry and audit (数据录入和审核): the data is checked
   (``settlement.rules.application_flow.audit_findings``) and becomes formal
   insured data, a person record.
3. Comparison (数据比对): the police population register, then the partner
   bank's own customer record; a mismatch goes back to the applicant.
4. Pre-check and registration (预判和登记): never a second usable card; the
   card number is assigned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from settlement.applications.common import authorised_row, complete, reject, require_next
from settlement.applications.registers import Registers
from settlement.applications.views import view
from settlement.people import register_person
from settlement.problems import Problem
from settlement.rules.application_flow import ApplicantData, Reason, Step, audit_findings
from settlement.rules.production_authority import Action
from settlement.schemas import PersonIn
from settlement.service import Principal
from settlement.store import applications as store

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


def _insured_person(conn: Connection, principal: Principal, row: Row, now: datetime) -> str:
    """The person record of the applicant (registered now if new); its ``psn_no``.

    The application's query password goes to a person record that has none.
    """
    person = store.person_of_certno(conn, row.certno)
    if person is None:
        psn_no = store.new_psn_no(conn, row.region)
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
        store.set_query_password(conn, psn_no, row.query_password_hash)
    return psn_no


def audit_step(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """Step 2: check the data; on success it becomes formal insured data (a person record)."""
    row = authorised_row(conn, principal, application_id, Action.AUDIT)
    require_next(row, Step.AUDITED)
    findings = audit_findings(_applicant(row))
    if findings:
        reason, _text = findings[0]
        detail = "; ".join(text for _r, text in findings)
        extra = {"reasons": [r.value for r, _t in findings]}
        reject(conn, principal, row, Step.AUDITED, reason, detail, now, extra=extra)
        return view(conn, regs, application_id, now)
    psn_no = _insured_person(conn, principal, row, now)
    complete(conn, principal, row, Step.AUDITED, now, detail={"psn_no": psn_no}, psn_no=psn_no)
    return view(conn, regs, application_id, now)


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
    row = authorised_row(conn, principal, application_id, Action.COMPARE)
    require_next(row, Step.COMPARED)
    refusal = _comparison_refusal(regs, row)
    if refusal is not None:
        reason, detail, extra = refusal
        reject(conn, principal, row, Step.COMPARED, reason, detail, now, extra=extra)
        return view(conn, regs, application_id, now)
    # Verified against the police register: the insured person record takes the data
    # (a correction's name or household register number reaches it only now, never before).
    if row.psn_no:
        verified_hukou = row.hukou_no if row.psn_cert_type == "household_register" else None
        store.take_verified_data(conn, row.psn_no, row.psn_name, verified_hukou)
    complete(
        conn,
        principal,
        row,
        Step.COMPARED,
        now,
        detail={"police_register": "match", "bank": row.bank_code},
    )
    return view(conn, regs, application_id, now)


# --- step 4: pre-check and registration ----------------------------------------------------


def _card_blocker(conn: Connection, row: Row) -> tuple[str, dict[str, str]] | None:
    """Why the person may not get another card now (detail, extra), or None.

    A usable (issued or active) card, or another application of the same person
    already past registration (issuance.md step 4).
    """
    usable = store.usable_card(conn, row.psn_no)
    if usable is not None:
        return (
            f"card {usable.card_no} is {usable.status}: cancel it, or report it lost, first",
            {"card_no": usable.card_no},
        )
    other = store.other_in_production(conn, row.certno, row.application_id)
    if other is not None:
        return (
            f"application {other} is already producing a card for this person",
            {"application_id": other},
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
    row = authorised_row(conn, principal, application_id, Action.PRECHECK)
    require_next(row, Step.REGISTERED)
    # Two applications of the same person can never both pass.
    store.lock_person(conn, row.psn_no)
    blocker = _card_blocker(conn, row)
    if blocker is not None:
        detail, extra = blocker
        reason = Reason.ACTIVE_CARD_EXISTS
        reject(conn, principal, row, Step.REGISTERED, reason, detail, now, extra=extra)
        return view(conn, regs, application_id, now)
    if card_no is None:
        card_no = store.new_card_no(conn)
    elif store.card_no_taken(conn, card_no):
        raise Problem(409, "conflict", f"card number {card_no} is already in use")
    complete(
        conn, principal, row, Step.REGISTERED, now, detail={"card_no": card_no}, card_no=card_no
    )
    return view(conn, regs, application_id, now)
