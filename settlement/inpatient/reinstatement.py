"""A reversal undone (2601 冲正 of a 2305, nhsa.md §Transactions; docs/gateway.md §2601): the
HIS lost the answer of a settlement reversal and takes it back. The settlement stands again
exactly as it was made: the personal account is debited its ``acct_pay`` again, the benefit
year counts its fund payment again, the stay is settled again and the reversal row is gone
(so the day's report and 3201 see the settlement standing and no reversal); the audit log
keeps the reversal and its undoing.

Only what nothing has built on can be undone: the stay must still be discharged after the
reversal (not admitted again by 2405, not settled again), its fee lines unchanged since, no
settlement of the person made or reversed since (the split depends on the year's earlier
stays and the ceiling used), and the account must still hold ``acct_pay``. Otherwise ``409
reversal_not_undoable`` naming the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from settlement.authority import require_role
from settlement.inpatient.admissions import load_admission
from settlement.people import load_person
from settlement.problems import Problem, not_found
from settlement.rules.lifecycle import DISCHARGED, SETTLED
from settlement.rules.roles import HOSPITAL
from settlement.service import Principal, audit
from settlement.store import people, settlements, stays
from settlement.store.db import as_utc

NOT_UNDOABLE = "reversal_not_undoable"


def _refuse(revs_setl_id: str, why: str) -> Problem:
    return Problem(
        409,
        NOT_UNDOABLE,
        f"reversal {revs_setl_id} cannot be undone: {why}",
        audit=("reversal.undo", revs_setl_id),
    )


def undo_reversal(
    conn: Connection, principal: Principal, revs_setl_id: str, reason: str, now: datetime
) -> dict:
    """The settlement reversed as ``revs_setl_id`` stands again (see the module)."""
    require_role(principal, HOSPITAL, action="reversal.undo", subject=revs_setl_id)
    reversal = settlements.find_reversal(conn, revs_setl_id)
    if reversal is None or reversal.institution_code != principal.institution_code:
        raise not_found(f"reversal {revs_setl_id}")
    # Lock order: admission → settlement → person → benefit year.
    admission = load_admission(conn, principal, reversal.mdtrt_id, lock=True)
    setl = settlements.find(conn, reversal.setl_id, lock=True)
    reversed_at = as_utc(reversal.revs_time)
    if admission.status != DISCHARGED:
        raise _refuse(revs_setl_id, f"the stay is {admission.status} since the reversal")
    if stays.fee_changes_since(conn, admission.mdtrt_id, reversed_at):
        raise _refuse(revs_setl_id, "the stay's fee lines changed since the reversal")
    if settlements.person_activity_since(conn, setl.psn_no, reversed_at):
        raise _refuse(revs_setl_id, "the person was settled or reversed since the reversal")
    person = load_person(conn, setl.psn_no, lock=True)
    if setl.acct_pay and int(person.acct_balance) < int(setl.acct_pay):
        raise _refuse(revs_setl_id, "the personal account no longer holds the account payment")
    people.ceiling_use(conn, setl.psn_no, setl.insutype, setl.benefit_year, lock=True)
    if not settlements.reinstate(conn, setl.setl_id, setl.mdtrt_id, revs_setl_id):
        raise _refuse(revs_setl_id, "the settlement is not reversed")
    if setl.acct_pay:
        people.move_money(conn, setl.psn_no, -int(setl.acct_pay), "settlement", setl.setl_id, now)
    people.add_settlement_to_year(
        conn, setl.psn_no, setl.insutype, setl.benefit_year, int(setl.fund_pay_sumamt)
    )
    stays.set_status(conn, setl.mdtrt_id, SETTLED)
    audit(
        conn,
        principal,
        "reversal.undo",
        setl.setl_id,
        detail={"revs_setl_id": revs_setl_id, "reason": reason},
        at=now,
    )
    return {
        "setl_id": setl.setl_id,
        "revs_setl_id": revs_setl_id,
        "mdtrt_id": setl.mdtrt_id,
        "status": "settled",
        "balc": int(people.balance(conn, setl.psn_no)),
    }
