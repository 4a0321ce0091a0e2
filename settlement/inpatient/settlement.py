"""2303 pre-settlement and 2304 discharge settlement.

The split is the pure :func:`settlement.rules.split.split_bill` over the stay's fee lines,
the person's year so far (ceiling use, prior stays: :mod:`settlement.rules.stays`) and the
account balance. A settlement is durable before the response: one transaction writes the
settlement, the account debit, the benefit year's ceiling use and the stay's discharge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Connection, Row

from card.keystore import KeyStore
from settlement.authority import require_role
from settlement.inpatient.admissions import load_admission, load_admission_for_billing
from settlement.inpatient.common import authenticate_holder, new_id, time_refused
from settlement.people import load_person, load_person_for_billing
from settlement.problems import Problem, not_found
from settlement.rules.coverage import benefit_year
from settlement.rules.lifecycle import CANCELLED, DISCHARGED
from settlement.rules.policy import Policy
from settlement.rules.roles import HOSPITAL
from settlement.rules.split import SPLIT_AMOUNTS, Split, SplitError, SplitRequest, split_bill
from settlement.rules.stays import StayStart, StayTimeError, check_discharge_time, prior_admissions
from settlement.schemas import SettlementIn
from settlement.service import Principal, audit
from settlement.store import admissions, people, settlements, stays
from settlement.store.db import as_utc


def compute_split(
    conn: Connection,
    admission: Row,
    person: Row,
    use_account: bool,
    policy: Policy,
    *,
    lock: bool = True,
) -> tuple[Split, int, int]:
    """The split of the admission's bill now; also (benefit year, fee count)."""
    year = benefit_year(admission.insutype, admission.adm_date)
    # The stays and fee lines are read in the same round trip as the year's ceiling use.
    admissions.prefetch_settled_stays(
        conn, person.psn_no, admission.insutype, year.first_day, year.last_day
    )
    admissions.prefetch_fee_items(conn, admission.mdtrt_id)
    used = people.ceiling_use(conn, person.psn_no, admission.insutype, year.year, lock=lock)
    settled = admissions.settled_stays(
        conn, person.psn_no, admission.insutype, year.first_day, year.last_day
    )
    stay = StayStart(admission.mdtrt_id, as_utc(admission.begntime))
    items = admissions.fee_items(conn, admission.mdtrt_id)
    request = SplitRequest(
        insutype=admission.insutype,
        hospital_level=admission.hospital_level,
        items=items,
        prior_admissions_this_year=prior_admissions(stay, settled),
        ceiling_used_fen=int(used.ceiling_used) if used else 0,
        account_balance_fen=int(person.acct_balance),
        use_account=use_account,
    )
    try:
        return split_bill(request, policy), year.year, len(items)
    except SplitError as error:
        raise Problem(
            422,
            error.code if error.code == "refund_exceeds_charges" else "bill_negative",
            str(error),
        ) from None


def pre_settle(
    conn: Connection, principal: Principal, mdtrt_id: str, use_account: bool, policy: Policy
) -> dict:
    """2303 pre-settlement: the split a settlement would make now; writes nothing."""
    require_role(principal, HOSPITAL, action="pre_settlement", subject=mdtrt_id)
    admission = load_admission(conn, principal, mdtrt_id)
    if admission.status == "settled":
        raise Problem(409, "already_settled", f"admission {mdtrt_id} is already settled")
    if admission.status == CANCELLED:
        raise Problem(409, "stay_cancelled", f"admission {mdtrt_id} was cancelled (2404)")
    person = load_person(conn, admission.psn_no)
    split, _, fee_count = compute_split(conn, admission, person, use_account, policy, lock=False)
    body = {name: getattr(split, name) for name in SPLIT_AMOUNTS}
    body.update(
        mdtrt_id=mdtrt_id,
        psn_no=admission.psn_no,
        insutype=admission.insutype,
        fee_count=fee_count,
        policy_version=split.policy_version,
        balc=int(person.acct_balance) - split.acct_pay,
    )
    return body


def settle(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    mdtrt_id: str,
    body: SettlementIn,
    policy: Policy,
    now: datetime,
    tz,
) -> dict:
    """2304 discharge settlement, durable before the response (one transaction, committed)."""
    require_role(principal, HOSPITAL, action="settlement", subject=mdtrt_id)
    admission = load_admission_for_billing(conn, principal, mdtrt_id)
    burn = body.proof.challenge_id if body.proof else None
    if admission.status == "settled":
        raise Problem(
            409,
            "already_settled",
            f"admission {mdtrt_id} is already settled",
            audit=("settlement", mdtrt_id),
        )
    if admission.status == CANCELLED:
        raise Problem(409, "stay_cancelled", f"admission {mdtrt_id} was cancelled (2404)")
    # A discharged stay (2402) settles at its discharge time; an admitted one is discharged now.
    discharged_at = stays.endtime_of(conn, mdtrt_id) if admission.status == DISCHARGED else None
    endtime = (discharged_at or body.endtime or now).astimezone(UTC)
    try:
        check_discharge_time(endtime, admission.begntime, now)
    except StayTimeError as error:
        raise time_refused(error) from None
    today = now.astimezone(tz).date()
    person = load_person_for_billing(conn, admission.psn_no, lock=True)
    auth_method, card_no, _ = authenticate_holder(
        conn,
        keystore,
        principal,
        person,
        body.proof,
        body.exemption,
        "discharge",
        admission.adm_date,
        now,
        today,
        body.card_authentication,
    )
    try:
        split, year, fee_count = compute_split(conn, admission, person, body.acct_used_flag, policy)
    except Problem as problem:
        problem.consume_challenge = burn
        raise
    booking = Booking(
        setl_id=new_id("S", now),
        split=split,
        benefit_year=year,
        fee_count=fee_count,
        balc=int(person.acct_balance) - split.acct_pay,
        auth_method=auth_method,
        card_no=card_no,
    )
    _record(conn, principal, admission, booking, endtime, now, today, burn)
    return {
        "setl_id": booking.setl_id,
        "mdtrt_id": mdtrt_id,
        "psn_no": admission.psn_no,
        "insutype": admission.insutype,
        "fixmedins_code": admission.institution_code,
        "setl_time": now.isoformat(),
        **{name: getattr(split, name) for name in SPLIT_AMOUNTS},
        "balc": booking.balc,
        "fee_count": fee_count,
        "policy_version": split.policy_version,
        "auth_method": auth_method,
        "status": "settled",
    }


@dataclass(frozen=True)
class Booking:
    """A settlement about to be written: its id, split, benefit year, fee count, the account
    balance after it, and how the holder was authenticated."""

    setl_id: str
    split: Split
    benefit_year: int
    fee_count: int
    balc: int
    auth_method: str
    card_no: str | None


def _record(
    conn: Connection,
    principal: Principal,
    admission,
    booking: Booking,
    endtime: datetime,
    now: datetime,
    today: date,
    burn: str | None,
) -> None:
    """Write the settlement (409 ``already_settled`` if one stands already), then what it
    moves: the account debit, the year's ceiling use, the stay's discharge, the audit entry."""
    split = booking.split
    stored = settlements.insert(
        conn,
        setl_id=booking.setl_id,
        mdtrt_id=admission.mdtrt_id,
        institution_code=admission.institution_code,
        terminal_id=principal.terminal_id,
        psn_no=admission.psn_no,
        insutype=admission.insutype,
        benefit_year=booking.benefit_year,
        auth_method=booking.auth_method,
        card_no=booking.card_no,
        split=split,
        balc=booking.balc,
        fee_count=booking.fee_count,
        setl_time=now,
        setl_date=today,
    )
    if not stored:
        raise Problem(
            409,
            "already_settled",
            f"admission {admission.mdtrt_id} is already settled",
            audit=("settlement", admission.mdtrt_id),
            consume_challenge=burn,
        )
    if split.acct_pay:
        people.move_money(
            conn, admission.psn_no, -split.acct_pay, "settlement", booking.setl_id, now
        )
    people.add_settlement_to_year(
        conn, admission.psn_no, admission.insutype, booking.benefit_year, split.fund_pay_sumamt
    )
    admissions.mark_settled(conn, admission.mdtrt_id, endtime)
    audit(
        conn,
        principal,
        "settlement",
        booking.setl_id,
        detail={
            "mdtrt_id": admission.mdtrt_id,
            "auth_method": booking.auth_method,
            "card_no": booking.card_no,
            "fund_pay_sumamt": split.fund_pay_sumamt,
            "acct_pay": split.acct_pay,
        },
        at=now,
    )


def load_settlement(conn: Connection, principal: Principal, setl_id: str) -> Row:
    """The settlement, if the caller's institution made it (404 otherwise)."""
    institution = None if principal.is_admin else principal.institution_code
    row = settlements.find(conn, setl_id, institution)
    if row is None:
        raise not_found(f"settlement {setl_id}")
    return row
