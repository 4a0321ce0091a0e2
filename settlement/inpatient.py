"""Inpatient billing: admission (2401), fees (2301), pre-settlement (2303),
discharge settlement (2304) and reversal (2305).

settlement.md: card authentication (or an exemption) at admission and at
discharge; coverage on the admission date; the split is the pure
:func:`settlement.rules.split.split_bill`; one settlement per admission (a
UNIQUE index on ``settlement.active_mdtrt_id``); a reversal restores the annual
ceiling and the personal account exactly. Lock order on PostgreSQL, always:
admission → settlement → person → benefit year (no deadlocks between settle and
reverse).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from card.keystore import KeyStore
from settlement.authority import ADMIN, HOSPITAL, require_role
from settlement.people import load_person, load_person_for_billing, person_facts, require_covered
from settlement.problems import Problem, not_found
from settlement.proof import ProofIn, verify_proof
from settlement.rules.coverage import benefit_year as coverage_benefit_year
from settlement.rules.coverage import insurance_year
from settlement.rules.exemptions import check_exemption
from settlement.rules.policy import Policy
from settlement.rules.split import FeeItem, Split, SplitError, SplitRequest, split_bill
from settlement.schemas import MONEY_MAX, AdmissionIn, ExemptionBody, FeeUploadIn, SettlementIn
from settlement.service import Principal, audit
from settlement.store import sql
from settlement.store.db import as_date, as_utc, for_update
from settlement.store.tables import (
    T_ACCOUNT,
    T_ADMISSION,
    T_BENEFIT_YEAR,
    T_FEE_LINE,
    T_PERSON,
    T_REVERSAL,
    T_SETTLEMENT,
)

SPLIT_FIELDS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)


_ADMISSION_COLUMNS = (
    "mdtrt_id, institution_code, psn_no, insutype, hospital_level, adm_date, status, begntime"
)
_SELECT_ADMISSION = sql.Sql(f"SELECT {_ADMISSION_COLUMNS} FROM admission WHERE mdtrt_id = ?")
_SELECT_OWN_ADMISSION = sql.Sql(
    f"SELECT {_ADMISSION_COLUMNS} FROM admission WHERE mdtrt_id = ? AND institution_code = ?"
)
_INSERT_ADMISSION = sql.Sql(
    "INSERT INTO admission (mdtrt_id, institution_code, terminal_id, psn_no, insutype, hospital_level,"
    " begntime, adm_date, dept_name, dise_name, auth_method, card_no, evidence, status, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_FEE_LINES_FULL = sql.Sql(
    "SELECT feedetl_sn, med_list_codg, med_list_name, list_type, cnt, pric, init_feedetl_sn"
    " FROM fee_line WHERE mdtrt_id = ?"
)
_INSERT_FEE_LINE = sql.Sql(
    "INSERT INTO fee_line (mdtrt_id, feedetl_sn, med_list_codg, med_list_name, list_type, cnt, pric,"
    " det_item_fee_sumamt, init_feedetl_sn, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_FEE_TOTALS = sql.Sql(
    "SELECT count(*), coalesce(sum(det_item_fee_sumamt), 0) FROM fee_line WHERE mdtrt_id = ?"
)
_SELECT_FEE_ITEMS = sql.Sql(
    "SELECT feedetl_sn, list_type, det_item_fee_sumamt FROM fee_line WHERE mdtrt_id = ? ORDER BY id"
)
_SELECT_BENEFIT = sql.Sql(
    "SELECT ceiling_used, settled_admissions FROM benefit_year WHERE psn_no = ? AND insutype = ? AND year = ?"
)
# Settled admissions of the person in the same benefit year that began before this one
# (docs/api.md §Second admission): admission order, not the count of settlements so far.
_EARLIER_SETTLED = sql.Sql(
    "SELECT count(*) FROM admission WHERE psn_no = ? AND insutype = ? AND status = 'settled'"
    " AND adm_date >= ? AND adm_date <= ? AND mdtrt_id <> ?"
    " AND (begntime < ? OR (begntime = ? AND mdtrt_id < ?))"
)
_INSERT_SETTLEMENT = sql.Sql(
    "INSERT INTO settlement (setl_id, mdtrt_id, active_mdtrt_id, institution_code, terminal_id, psn_no,"
    " insutype, benefit_year, auth_method, card_no, balc, fee_count, policy_version, setl_time, setl_date,"
    " status, "
    + ", ".join(
        SPLIT_FIELDS_SQL := (
            "medfee_sumamt",
            "fulamt_ownpay_amt",
            "preselfpay_amt",
            "inscp_scp_amt",
            "act_pay_dedc",
            "fund_pay_sumamt",
            "psn_part_amt",
            "acct_pay",
            "psn_cash_pay",
        )
    )
    + ") VALUES ("
    + ", ".join("?" * 25)
    + ")"
)
_DEBIT_ACCOUNT = sql.Sql("UPDATE person SET acct_balance = acct_balance - ? WHERE psn_no = ?")
_INSERT_ACCOUNT_ENTRY = sql.Sql(
    "INSERT INTO account_entry (psn_no, amount, kind, ref, at) VALUES (?, ?, ?, ?, ?)"
)
_ADD_BENEFIT = sql.Sql(
    "UPDATE benefit_year SET ceiling_used = ceiling_used + ?, settled_admissions = settled_admissions + 1"
    " WHERE psn_no = ? AND insutype = ? AND year = ?"
)
_INSERT_BENEFIT = sql.Sql(
    "INSERT INTO benefit_year (psn_no, insutype, year, ceiling_used, settled_admissions) VALUES (?, ?, ?, ?, 1)"
)
_ADMISSION_SETTLED = sql.Sql(
    "UPDATE admission SET status = 'settled', endtime = ? WHERE mdtrt_id = ?"
)


def new_id(prefix: str, now: datetime) -> str:
    return f"{prefix}{now:%Y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


#: Largest bill of one admission, in fen (docs/api.md §Limits): sums of settlements stay 64-bit.
ADMISSION_TOTAL_MAX = MONEY_MAX

#: Clock skew tolerated between a hospital's clock and the service's (docs/api.md §Admission times).
CLOCK_SKEW = timedelta(minutes=5)


def check_admission_time(begntime: datetime, now: datetime, backdate_days: int) -> None:
    """``begntime`` within [now - backdate limit, now + skew]: the benefit year, the child's age and
    coverage are all decided by the admission date, so it cannot be chosen freely (a stay is
    registered on its real day; long stays are admitted when they start)."""
    if begntime > now + CLOCK_SKEW:
        raise Problem(
            422,
            "admission_time_invalid",
            f"begntime {begntime.isoformat()} is in the future (service time {now.isoformat()})",
        )
    if begntime < now - timedelta(days=backdate_days):
        raise Problem(
            422,
            "admission_time_invalid",
            f"begntime {begntime.isoformat()} is more than {backdate_days} days in the past; "
            "admissions are registered within that window of their real time",
        )


def check_discharge_time(endtime: datetime, begntime: datetime, now: datetime) -> None:
    """``endtime`` not before the admission's ``begntime`` and not in the future."""
    if endtime < begntime:
        raise Problem(
            422,
            "discharge_time_invalid",
            f"endtime {endtime.isoformat()} is before the admission's begntime {begntime.isoformat()}",
        )
    if endtime > now + CLOCK_SKEW:
        raise Problem(
            422,
            "discharge_time_invalid",
            f"endtime {endtime.isoformat()} is in the future (service time {now.isoformat()})",
        )


def benefit_year(insutype: str, day: date) -> int:
    """The year a stay counts in: calendar year (310), insurance year from 1 July (390)."""
    if insutype == "390":
        return insurance_year(day)[0].year
    return day.year


def _authenticate_holder(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    person: Row,
    proof,
    exemption: ExemptionBody | None,
    purpose: str,
    on: date,
    now: datetime,
    today: date,
) -> tuple[str, str | None, str | None]:
    """Card proof or exemption; returns (auth_method, card_no, evidence JSON)."""
    action = purpose
    if proof is not None:
        card = verify_proof(
            conn,
            keystore,
            principal,
            ProofIn(proof.card_no, proof.challenge_id, proof.cryptogram),
            purpose,
            now,
            today,
            action,
        )
        if card.psn_no != person.psn_no:
            raise Problem(
                403,
                "card_not_holder",
                f"card {card.card_no} belongs to another person, not {person.psn_no}",
                audit=(action, card.card_no),
                consume_challenge=proof.challenge_id,
            )
        return "card", card.card_no, None
    if exemption is None:
        raise Problem(
            403,
            "card_required",
            "card authentication is required: send a proof (challenge + cryptogram), or an "
            "exemption with its evidence",
            audit=(action, person.psn_no),
        )
    evidence = exemption.evidence()
    decision = check_exemption(exemption.kind, evidence, person_facts(conn, person), on)
    if not decision.accepted:
        raise Problem(
            403,
            "exemption_refused",
            decision.reason,
            extra={"reason_code": decision.code, "kind": exemption.kind},
            audit=(f"{action}.exemption.{exemption.kind}", person.psn_no),
        )
    record = json.dumps(
        {"kind": exemption.kind, **evidence, "decision": decision.reason},
        ensure_ascii=False,
        sort_keys=True,
    )
    return exemption.kind, None, record


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
    check_admission_time(begntime, now, backdate_days)
    person = load_person_for_billing(conn, body.psn_no)
    adm_date = begntime.astimezone(tz).date()
    today = now.astimezone(tz).date()
    auth_method, card_no, evidence = _authenticate_holder(
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
    )
    try:
        require_covered(conn, body.psn_no, body.insutype, adm_date, "admission")
    except Problem as problem:
        problem.consume_challenge = body.proof.challenge_id if body.proof else None
        raise
    mdtrt_id = new_id("M", now)
    sql.execute(
        conn,
        _INSERT_ADMISSION,
        (
            mdtrt_id,
            principal.institution_code,
            principal.terminal_id,
            body.psn_no,
            body.insutype,
            principal.hospital_level,
            begntime,
            adm_date,
            body.dept_name,
            body.dise_name,
            auth_method,
            card_no,
            evidence,
            "admitted",
            now,
        ),
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


def load_admission(
    conn: Connection, principal: Principal, mdtrt_id: str, *, lock: bool = False
) -> Row:
    """The admission, if the caller's institution owns it (404 otherwise: existence not revealed)."""
    stmt = sa.select(T_ADMISSION).where(T_ADMISSION.c.mdtrt_id == mdtrt_id)
    if not principal.is_admin:
        stmt = stmt.where(T_ADMISSION.c.institution_code == principal.institution_code)
    if lock:
        stmt = for_update(stmt, conn)
    admission = conn.execute(stmt).first()
    if admission is None:
        raise not_found(f"admission {mdtrt_id}")
    return admission


def _load_admission_for_billing(conn: Connection, principal: Principal, mdtrt_id: str):
    """:func:`load_admission` (locked on PostgreSQL) with the columns billing needs; hand-written SQL."""
    if principal.is_admin:
        admission = sql.first(conn, for_update(_SELECT_ADMISSION, conn), (mdtrt_id,))
    else:
        admission = sql.first(
            conn, for_update(_SELECT_OWN_ADMISSION, conn), (mdtrt_id, principal.institution_code)
        )
    if admission is None:
        raise not_found(f"admission {mdtrt_id}")
    return admission._replace(adm_date=as_date(admission.adm_date))


def upload_fees(
    conn: Connection, principal: Principal, mdtrt_id: str, body: FeeUploadIn, now: datetime
) -> dict:
    """2301 fee upload, idempotent per ``feedetl_sn``; refunds are negative ``cnt``."""
    require_role(principal, HOSPITAL, action="fees", subject=mdtrt_id)
    admission = _load_admission_for_billing(conn, principal, mdtrt_id)
    if admission.status == "settled":
        raise Problem(
            409, "already_settled", f"admission {mdtrt_id} is settled; reverse it first to add fees"
        )
    lines = body.feedetail
    serials = {line.feedetl_sn for line in lines}
    wanted = serials | {line.init_feedetl_sn for line in lines if line.init_feedetl_sn}
    existing = {
        row.feedetl_sn: row
        for row in sql.all_rows(conn, _SELECT_FEE_LINES_FULL, (mdtrt_id,))
        if row.feedetl_sn in wanted
    }
    refunds = [line for line in lines if line.cnt < 0]
    refunded: dict[str, int] = {}
    if refunds:
        originals = {line.init_feedetl_sn for line in refunds if line.init_feedetl_sn}
        for row in conn.execute(
            sa.select(T_FEE_LINE.c.init_feedetl_sn, sa.func.sum(T_FEE_LINE.c.cnt))
            .where(T_FEE_LINE.c.mdtrt_id == mdtrt_id, T_FEE_LINE.c.init_feedetl_sn.in_(originals))
            .group_by(T_FEE_LINE.c.init_feedetl_sn)
        ):
            refunded[row[0]] = int(row[1])
    accepted: list[dict] = []
    duplicates: list[str] = []
    seen: dict[str, dict] = {}
    for line in lines:
        fields = {
            "med_list_codg": line.med_list_codg,
            "med_list_name": line.med_list_name,
            "list_type": line.list_type,
            "cnt": line.cnt,
            "pric": line.pric,
            "init_feedetl_sn": line.init_feedetl_sn,
        }
        known = existing.get(line.feedetl_sn)
        if known is None and line.feedetl_sn in seen:
            known_fields = seen[line.feedetl_sn]
        elif known is not None:
            known_fields = {k: getattr(known, k) for k in fields}
        else:
            known_fields = None
        if known_fields is not None:
            if known_fields != fields:
                raise Problem(
                    409,
                    "fee_line_conflict",
                    f"fee line {line.feedetl_sn} was already uploaded with different content; "
                    "use a new feedetl_sn (a refund is a new line with a negative cnt)",
                )
            duplicates.append(line.feedetl_sn)
            continue
        if line.cnt < 0:
            original = existing.get(line.init_feedetl_sn or "") or (
                _Obj(seen[line.init_feedetl_sn]) if line.init_feedetl_sn in seen else None
            )
            if original is None or original.cnt <= 0:
                raise Problem(
                    422,
                    "refund_invalid",
                    f"refund line {line.feedetl_sn} must name the charged line it refunds in "
                    "init_feedetl_sn",
                )
            if (original.med_list_codg, original.list_type, original.pric) != (
                line.med_list_codg,
                line.list_type,
                line.pric,
            ):
                raise Problem(
                    422,
                    "refund_invalid",
                    f"refund line {line.feedetl_sn} must have the item, class and price of "
                    f"line {line.init_feedetl_sn}",
                )
            net = original.cnt + refunded.get(line.init_feedetl_sn, 0) + line.cnt
            if net < 0:
                raise Problem(
                    422,
                    "refund_invalid",
                    f"refund line {line.feedetl_sn} refunds more than line "
                    f"{line.init_feedetl_sn} charged",
                )
            refunded[line.init_feedetl_sn] = refunded.get(line.init_feedetl_sn, 0) + line.cnt
        seen[line.feedetl_sn] = fields
        accepted.append(
            (
                mdtrt_id,
                line.feedetl_sn,
                line.med_list_codg,
                line.med_list_name,
                line.list_type,
                line.cnt,
                line.pric,
                line.cnt * line.pric,
                line.init_feedetl_sn,
                now,
            )
        )
    sql.execute_many(conn, _INSERT_FEE_LINE, accepted)
    count, total = sql.execute(conn, _FEE_TOTALS, (mdtrt_id,)).fetchone()
    if int(total) > ADMISSION_TOTAL_MAX:  # the transaction is rolled back with the refusal
        raise Problem(
            422,
            "amount_out_of_range",
            f"these lines would bring admission {mdtrt_id}'s bill to {int(total)} fen, over the "
            f"limit of {ADMISSION_TOTAL_MAX} fen per admission",
        )
    return {
        "mdtrt_id": mdtrt_id,
        "accepted": [line[1] for line in accepted],
        "duplicates": duplicates,
        "fee_count": int(count),
        "medfee_sumamt": int(total),
    }


class _Obj:
    def __init__(self, data: dict) -> None:
        self.__dict__.update(data)


def _benefit_row(conn: Connection, psn_no: str, insutype: str, year: int, *, lock: bool = True):
    return sql.first(
        conn,
        for_update(_SELECT_BENEFIT, conn) if lock else _SELECT_BENEFIT,
        (psn_no, insutype, year),
    )


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
    used = _benefit_row(conn, person.psn_no, admission.insutype, year, lock=lock)
    first_day, last_day = coverage_benefit_year(admission.insutype, admission.adm_date)
    begntime = as_utc(admission.begntime)
    earlier = sql.execute(
        conn,
        _EARLIER_SETTLED,
        (
            person.psn_no,
            admission.insutype,
            first_day,
            last_day,
            admission.mdtrt_id,
            begntime,
            begntime,
            admission.mdtrt_id,
        ),
    ).fetchone()[0]
    lines = sql.execute(conn, _SELECT_FEE_ITEMS, (admission.mdtrt_id,)).fetchall()
    items = [FeeItem(row[0], row[1], int(row[2])) for row in lines]
    request = SplitRequest(
        scheme=admission.insutype,
        hospital_level=admission.hospital_level,
        items=items,
        prior_admissions_this_year=int(earlier),
        ceiling_used_fen=int(used.ceiling_used) if used else 0,
        account_balance_fen=int(person.acct_balance),
        use_account=use_account,
    )
    try:
        return split_bill(request, policy), year, len(items)
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
    person = load_person(conn, admission.psn_no)
    split, _, fee_count = compute_split(conn, admission, person, use_account, policy, lock=False)
    body = {name: getattr(split, name) for name in SPLIT_FIELDS}
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
    admission = _load_admission_for_billing(conn, principal, mdtrt_id)
    burn = body.proof.challenge_id if body.proof else None
    if admission.status == "settled":
        raise Problem(
            409,
            "already_settled",
            f"admission {mdtrt_id} is already settled",
            audit=("settlement", mdtrt_id),
        )
    endtime = (body.endtime or now).astimezone(UTC)
    check_discharge_time(endtime, as_utc(admission.begntime), now)
    today = now.astimezone(tz).date()
    person = load_person_for_billing(conn, admission.psn_no, lock=True)
    auth_method, card_no, _ = _authenticate_holder(
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
    )
    try:
        split, year, fee_count = compute_split(conn, admission, person, body.acct_used_flag, policy)
    except Problem as problem:
        problem.consume_challenge = burn
        raise
    setl_id = new_id("S", now)
    balance_after = int(person.acct_balance) - split.acct_pay
    values = {name: getattr(split, name) for name in SPLIT_FIELDS}
    try:
        # No savepoint needed: on a violation the whole transaction is rolled back anyway.
        sql.execute(
            conn,
            _INSERT_SETTLEMENT,
            (
                setl_id,
                mdtrt_id,
                mdtrt_id,
                admission.institution_code,
                principal.terminal_id,
                admission.psn_no,
                admission.insutype,
                year,
                auth_method,
                card_no,
                balance_after,
                fee_count,
                split.policy_version,
                now,
                today,
                "settled",
                *(values[name] for name in SPLIT_FIELDS_SQL),
            ),
        )
    except IntegrityError:
        raise Problem(
            409,
            "already_settled",
            f"admission {mdtrt_id} is already settled",
            audit=("settlement", mdtrt_id),
            consume_challenge=burn,
        ) from None
    if split.acct_pay:
        sql.execute(conn, _DEBIT_ACCOUNT, (split.acct_pay, admission.psn_no))
        sql.execute(
            conn,
            _INSERT_ACCOUNT_ENTRY,
            (admission.psn_no, -split.acct_pay, "settlement", setl_id, now),
        )
    updated = sql.execute(
        conn, _ADD_BENEFIT, (split.fund_pay_sumamt, admission.psn_no, admission.insutype, year)
    ).rowcount
    if not updated:
        sql.execute(
            conn,
            _INSERT_BENEFIT,
            (admission.psn_no, admission.insutype, year, split.fund_pay_sumamt),
        )
    sql.execute(conn, _ADMISSION_SETTLED, (endtime, mdtrt_id))
    audit(
        conn,
        principal,
        "settlement",
        setl_id,
        detail={
            "mdtrt_id": mdtrt_id,
            "auth_method": auth_method,
            "card_no": card_no,
            "fund_pay_sumamt": split.fund_pay_sumamt,
            "acct_pay": split.acct_pay,
        },
        at=now,
    )
    result = {
        "setl_id": setl_id,
        "mdtrt_id": mdtrt_id,
        "psn_no": admission.psn_no,
        "insutype": admission.insutype,
        "fixmedins_code": admission.institution_code,
        "setl_time": now.isoformat(),
        **values,
        "balc": balance_after,
        "fee_count": fee_count,
        "policy_version": split.policy_version,
        "auth_method": auth_method,
        "status": "settled",
    }
    return result


def settlement_view(row: Row) -> dict:
    body = {name: int(getattr(row, name)) for name in SPLIT_FIELDS}
    body.update(
        setl_id=row.setl_id,
        mdtrt_id=row.mdtrt_id,
        psn_no=row.psn_no,
        insutype=row.insutype,
        fixmedins_code=row.institution_code,
        setl_time=as_utc(row.setl_time).isoformat(),
        balc=int(row.balc),
        fee_count=row.fee_count,
        policy_version=row.policy_version,
        auth_method=row.auth_method,
        status=row.status,
    )
    return body


def load_settlement(conn: Connection, principal: Principal, setl_id: str) -> Row:
    stmt = sa.select(T_SETTLEMENT).where(T_SETTLEMENT.c.setl_id == setl_id)
    if not principal.is_admin:
        stmt = stmt.where(T_SETTLEMENT.c.institution_code == principal.institution_code)
    row = conn.execute(stmt).first()
    if row is None:
        raise not_found(f"settlement {setl_id}")
    return row


def reverse(
    conn: Connection, principal: Principal, setl_id: str, reason: str, now: datetime, tz
) -> dict:
    """2305 reversal: restore the annual ceiling and the personal account exactly."""
    require_role(principal, HOSPITAL, action="reversal", subject=setl_id)
    found = load_settlement(conn, principal, setl_id)
    load_admission(conn, principal, found.mdtrt_id, lock=True)  # lock order: admission first
    stmt = sa.select(T_SETTLEMENT).where(T_SETTLEMENT.c.setl_id == setl_id)
    setl = conn.execute(for_update(stmt, conn)).one()
    if setl.status != "settled":
        raise Problem(409, "already_reversed", f"settlement {setl_id} is already reversed")
    load_person(conn, setl.psn_no, lock=True)
    _benefit_row(conn, setl.psn_no, setl.insutype, setl.benefit_year)
    changed = conn.execute(
        T_SETTLEMENT.update()
        .where(T_SETTLEMENT.c.setl_id == setl_id, T_SETTLEMENT.c.status == "settled")
        .values(status="reversed", active_mdtrt_id=None)
    ).rowcount
    if changed != 1:
        raise Problem(409, "already_reversed", f"settlement {setl_id} is already reversed")
    revs_setl_id = new_id("R", now)
    today = now.astimezone(tz).date()
    conn.execute(
        T_REVERSAL.insert().values(
            revs_setl_id=revs_setl_id,
            setl_id=setl_id,
            mdtrt_id=setl.mdtrt_id,
            institution_code=setl.institution_code,
            terminal_id=principal.terminal_id,
            reason=reason,
            revs_time=now,
            revs_date=today,
        )
    )
    if setl.acct_pay:
        conn.execute(
            T_PERSON.update()
            .where(T_PERSON.c.psn_no == setl.psn_no)
            .values(acct_balance=T_PERSON.c.acct_balance + setl.acct_pay)
        )
        conn.execute(
            T_ACCOUNT.insert().values(
                psn_no=setl.psn_no, amount=setl.acct_pay, kind="reversal", ref=revs_setl_id, at=now
            )
        )
    conn.execute(
        T_BENEFIT_YEAR.update()
        .where(
            T_BENEFIT_YEAR.c.psn_no == setl.psn_no,
            T_BENEFIT_YEAR.c.insutype == setl.insutype,
            T_BENEFIT_YEAR.c.year == setl.benefit_year,
        )
        .values(
            ceiling_used=T_BENEFIT_YEAR.c.ceiling_used - setl.fund_pay_sumamt,
            settled_admissions=T_BENEFIT_YEAR.c.settled_admissions - 1,
        )
    )
    conn.execute(
        T_ADMISSION.update()
        .where(T_ADMISSION.c.mdtrt_id == setl.mdtrt_id)
        .values(status="admitted", endtime=None)
    )
    balance = conn.execute(
        sa.select(T_PERSON.c.acct_balance).where(T_PERSON.c.psn_no == setl.psn_no)
    ).scalar()
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
        "balc": int(balance),
        "revs_time": now.isoformat(),
    }


def list_admissions(
    conn: Connection,
    principal: Principal,
    *,
    status: str | None,
    psn_no: str | None,
    limit: int,
) -> list[dict]:
    """The newest ``limit`` admissions the caller may see (its own institution's; an admin: all)."""
    stmt = sa.select(T_ADMISSION).order_by(T_ADMISSION.c.created_at.desc()).limit(limit)
    if not principal.is_admin:
        stmt = stmt.where(T_ADMISSION.c.institution_code == principal.institution_code)
    if status:
        stmt = stmt.where(T_ADMISSION.c.status == status)
    if psn_no:
        stmt = stmt.where(T_ADMISSION.c.psn_no == psn_no)
    return [admission_view(conn, row) for row in conn.execute(stmt)]


def admission_view(conn: Connection, admission: Row) -> dict:
    count, total = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(T_FEE_LINE.c.det_item_fee_sumamt), 0)
        ).where(T_FEE_LINE.c.mdtrt_id == admission.mdtrt_id)
    ).one()
    active = conn.execute(
        sa.select(T_SETTLEMENT).where(T_SETTLEMENT.c.active_mdtrt_id == admission.mdtrt_id)
    ).first()
    return {
        "mdtrt_id": admission.mdtrt_id,
        "psn_no": admission.psn_no,
        "insutype": admission.insutype,
        "fixmedins_code": admission.institution_code,
        "begntime": as_utc(admission.begntime).isoformat(),
        "adm_date": admission.adm_date.isoformat(),
        "endtime": as_utc(admission.endtime).isoformat() if admission.endtime else None,
        "auth_method": admission.auth_method,
        "evidence": json.loads(admission.evidence) if admission.evidence else None,
        "card_no": admission.card_no,
        "status": admission.status,
        "fee_count": int(count),
        "medfee_sumamt": int(total),
        "settlement": settlement_view(active) if active else None,
    }


ADMIN_READ = (HOSPITAL, ADMIN)
