"""The reads of the daily reconciliation report and the whole-ledger check.

settlement.md §Never lose, never double. Sums are exact even past 64 bits: SQLite's ``sum()``
of 64-bit integers raises "integer overflow" (PostgreSQL sums ``bigint`` as ``numeric``);
amounts are bounded now (docs/api.md §Limits), but a database written before the bounds may
hold such rows, and the report must still add up — so an overflowing sum is redone in Python.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from settlement.rules.split import SPLIT_AMOUNTS
from settlement.store.tables import (
    T_ACCOUNT,
    T_ADMISSION,
    T_AUDIT,
    T_BENEFIT_YEAR,
    T_FEE_LINE,
    T_INSTITUTION,
    T_PERSON,
    T_REVERSAL,
    T_SETTLEMENT,
)

S = T_SETTLEMENT.c


def _overflowed(error: Exception) -> bool:
    return "overflow" in str(error).lower()


def _sums(conn: Connection, where, join=None) -> dict[str, int]:
    source = T_SETTLEMENT if join is None else join
    try:
        row = conn.execute(
            sa.select(
                sa.func.count(), *[sa.func.coalesce(sa.func.sum(S[f]), 0) for f in SPLIT_AMOUNTS]
            )
            .select_from(source)
            .where(where)
        ).one()
    except sa.exc.OperationalError as error:
        if not _overflowed(error):
            raise
        rows = conn.execute(
            sa.select(*[S[f] for f in SPLIT_AMOUNTS]).select_from(source).where(where)
        ).all()
        row = (len(rows), *(sum(int(r[i]) for r in rows) for i in range(len(SPLIT_AMOUNTS))))
    return {
        "count": int(row[0]),
        **{f: int(v) for f, v in zip(SPLIT_AMOUNTS, row[1:], strict=True)},
    }


def _total(conn: Connection, column, source, where) -> int:
    """``sum(column)``, exact even past 64 bits."""
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


def settled_on(conn: Connection, institution_code: str, day: date) -> dict[str, int]:
    """Count and amount sums of the settlements the institution made on ``day``."""
    return _sums(conn, sa.and_(S.institution_code == institution_code, S.setl_date == day))


def reversed_on(conn: Connection, institution_code: str, day: date) -> dict[str, int]:
    """Count and amount sums of the settlements the institution reversed on ``day``."""
    return _sums(
        conn,
        sa.and_(T_REVERSAL.c.institution_code == institution_code, T_REVERSAL.c.revs_date == day),
        join=T_SETTLEMENT.join(T_REVERSAL, T_REVERSAL.c.setl_id == S.setl_id),
    )


def standing_sums(conn: Connection) -> dict[str, int]:
    """Count and amount sums of every standing settlement."""
    return _sums(conn, S.status == "settled")


#: A settlement's amount and the fee-line part it is the sum of (issue 14).
BILL_PARTS = (
    ("medfee_sumamt", "det_item_fee_sumamt"),
    ("fulamt_ownpay_amt", "fulamt_ownpay_amt"),
    ("overlmt_selfpay", "overlmt_amt"),
    ("preselfpay_amt", "preselfpay_amt"),
    ("inscp_scp_amt", "inscp_scp_amt"),
)


def standing_bills_settled_on(
    conn: Connection, institution_code: str, day: date
) -> tuple[list[int], list[int]]:
    """The sums of :data:`BILL_PARTS` of the settlements the institution made on ``day``
    that still stand, and the sums of the matching parts of their fee lines."""
    active = sa.and_(
        S.institution_code == institution_code, S.setl_date == day, S.status == "settled"
    )
    bills = [_total(conn, S[bill], T_SETTLEMENT, active) for bill, _ in BILL_PARTS]
    joined = T_FEE_LINE.join(T_SETTLEMENT, T_FEE_LINE.c.mdtrt_id == S.mdtrt_id)
    lines = [_total(conn, T_FEE_LINE.c[part], joined, active) for _, part in BILL_PARTS]
    return [int(v) for v in bills], [int(v) for v in lines]


def hospital_codes(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            sa.select(T_INSTITUTION.c.code)
            .where(T_INSTITUTION.c.kind == "hospital")
            .order_by(T_INSTITUTION.c.code)
        ).scalars()
    )


def standing_by_benefit_year(conn: Connection) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(sum of ``fund_pay_sumamt``, count) of the standing settlements per
    (``psn_no``, ``insutype``, benefit year)."""
    return {
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


def benefit_years(conn: Connection) -> list:
    """Every benefit-year row (``psn_no``, ``insutype``, ``year``, ``ceiling_used``,
    ``settled_admissions``)."""
    return conn.execute(sa.select(T_BENEFIT_YEAR)).all()


def account_entry_totals(conn: Connection, kinds: tuple[str, ...] | None = None) -> dict[str, int]:
    """Per person, the sum of the account entries (of ``kinds`` only, if given)."""
    stmt = sa.select(T_ACCOUNT.c.psn_no, sa.func.sum(T_ACCOUNT.c.amount).label("total"))
    if kinds is not None:
        stmt = stmt.where(T_ACCOUNT.c.kind.in_(kinds))
    return {r.psn_no: int(r.total) for r in conn.execute(stmt.group_by(T_ACCOUNT.c.psn_no))}


def standing_account_payments(conn: Connection) -> dict[str, int]:
    """Per person, the sum of ``acct_pay`` of their standing settlements."""
    return {
        r.psn_no: int(r.total)
        for r in conn.execute(
            sa.select(S.psn_no, sa.func.sum(S.acct_pay).label("total"))
            .where(S.status == "settled")
            .group_by(S.psn_no)
        )
    }


def account_balances(conn: Connection) -> list:
    """(``psn_no``, ``acct_balance``) of every person."""
    return conn.execute(sa.select(T_PERSON.c.psn_no, T_PERSON.c.acct_balance)).all()


def doubly_settled(conn: Connection) -> list[str]:
    """Admissions with more than one standing settlement (there should be none)."""
    return list(
        conn.execute(
            sa.select(S.mdtrt_id)
            .where(S.status == "settled")
            .group_by(S.mdtrt_id)
            .having(sa.func.count() > 1)
        ).scalars()
    )


# --- the day report's breakdowns (issue 17) ------------------------------------------------

#: The amounts of a department's line in the day report.
DEPARTMENT_AMOUNTS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")


def _grouped(conn: Connection, key, columns, source, where) -> dict[str, list[int]]:
    """``{key: [count, sum(column)...]}`` over ``source`` where ``where``, exact past 64 bits."""
    stmt = (
        sa.select(key, sa.func.count(), *[sa.func.coalesce(sa.func.sum(c), 0) for c in columns])
        .select_from(source)
        .where(where)
        .group_by(key)
    )
    try:
        return {str(r[0]): [int(v) for v in r[1:]] for r in conn.execute(stmt)}
    except sa.exc.OperationalError as error:
        if not _overflowed(error):
            raise
    out: dict[str, list[int]] = {}
    for row in conn.execute(sa.select(key, *columns).select_from(source).where(where)):
        sums = out.setdefault(str(row[0]), [0] * (len(columns) + 1))
        sums[0] += 1
        for i, value in enumerate(row[1:], start=1):
            sums[i] += int(value)
    return out


def _department_sums(grouped: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {
        dept: {"count": sums[0], **dict(zip(DEPARTMENT_AMOUNTS, sums[1:], strict=True))}
        for dept, sums in grouped.items()
    }


def departments_on(
    conn: Connection, institution_code: str, day: date
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per department (the admission's ``dept_name``): count and :data:`DEPARTMENT_AMOUNTS`
    of the settlements the institution made on ``day``, and of those it reversed that day."""
    columns = [S[f] for f in DEPARTMENT_AMOUNTS]
    admission = T_ADMISSION.c
    settled = _grouped(
        conn,
        admission.dept_name,
        columns,
        T_SETTLEMENT.join(T_ADMISSION, admission.mdtrt_id == S.mdtrt_id),
        sa.and_(S.institution_code == institution_code, S.setl_date == day),
    )
    reversed_ = _grouped(
        conn,
        admission.dept_name,
        columns,
        T_SETTLEMENT.join(T_REVERSAL, T_REVERSAL.c.setl_id == S.setl_id).join(
            T_ADMISSION, admission.mdtrt_id == S.mdtrt_id
        ),
        sa.and_(T_REVERSAL.c.institution_code == institution_code, T_REVERSAL.c.revs_date == day),
    )
    return _department_sums(settled), _department_sums(reversed_)


def classes_of_standing_settled_on(
    conn: Connection, institution_code: str, day: date
) -> dict[str, int]:
    """The fees by catalogue class (``list_type`` A 甲 / B 乙 / C 丙) of the settlements the
    institution made on ``day`` that still stand: the sum of their fee lines' amounts."""
    active = sa.and_(
        S.institution_code == institution_code, S.setl_date == day, S.status == "settled"
    )
    joined = T_FEE_LINE.join(T_SETTLEMENT, T_FEE_LINE.c.mdtrt_id == S.mdtrt_id)
    grouped = _grouped(
        conn, T_FEE_LINE.c.list_type, [T_FEE_LINE.c.det_item_fee_sumamt], joined, active
    )
    return {letter: grouped.get(letter, [0, 0])[1] for letter in ("A", "B", "C")}


def refusals_between(
    conn: Connection, institution_code: str, start: datetime, end: datetime
) -> dict[str, int]:
    """How many requests of the institution's terminals were refused (audited refusals,
    docs/api.md §Error codes) from ``start`` (inclusive) to ``end``, per code (UTC times)."""
    audit = T_AUDIT.c
    rows = conn.execute(
        sa.select(audit.code, sa.func.count())
        .where(
            audit.institution_code == institution_code,
            audit.outcome == "refused",
            audit.at >= start,
            audit.at < end,
        )
        .group_by(audit.code)
    )
    return {str(code or "unknown"): int(n) for code, n in rows}
