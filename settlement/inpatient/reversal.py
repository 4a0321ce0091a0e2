"""2305 reversal: the settlement stops standing; the annual ceiling and the personal account
are restored exactly; the stay stays discharged (settlement.md §Reversal, nhsa.md §Stay
lifecycle): fees may be changed and it may be settled again, or 2405 admits it again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from settlement.authority import require_role
from settlement.inpatient.admissions import load_admission
from settlement.inpatient.common import new_id
from settlement.inpatient.settlement import load_settlement
from settlement.people import load_person
from settlement.problems import Problem
from settlement.rules.lifecycle import DISCHARGED
from settlement.rules.roles import HOSPITAL
from settlement.service import Principal, audit
from settlement.store import people, settlements, stays


def reverse(
    conn: Connection, principal: Principal, setl_id: str, reason: str, now: datetime, tz
) -> dict:
    """2305 reversal: restore the annual ceiling and the personal account exactly."""
    require_role(principal, HOSPITAL, action="reversal", subject=setl_id)
    found = load_settlement(conn, principal, setl_id)
    # Lock order: admission → settlement → person → benefit year.
    load_admission(conn, principal, found.mdtrt_id, lock=True)
    setl = settlements.find(conn, setl_id, lock=True)
    if setl.status != "settled":
        raise Problem(409, "already_reversed", f"settlement {setl_id} is already reversed")
    load_person(conn, setl.psn_no, lock=True)
    people.ceiling_use(conn, setl.psn_no, setl.insutype, setl.benefit_year, lock=True)
    if not settlements.mark_reversed(conn, setl_id):
        raise Problem(409, "already_reversed", f"settlement {setl_id} is already reversed")
    revs_setl_id = new_id("R", now)
    settlements.insert_reversal(
        conn,
        revs_setl_id=revs_setl_id,
        setl_id=setl_id,
        mdtrt_id=setl.mdtrt_id,
        institution_code=setl.institution_code,
        terminal_id=principal.terminal_id,
        reason=reason,
        revs_time=now,
        revs_date=now.astimezone(tz).date(),
    )
    if setl.acct_pay:
        people.move_money(conn, setl.psn_no, setl.acct_pay, "reversal", revs_setl_id, now)
    people.remove_settlement_from_year(
        conn, setl.psn_no, setl.insutype, setl.benefit_year, setl.fund_pay_sumamt
    )
    stays.set_status(conn, setl.mdtrt_id, DISCHARGED)
    audit(
        conn,
        principal,
        "reversal",
        setl_id,
        detail={"revs_setl_id": revs_setl_id, "reason": reason},
        at=now,
    )
    return {
        "setl_id": setl_id,
        "revs_setl_id": revs_setl_id,
        "mdtrt_id": setl.mdtrt_id,
        "status": "reversed",
        "fund_pay_sumamt": int(setl.fund_pay_sumamt),
        "acct_pay": int(setl.acct_pay),
        "balc": int(people.balance(conn, setl.psn_no)),
        "revs_time": now.isoformat(),
    }
