"""The reads of the daily reconciliation report and the whole-ledger check.

settlement.md §Never lose, never double. Sums are exact even past 64 bits: SQLite's ``sum()``
of 64-bit integers raises "integer overflow" (PostgreSQL sums ``bigint`` as ``numeric``);
amounts are bounded now (docs/api.md §Limits), but a database written before the bounds may
hold such rows, and the report must still add up — so an overflowing sum is redone in Python.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
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


def _grouped(conn: Connection, key, columns, source, where) -> dict:
    """Per value of ``key``: [row count, ``sum(column)`` for each column], exact past 64 bits.

    ``key`` a column (values as ``str``), a tuple of columns (a tuple of ``str`` each), or None
    (one total, under the key None). One query for every institution at once: a report over
    many hospitals costs one round trip, not one per hospital.
    """
    keys = [] if key is None else list(key) if isinstance(key, tuple) else [key]
    width = len(keys)

    def name(row):
        if key is None:
            return None
        return tuple(str(v) for v in row[:width]) if isinstance(key, tuple) else str(row[0])

    sums = [sa.func.coalesce(sa.func.sum(c), 0) for c in columns]
    try:
        stmt = sa.select(*keys, sa.func.count(), *sums).select_from(source).where(where)
        if key is None:  # one row, also when nothing matches
            return {None: [int(v) for v in conn.execute(stmt).one()]}
        return {name(r): [int(v) for v in r[width:]] for r in conn.execute(stmt.group_by(*keys))}
    except sa.exc.OperationalError as error:
        if not _overflowed(error):
            raise
    totals: dict = {None: [0] * (len(columns) + 1)} if key is None else {}
    for row in conn.execute(sa.select(*keys, *columns).select_from(source).where(where)):
        acc = totals.setdefault(name(row), [0] * (len(columns) + 1))
        acc[0] += 1
        for i, value in enumerate(row[width:], 1):
            acc[i] += int(value)
    return totals


def _split_sums(totals: list[int] | None) -> dict[str, int]:
    totals = totals or [0] * (len(SPLIT_AMOUNTS) + 1)
    return {"count": totals[0], **dict(zip(SPLIT_AMOUNTS, totals[1:], strict=True))}


def _scope(column, institution_code: str | None):
    return sa.true() if institution_code is None else column == institution_code


def settled_on(
    conn: Connection, day: date, institution_code: str | None = None
) -> dict[str, dict[str, int]]:
    """Per institution (only ``institution_code``, if given), the count and amount sums of the
    settlements it made on ``day`` (institutions without any are left out)."""
    where = sa.and_(S.setl_date == day, _scope(S.institution_code, institution_code))
    amounts = [S[f] for f in SPLIT_AMOUNTS]
    found = _grouped(conn, S.institution_code, amounts, T_SETTLEMENT, where)
    return {code: _split_sums(totals) for code, totals in found.items()}


def reversed_on(
    conn: Connection, day: date, institution_code: str | None = None
) -> dict[str, dict[str, int]]:
    """Per institution, the count and amount sums of the settlements it reversed on ``day``."""
    R = T_REVERSAL.c
    where = sa.and_(R.revs_date == day, _scope(R.institution_code, institution_code))
    joined = T_SETTLEMENT.join(T_REVERSAL, R.setl_id == S.setl_id)
    amounts = [S[f] for f in SPLIT_AMOUNTS]
    found = _grouped(conn, R.institution_code, amounts, joined, where)
    return {code: _split_sums(totals) for code, totals in found.items()}


def empty_sums() -> dict[str, int]:
    """The sums of no settlements."""
    return _split_sums(None)


def standing_sums(conn: Connection, people=None) -> dict[str, int]:
    """Count and amount sums of every standing settlement (of ``people`` only, if given: a
    subquery of ``psn_no``)."""
    where = sa.and_(S.status == "settled", _of(S.psn_no, people))
    return _split_sums(
        _grouped(conn, None, [S[f] for f in SPLIT_AMOUNTS], T_SETTLEMENT, where)[None]
    )


#: A settlement's amount and the fee-line part it is the sum of (issue 14).
BILL_PARTS = (
    ("medfee_sumamt", "det_item_fee_sumamt"),
    ("fulamt_ownpay_amt", "fulamt_ownpay_amt"),
    ("overlmt_selfpay", "overlmt_amt"),
    ("preselfpay_amt", "preselfpay_amt"),
    ("inscp_scp_amt", "inscp_scp_amt"),
)


def standing_bills_settled_on(
    conn: Connection, day: date, institution_code: str | None = None
) -> dict[str, tuple[list[int], list[int]]]:
    """Per institution, the sums of :data:`BILL_PARTS` of the settlements it made on ``day``
    that still stand, and the sums of the matching parts of their fee lines."""
    active = sa.and_(
        S.setl_date == day, S.status == "settled", _scope(S.institution_code, institution_code)
    )
    bills = _grouped(
        conn, S.institution_code, [S[bill] for bill, _ in BILL_PARTS], T_SETTLEMENT, active
    )
    joined = T_FEE_LINE.join(T_SETTLEMENT, T_FEE_LINE.c.mdtrt_id == S.mdtrt_id)
    lines = _grouped(
        conn, S.institution_code, [T_FEE_LINE.c[part] for _, part in BILL_PARTS], joined, active
    )
    none = [0] * len(BILL_PARTS)
    return {
        code: (bills.get(code, [0, *none])[1:], lines.get(code, [0, *none])[1:])
        for code in set(bills) | set(lines)
    }


def people_of_day(conn: Connection, day: date):
    """The people whose money a settlement or a reversal of ``day`` moved, for the day's
    ledger check: on SQLite a subquery of ``psn_no`` (its planner looks each one up by index);
    on PostgreSQL their numbers, read once and then passed as one array (``= ANY``), looked up
    by index - given the subquery, PostgreSQL hash-joined it to a scan of the whole of
    ``benefit_year``, ``account_entry`` and ``person``, which grows with the history (a day
    ledger of 550 ms at 500 000 stays against 180 ms at 50 000 with the same day)."""
    settled = sa.select(S.psn_no).where(S.setl_date == day)
    reversed_ = (
        sa.select(S.psn_no)
        .select_from(T_SETTLEMENT.join(T_REVERSAL, T_REVERSAL.c.setl_id == S.setl_id))
        .where(T_REVERSAL.c.revs_date == day)
    )
    people = sa.union(settled, reversed_)
    if conn.dialect.name == "postgresql":
        return list(conn.execute(people).scalars())
    return people.subquery().select()


def _of(column, people):
    """All rows (``people`` None), or those of ``people`` (a subquery, or a list of numbers)."""
    if people is None:
        return sa.true()
    if isinstance(people, list):
        return column == sa.any_(sa.literal(people, ARRAY(sa.String)))
    return column.in_(people)


def hospital_codes(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            sa.select(T_INSTITUTION.c.code)
            .where(T_INSTITUTION.c.kind == "hospital")
            .order_by(T_INSTITUTION.c.code)
        ).scalars()
    )


def standing_by_benefit_year(
    conn: Connection, people=None
) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(sum of ``fund_pay_sumamt``, count) of the standing settlements per
    (``psn_no``, ``insutype``, benefit year); of ``people`` only, if given (as below)."""
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
            .where(S.status == "settled", _of(S.psn_no, people))
            .group_by(S.psn_no, S.insutype, S.benefit_year)
        )
    }


def benefit_years(conn: Connection, people=None) -> list:
    """Every benefit-year row (``psn_no``, ``insutype``, ``year``, ``ceiling_used``,
    ``settled_admissions``), of ``people`` only if given."""
    return conn.execute(sa.select(T_BENEFIT_YEAR).where(_of(T_BENEFIT_YEAR.c.psn_no, people))).all()


def account_entry_totals(
    conn: Connection, kinds: tuple[str, ...] | None = None, people=None
) -> dict[str, int]:
    """Per person (of ``people`` only, if given), the sum of the account entries (of ``kinds``
    only, if given)."""
    stmt = sa.select(T_ACCOUNT.c.psn_no, sa.func.sum(T_ACCOUNT.c.amount).label("total")).where(
        _of(T_ACCOUNT.c.psn_no, people)
    )
    if kinds is not None:
        stmt = stmt.where(T_ACCOUNT.c.kind.in_(kinds))
    return {r.psn_no: int(r.total) for r in conn.execute(stmt.group_by(T_ACCOUNT.c.psn_no))}


def standing_account_payments(conn: Connection, people=None) -> dict[str, int]:
    """Per person (of ``people`` only, if given), the sum of ``acct_pay`` of their standing
    settlements."""
    return {
        r.psn_no: int(r.total)
        for r in conn.execute(
            sa.select(S.psn_no, sa.func.sum(S.acct_pay).label("total"))
            .where(S.status == "settled", _of(S.psn_no, people))
            .group_by(S.psn_no)
        )
    }


def account_balances(conn: Connection, people=None) -> list:
    """(``psn_no``, ``acct_balance``) of every person (of ``people`` only, if given)."""
    return conn.execute(
        sa.select(T_PERSON.c.psn_no, T_PERSON.c.acct_balance).where(_of(T_PERSON.c.psn_no, people))
    ).all()


def doubly_settled(conn: Connection, people=None) -> list[str]:
    """Admissions (of ``people`` only, if given) with more than one standing settlement (there
    should be none)."""
    return list(
        conn.execute(
            sa.select(S.mdtrt_id)
            .where(S.status == "settled", _of(S.psn_no, people))
            .group_by(S.mdtrt_id)
            .having(sa.func.count() > 1)
        ).scalars()
    )


# --- the day report's breakdowns (issue 17) ------------------------------------------------

#: The amounts of a department's line in the day report.
DEPARTMENT_AMOUNTS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")


def _by_institution(grouped: dict[tuple[str, str], list[int]], shape) -> dict[str, dict]:
    """``{(institution, key): sums}`` as ``{institution: {key: shape(sums)}}``."""
    out: dict[str, dict] = {}
    for (code, key), sums in grouped.items():
        out.setdefault(code, {})[key] = shape(sums)
    return out


def _department(sums: list[int]) -> dict[str, int]:
    return {"count": sums[0], **dict(zip(DEPARTMENT_AMOUNTS, sums[1:], strict=True))}


def departments_on(
    conn: Connection, day: date, institution_code: str | None = None
) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, dict[str, int]]]]:
    """Per institution (only ``institution_code``, if given) and department (the admission's
    ``dept_name``): count and :data:`DEPARTMENT_AMOUNTS` of the settlements it made on ``day``,
    and of those it reversed that day."""
    columns = [S[f] for f in DEPARTMENT_AMOUNTS]
    admission, R = T_ADMISSION.c, T_REVERSAL.c
    settled = _grouped(
        conn,
        (S.institution_code, admission.dept_name),
        columns,
        T_SETTLEMENT.join(T_ADMISSION, admission.mdtrt_id == S.mdtrt_id),
        sa.and_(S.setl_date == day, _scope(S.institution_code, institution_code)),
    )
    reversed_ = _grouped(
        conn,
        (R.institution_code, admission.dept_name),
        columns,
        T_SETTLEMENT.join(T_REVERSAL, R.setl_id == S.setl_id).join(
            T_ADMISSION, admission.mdtrt_id == S.mdtrt_id
        ),
        sa.and_(R.revs_date == day, _scope(R.institution_code, institution_code)),
    )
    return _by_institution(settled, _department), _by_institution(reversed_, _department)


def classes_of_standing_settled_on(
    conn: Connection, day: date, institution_code: str | None = None
) -> dict[str, dict[str, int]]:
    """Per institution, the fees by catalogue class (``list_type`` A 甲 / B 乙 / C 丙) of the
    settlements it made on ``day`` that still stand: the sum of their fee lines' amounts."""
    active = sa.and_(
        S.setl_date == day, S.status == "settled", _scope(S.institution_code, institution_code)
    )
    joined = T_FEE_LINE.join(T_SETTLEMENT, T_FEE_LINE.c.mdtrt_id == S.mdtrt_id)
    grouped = _grouped(
        conn,
        (S.institution_code, T_FEE_LINE.c.list_type),
        [T_FEE_LINE.c.det_item_fee_sumamt],
        joined,
        active,
    )
    return _by_institution(grouped, lambda sums: sums[1])


def refusals_between(
    conn: Connection, start: datetime, end: datetime, institutions: str | list[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per institution (``institutions``: one code, a list of codes, or None for every one), how
    many requests of its terminals were refused (audited refusals, docs/api.md §Error codes)
    from ``start`` (inclusive) to ``end``, per code (UTC times).

    A list of codes reads the index of (institution, time) once per code; None reads every
    audit entry of the period without an index of time alone (PostgreSQL scans the whole audit
    log: 60 ms at 500 000 stays, growing with the history)."""
    audit = T_AUDIT.c
    if isinstance(institutions, list):
        scope = audit.institution_code.in_(institutions)
    else:
        scope = _scope(audit.institution_code, institutions)
    rows = conn.execute(
        sa.select(audit.institution_code, audit.code, sa.func.count())
        .where(
            scope,
            audit.institution_code.is_not(None),
            audit.outcome == "refused",
            audit.at >= start,
            audit.at < end,
        )
        .group_by(audit.institution_code, audit.code)
    )
    out: dict[str, dict[str, int]] = {}
    for code, problem, n in rows:
        out.setdefault(code, {})[str(problem or "unknown")] = int(n)
    return out
