"""The daily report and the ledger check on a loaded history (issue #19): every hospital's
report in a few grouped queries equals the plain sums, and the day's ledger check covers
exactly the people the day's settlements and reversals touched."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
import sqlalchemy as sa

from benchmarks.history import load
from settlement import reconciliation
from settlement.migrate import upgrade
from settlement.store.db import create_engine_for_cli

SPLIT = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay", "inscp_scp_amt")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def history(request, tmp_path_factory):
    """The same small history on SQLite and PostgreSQL (the day ledger reads its people
    differently on each: a subquery, an array)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'history.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    loaded = load(url, stays=600, people=150)
    engine = create_engine_for_cli(url)
    with engine.connect() as conn:
        busiest = conn.execute(
            sa.text(
                "SELECT s.setl_date FROM settlement s JOIN reversal r ON r.setl_id = s.setl_id"
                " GROUP BY s.setl_date ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
    yield url, engine, loaded, date.fromisoformat(str(busiest))
    engine.dispose()


def test_all_reports_equal_the_plain_sums(history):
    _url, engine, loaded, day = history
    assert loaded["stays"] == 600 and loaded["fee_lines"] >= 600 * 5
    with engine.connect() as conn:
        report = reconciliation.all_reports(conn, day)
        plain = {
            row[0]: row[1:]
            for row in conn.execute(
                sa.text(
                    f"SELECT institution_code, count(*), {', '.join(f'sum({k})' for k in SPLIT)}"
                    " FROM settlement WHERE setl_date = :day GROUP BY institution_code"
                ),
                {"day": day.isoformat()},
            )
        }
        one = reconciliation.daily_report(conn, "HIST03", day)
    assert report["balanced"] and len(report["institutions"]) == 16
    for r in report["institutions"]:
        expected = plain.get(r["institution"], (0,) * (len(SPLIT) + 1))
        assert (r["settlements"]["count"], *(r["settlements"][k] for k in SPLIT)) == expected
    assert one == next(r for r in report["institutions"] if r["institution"] == "HIST03")
    assert sum(r["reversals"]["count"] for r in report["institutions"]) >= 1


def _psn_no(conn, day: date, touched: bool) -> str:
    query = (
        "SELECT psn_no FROM settlement WHERE setl_date = :day"
        if touched
        else "SELECT psn_no FROM person WHERE psn_no NOT IN"
        " (SELECT psn_no FROM settlement WHERE setl_date = :day)"
    )
    return conn.execute(sa.text(query + " LIMIT 1"), {"day": day.isoformat()}).scalar()


def test_the_day_ledger_checks_the_people_of_the_day(history):
    _url, engine, _loaded, day = history
    with engine.begin() as conn:
        assert reconciliation.ledger_check(conn)["ok"]
        day_ledger = reconciliation.ledger_check(conn, day)
        assert day_ledger["ok"] and day_ledger["scope"] == f"people of {day.isoformat()}"
        assert (
            0
            < day_ledger["standing"]["count"]
            < reconciliation.ledger_check(conn)["standing"]["count"]
        )
        inside, outside = _psn_no(conn, day, True), _psn_no(conn, day, False)
        assert inside and outside
        bump = sa.text("UPDATE person SET acct_balance = acct_balance + 1 WHERE psn_no = :p")
        conn.execute(bump, {"p": outside})
        assert reconciliation.ledger_check(conn, day)["ok"]  # not a person of the day
        whole = reconciliation.ledger_check(conn)
        assert not whole["ok"] and outside in whole["problems"][0]
        conn.execute(bump, {"p": inside})
        problems = reconciliation.ledger_check(conn, day)["problems"]
        assert len(problems) == 1 and inside in problems[0]
        conn.rollback()


def test_report_cli_day_ledger(history):
    url, _engine, _loaded, day = history
    done = subprocess.run(
        [sys.executable, "-m", "settlement", "report", "--json", "--day-ledger"]
        + ["--date", day.isoformat(), "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert answer["balanced"] and answer["ledger"]["ok"]
    assert answer["ledger"]["scope"] == f"people of {day.isoformat()}"


@pytest.mark.postgres
def test_postgresql_knows_a_stay_has_many_fee_lines(fresh_postgres_url):
    """Migration 0185: the planner's distinct-stay estimate of ``fee_line.mdtrt_id`` is declared
    (one stay per 20 lines); sampled, it came out 8x too low on a loaded history, and the
    report's fee-line joins were planned as whole-table parallel scans with JIT."""
    engine = create_engine_for_cli(fresh_postgres_url)
    try:
        upgrade(fresh_postgres_url)
        with engine.connect() as conn:
            options = conn.exec_driver_sql(
                "SELECT attoptions FROM pg_attribute"
                " WHERE attrelid = 'fee_line'::regclass AND attname = 'mdtrt_id'"
            ).scalar()
    finally:
        engine.dispose()
    assert options == ["n_distinct=-0.05"]
