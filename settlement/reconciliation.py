"""The daily reconciliation report per institution, and the whole-ledger check.

settlement.md §Never lose, never double: "each settlement satisfies the
identities; totals reconcile per day". A day's report sums the settlements
made that day and the reversals made that day (of any day's settlements);
``net`` is their difference. The checks recompute the identities on the sums
and compare the settled bills with their fee lines.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from settlement.inpatient import SPLIT_FIELDS
from settlement.problems import Problem
from settlement.service import Principal
from settlement.store.tables import (
    T_ACCOUNT,
    T_BENEFIT_YEAR,
    T_FEE_LINE,
    T_INSTITUTION,
    T_PERSON,
    T_REVERSAL,
    T_SETTLEMENT,
)

S = T_SETTLEMENT.c


def _overflowed(error: Exception) -> bool:
    """SQLite's ``sum()`` of 64-bit integers raises "integer overflow" (PostgreSQL sums
    ``bigint`` as ``numeric``): amounts are bounded now (docs/api.md §Limits), but a database
    written before the bounds may hold such rows, and the report must still add up."""
    return "overflow" in str(error).lower()


def _sums(conn: Connection, where, join=None) -> dict[str, int]:
    source = T_SETTLEMENT if join is None else join
    try:
        row = conn.execute(
            sa.select(
                sa.func.count(), *[sa.func.coalesce(sa.func.sum(S[f]), 0) for f in SPLIT_FIELDS]
            )
            .select_from(source)
            .where(where)
        ).one()
    except sa.exc.OperationalError as error:
        if not _overflowed(error):
            raise
        rows = conn.execute(
            sa.select(*[S[f] for f in SPLIT_FIELDS]).select_from(source).where(where)
        ).all()
        row = (len(rows), *(sum(int(r[i]) for r in rows) for i in range(len(SPLIT_FIELDS))))
    return {"count": int(row[0]), **{f: int(v) for f, v in zip(SPLIT_FIELDS, row[1:], strict=True)}}


def _total(conn: Connection, column, source, where) -> int:
    """``sum(column)``, exact even past 64 bits (see :func:`_overflowed`)."""
    try:
        return int(
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(column), 0)).select_from(source).where(where)
            ).scalar()
        )
    except sa.exc.OperationalError as error:
        if not _overflowed(error):
            raise
        return sum(
            int(v)
            for v in conn.execute(sa.select(column).select_from(source).where(where)).scalars()
        )


def _identities(sums: dict[str, int]) -> dict[str, bool]:
    return {
        "fund_plus_person_equals_total": sums["fund_pay_sumamt"] + sums["psn_part_amt"]
        == sums["medfee_sumamt"],
        "account_plus_cash_equals_person": sums["acct_pay"] + sums["psn_cash_pay"]
        == sums["psn_part_amt"],
        "in_scope_identity": sums["medfee_sumamt"]
        - sums["fulamt_ownpay_amt"]
        - sums["preselfpay_amt"]
        == sums["inscp_scp_amt"],
    }


def daily_report(conn: Connection, institution_code: str, day: date) -> dict:
    settled = _sums(conn, sa.and_(S.institution_code == institution_code, S.setl_date == day))
    reversed_ = _sums(
        conn,
        sa.and_(T_REVERSAL.c.institution_code == institution_code, T_REVERSAL.c.revs_date == day),
        join=T_SETTLEMENT.join(T_REVERSAL, T_REVERSAL.c.setl_id == S.setl_id),
    )
    net = {key: settled[key] - reversed_[key] for key in settled}
    # Bills still standing that were settled today must equal their fee lines.
    active_today = sa.and_(
        S.institution_code == institution_code, S.setl_date == day, S.status == "settled"
    )
    medfee_active = _total(conn, S.medfee_sumamt, T_SETTLEMENT, active_today)
    fee_lines = _total(
        conn,
        T_FEE_LINE.c.det_item_fee_sumamt,
        T_FEE_LINE.join(T_SETTLEMENT, T_FEE_LINE.c.mdtrt_id == S.mdtrt_id),
        active_today,
    )
    checks = {}
    for name, ok in _identities(settled).items():
        checks[name] = ok and _identities(reversed_)[name] and _identities(net)[name]
    checks["fees_match_settlements"] = int(medfee_active) == int(fee_lines)
    return {
        "date": day.isoformat(),
        "institution": institution_code,
        "settlements": settled,
        "reversals": reversed_,
        "net": net,
        "checks": checks,
        "balanced": all(checks.values()),
    }


def all_reports(conn: Connection, day: date) -> dict:
    codes = (
        conn.execute(
            sa.select(T_INSTITUTION.c.code)
            .where(T_INSTITUTION.c.kind == "hospital")
            .order_by(T_INSTITUTION.c.code)
        )
        .scalars()
        .all()
    )
    reports = [daily_report(conn, code, day) for code in codes]
    return {
        "date": day.isoformat(),
        "institutions": reports,
        "balanced": all(r["balanced"] for r in reports),
    }


def report_for(conn: Connection, principal: Principal, day: date, institution: str | None) -> dict:
    """The daily report the caller may see: a hospital only its own (another institution's
    code answers ``404 not_found``); an admin one institution's, or every institution's."""
    if not principal.is_admin:
        if institution and institution != principal.institution_code:
            raise Problem(404, "not_found", f"institution {institution} not found")
        institution = principal.institution_code
    if institution:
        return daily_report(conn, institution, day)
    return all_reports(conn, day)


def ledger_check(conn: Connection) -> dict:
    """Whole-database invariants: ceiling use and account balances equal their settlements.

    - each benefit year's ``ceiling_used`` = sum of fund payments of its standing settlements,
      ``settled_admissions`` = their count;
    - each personal account balance = the sum of its account entries, and the entries of
      settlements / reversals equal the standing settlements' ``acct_pay``;
    - at most one standing settlement per admission.
    """
    problems: list[str] = []
    standing = {
        (r.psn_no, r.insutype, r.benefit_year): (int(r.fund), int(r.n))
        for r in conn.execute(
            sa.select(
                S.psn_no,
                S.insutype,
                S.benefit_year,
                sa.func.sum(S.fund_pay_sumamt).label("fund"),
                sa.func.count().label("n"),
            )
            .where(S.status == "settled")
            .group_by(S.psn_no, S.insutype, S.benefit_year)
        )
    }
    for r in conn.execute(sa.select(T_BENEFIT_YEAR)):
        fund, n = standing.pop((r.psn_no, r.insutype, r.year), (0, 0))
        if (int(r.ceiling_used), r.settled_admissions) != (fund, n):
            problems.append(
                f"benefit year {r.psn_no}/{r.insutype}/{r.year}: ceiling_used {r.ceiling_used} "
                f"admissions {r.settled_admissions}, settlements say {fund} / {n}"
            )
    for key, (fund, n) in standing.items():
        problems.append(f"benefit year {key} missing for {n} settlements ({fund} fen)")
    entries = {
        r.psn_no: int(r.total)
        for r in conn.execute(
            sa.select(T_ACCOUNT.c.psn_no, sa.func.sum(T_ACCOUNT.c.amount).label("total")).group_by(
                T_ACCOUNT.c.psn_no
            )
        )
    }
    acct_standing = {
        r.psn_no: int(r.total)
        for r in conn.execute(
            sa.select(S.psn_no, sa.func.sum(S.acct_pay).label("total"))
            .where(S.status == "settled")
            .group_by(S.psn_no)
        )
    }
    moved = {
        r.psn_no: int(r.total)
        for r in conn.execute(
            sa.select(T_ACCOUNT.c.psn_no, sa.func.sum(T_ACCOUNT.c.amount).label("total"))
            .where(T_ACCOUNT.c.kind.in_(("settlement", "reversal")))
            .group_by(T_ACCOUNT.c.psn_no)
        )
    }
    for r in conn.execute(sa.select(T_PERSON.c.psn_no, T_PERSON.c.acct_balance)):
        if int(r.acct_balance) != entries.get(r.psn_no, 0):
            problems.append(
                f"account {r.psn_no}: balance {r.acct_balance} != entries {entries.get(r.psn_no, 0)}"
            )
        if moved.get(r.psn_no, 0) != -acct_standing.get(r.psn_no, 0):
            problems.append(
                f"account {r.psn_no}: settlement entries {moved.get(r.psn_no, 0)} != "
                f"-standing acct_pay {acct_standing.get(r.psn_no, 0)}"
            )
    doubled = (
        conn.execute(
            sa.select(S.mdtrt_id)
            .where(S.status == "settled")
            .group_by(S.mdtrt_id)
            .having(sa.func.count() > 1)
        )
        .scalars()
        .all()
    )
    problems += [f"admission {m} has more than one standing settlement" for m in doubled]
    totals = _sums(conn, S.status == "settled")
    for name, ok in _identities(totals).items():
        if not ok:
            problems.append(f"identity {name} broken on the standing settlements")
    return {"ok": not problems, "problems": problems, "standing": totals}
