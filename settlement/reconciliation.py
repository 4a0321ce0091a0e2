"""The daily reconciliation report per institution, and the whole-ledger check.

settlement.md §Never lose, never double: "each settlement satisfies the
identities; totals reconcile per day". A day's report sums the settlements
made that day and the reversals made that day (of any day's settlements);
``net`` is their difference. The checks recompute the identities on the sums
and compare the settled bills with their fee lines. The reads are
:mod:`settlement.store.reports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from settlement.config import DEFAULT_TIMEZONE
from settlement.problems import Problem
from settlement.service import Principal
from settlement.store import reports


def _identities(sums: dict[str, int]) -> dict[str, bool]:
    return {
        "fund_plus_person_equals_total": sums["fund_pay_sumamt"] + sums["psn_part_amt"]
        == sums["medfee_sumamt"],
        "account_plus_cash_equals_person": sums["acct_pay"] + sums["psn_cash_pay"]
        == sums["psn_part_amt"],
        "in_scope_identity": sums["medfee_sumamt"]
        - sums["fulamt_ownpay_amt"]
        - sums["overlmt_selfpay"]
        - sums["preselfpay_amt"]
        == sums["inscp_scp_amt"],
    }


def _departments(settled: dict[str, dict], reversed_: dict[str, dict]) -> list[dict]:
    """Per department: the day's settlements, reversals and net (count and amounts)."""
    empty = {"count": 0, **dict.fromkeys(reports.DEPARTMENT_AMOUNTS, 0)}
    out = []
    for dept in sorted(settled.keys() | reversed_.keys()):
        s, r = settled.get(dept, empty), reversed_.get(dept, empty)
        out.append(
            {
                "dept_name": dept,
                "settlements": s,
                "reversals": r,
                "net": {key: s[key] - r[key] for key in s},
            }
        )
    return out


def _refusals(counts: dict[str, int]) -> list[dict]:
    """The day's audited refusals of the institution's requests by code, most frequent first."""
    return [
        {"code": code, "count": n}
        for code, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    ]


@dataclass(frozen=True)
class _Day:
    """What the day's queries found, per institution (a few grouped queries for them all)."""

    settled: dict[str, dict[str, int]]
    reversed_: dict[str, dict[str, int]]
    bills: dict[str, tuple[list[int], list[int]]]
    classes: dict[str, dict[str, int]]
    departments: tuple[dict[str, dict], dict[str, dict]]
    refusals: dict[str, dict[str, int]]


def _read_day(
    conn: Connection, day: date, tz: ZoneInfo, codes: list[str], only: str | None
) -> _Day:
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    return _Day(
        settled=reports.settled_on(conn, day, only),
        reversed_=reports.reversed_on(conn, day, only),
        bills=reports.standing_bills_settled_on(conn, day, only),
        classes=reports.classes_of_standing_settled_on(conn, day, only),
        departments=reports.departments_on(conn, day, only),
        refusals=reports.refusals_between(conn, start, end, only or codes),
    )


def _report(code: str, day: date, found: _Day) -> dict:
    empty = reports.empty_sums()
    settled, reversed_ = found.settled.get(code, empty), found.reversed_.get(code, empty)
    bills = found.bills.get(code)
    net = {key: settled[key] - reversed_[key] for key in settled}
    checks = {}
    for name, ok in _identities(settled).items():
        checks[name] = ok and _identities(reversed_)[name] and _identities(net)[name]
    # Bills still standing that were settled today must equal their fee lines, part by part.
    checks["fees_match_settlements"] = bills is None or bills[0] == bills[1]
    classes = found.classes.get(code, {})
    settled_by_dept, reversed_by_dept = found.departments
    return {
        "date": day.isoformat(),
        "institution": code,
        "settlements": settled,
        "reversals": reversed_,
        "net": net,
        "checks": checks,
        "balanced": all(checks.values()),
        "by_class": {letter: classes.get(letter, 0) for letter in ("A", "B", "C")},
        "by_department": _departments(
            settled_by_dept.get(code, {}), reversed_by_dept.get(code, {})
        ),
        "refusals": _refusals(found.refusals.get(code, {})),
    }


def _reports(
    conn: Connection, day: date, tz: ZoneInfo | None, codes: list[str], only: str | None
) -> list[dict]:
    """The reports of ``codes`` from six grouped queries whatever their number (on the
    indexes of (institution, day))."""
    found = _read_day(conn, day, tz or ZoneInfo(DEFAULT_TIMEZONE), codes, only)
    return [_report(code, day, found) for code in codes]


def daily_report(
    conn: Connection, institution_code: str, day: date, tz: ZoneInfo | None = None
) -> dict:
    """The institution's report of ``day`` (a calendar day in ``tz``, the business zone)."""
    return _reports(conn, day, tz, [institution_code], institution_code)[0]


def all_reports(conn: Connection, day: date, tz: ZoneInfo | None = None) -> dict:
    reports_ = _reports(conn, day, tz, reports.hospital_codes(conn), None)
    return {
        "date": day.isoformat(),
        "institutions": reports_,
        "balanced": all(r["balanced"] for r in reports_),
    }


def report_for(
    conn: Connection,
    principal: Principal,
    day: date,
    institution: str | None,
    tz: ZoneInfo | None = None,
) -> dict:
    """The daily report the caller may see: a hospital only its own (another institution's
    code answers ``404 not_found``); an admin one institution's, or every institution's."""
    if not principal.is_admin:
        if institution and institution != principal.institution_code:
            raise Problem(404, "not_found", f"institution {institution} not found")
        institution = principal.institution_code
    if institution:
        return daily_report(conn, institution, day, tz)
    return all_reports(conn, day, tz)


def _benefit_year_problems(conn: Connection, people) -> list[str]:
    """Each benefit year's ``ceiling_used`` = the fund payments of its standing settlements,
    ``settled_admissions`` = their count."""
    problems: list[str] = []
    standing = reports.standing_by_benefit_year(conn, people)
    for r in reports.benefit_years(conn, people):
        fund, n = standing.pop((r.psn_no, r.insutype, r.year), (0, 0))
        if (int(r.ceiling_used), r.settled_admissions) != (fund, n):
            problems.append(
                f"benefit year {r.psn_no}/{r.insutype}/{r.year}: ceiling_used {r.ceiling_used} "
                f"admissions {r.settled_admissions}, settlements say {fund} / {n}"
            )
    for key, (fund, n) in standing.items():
        problems.append(f"benefit year {key} missing for {n} settlements ({fund} fen)")
    return problems


def _account_problems(conn: Connection, people) -> list[str]:
    """Each personal account balance = the sum of its entries, and the entries of settlements /
    reversals = minus the standing settlements' ``acct_pay``."""
    problems: list[str] = []
    entries = reports.account_entry_totals(conn, people=people)
    acct_standing = reports.standing_account_payments(conn, people)
    moved = reports.account_entry_totals(conn, kinds=("settlement", "reversal"), people=people)
    for r in reports.account_balances(conn, people):
        if int(r.acct_balance) != entries.get(r.psn_no, 0):
            problems.append(
                f"account {r.psn_no}: balance {r.acct_balance} != entries {entries.get(r.psn_no, 0)}"
            )
        if moved.get(r.psn_no, 0) != -acct_standing.get(r.psn_no, 0):
            problems.append(
                f"account {r.psn_no}: settlement entries {moved.get(r.psn_no, 0)} != "
                f"-standing acct_pay {acct_standing.get(r.psn_no, 0)}"
            )
    return problems


def ledger_check(conn: Connection, day: date | None = None) -> dict:
    """Ledger invariants: ceiling use and account balances equal their settlements.

    - each benefit year's ``ceiling_used`` = sum of fund payments of its standing settlements,
      ``settled_admissions`` = their count;
    - each personal account balance = the sum of its account entries, and the entries of
      settlements / reversals equal the standing settlements' ``acct_pay``;
    - at most one standing settlement per admission.

    Over the whole database (``day`` None: every person, a read of the whole history), or over
    the people whose money a settlement or reversal of ``day`` moved (their whole ledger, so
    the time depends on the day's activity, not on the length of the history).
    """
    people = None if day is None else reports.people_of_day(conn, day)
    problems = _benefit_year_problems(conn, people) + _account_problems(conn, people)
    problems += [
        f"admission {m} has more than one standing settlement"
        for m in reports.doubly_settled(conn, people)
    ]
    totals = reports.standing_sums(conn, people)
    for name, ok in _identities(totals).items():
        if not ok:
            problems.append(f"identity {name} broken on the standing settlements")
    scope = "all" if day is None else f"people of {day.isoformat()}"
    return {"ok": not problems, "problems": problems, "standing": totals, "scope": scope}
