"""Enrolment and contribution payment in the service core, on chosen days (issue 20,
docs/api.md §Contributions): states, orders, confirmation, never paid twice, correction,
reconciliation, admin migration, and the paid coverage settlement relies on."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from settlement import contributions as core
from settlement.migrate import upgrade
from settlement.people import register_person
from settlement.problems import Problem
from settlement.rules.contributions import load_rates
from settlement.rules.coverage import is_covered
from settlement.rules.working_days import HolidayCalendar
from settlement.schemas import (
    EnrolmentCorrectionIn,
    EnrolmentRecordIn,
    MigratedPaymentIn,
    PaymentConfirmationIn,
    PaymentOrderIn,
    PersonIn,
)
from settlement.service import Principal
from settlement.store import people
from settlement.store.db import Database

ADMIN = Principal("k_admin", "admin", None, None)
CENTRE = Principal("k_centre", "card_centre", "CC1", "CC1-T1")
WECHAT = Principal("k_wx", "payment_channel", "PCWX", "PCWX-T1")
ALIPAY = Principal("k_ali", "payment_channel", "PCALI", "PCALI-T1")
HOSPITAL = Principal("k_h", "hospital", "H1", "H1-T1", hospital_level=3)
CAL = HolidayCalendar()
NOW = datetime(2026, 6, 15, 2, tzinfo=UTC)
_n = itertools.count(1)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('contrib') / 'db.sqlite'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def person(db) -> str:
    psn_no = f"P{next(_n):06d}"
    body = PersonIn(psn_no=psn_no, psn_name="李四", brdy=date(1970, 1, 1), certno=psn_no)
    with db.write() as conn:
        register_person(conn, ADMIN, body, NOW)
    return psn_no


def enter(db, psn_no, today, category="resident", applied_on=None):
    body = EnrolmentRecordIn(psn_no=psn_no, category=category, applied_on=applied_on)
    with db.write() as conn:
        return core.enter_enrolment(
            conn, CENTRE, body, NOW, today=today, calendar=CAL, delay_days=3
        )


def order(db, psn_no, today, year=2026, channel=WECHAT, cid=None, now=NOW):
    body = PaymentOrderIn(channel_order_id=cid or f"C{next(_n)}", psn_no=psn_no, year=year)
    with db.write() as conn:
        return core.create_order(
            conn, channel, body, now, today=today, delay_days=3, order_no=f"PO{next(_n)}"
        )


def confirm(db, order_no, txn, amount, today=date(2026, 6, 15), channel=WECHAT, now=NOW):
    body = PaymentConfirmationIn(channel_txn_id=txn, amount_fen=amount)
    with db.write() as conn:
        return core.confirm_order(conn, channel, order_no, body, now, today=today)


def state(db, psn_no, on, year=None):
    with db.read() as conn:
        return core.status(conn, psn_no, on, year, delay_days=3)


def refused(call) -> Problem:
    with pytest.raises(Problem) as problem:
        call()
    return problem.value


def test_lifecycle_entered_payable_paid_covered(db):
    psn = person(db)
    assert state(db, psn, date(2026, 6, 10))["state"] == "not_enrolled"
    record = enter(db, psn, date(2026, 6, 10))
    assert record["coverage_start"] == "2026-07-01"
    assert record["payable_from"] == "2026-06-13"
    assert record["correctable_until"] == "2026-06-17"
    assert state(db, psn, date(2026, 6, 12), 2026)["state"] == "processing"
    assert state(db, psn, date(2026, 6, 13), 2026)["state"] == "payable"
    assert refused(lambda: order(db, psn, date(2026, 6, 12))).code == "enrolment_processing"
    status, made = order(db, psn, date(2026, 6, 15))
    assert status == 201 and made["status"] == "pending"
    assert made["amount_fen"] == load_rates().amount("resident", 2026).total_fen
    done = confirm(db, made["order_no"], "WX1", made["amount_fen"])
    assert done["status"] == "confirmed" and done["confirmed_on"] == "2026-06-15"
    assert state(db, psn, date(2026, 6, 20), 2026)["state"] == "paid"
    assert state(db, psn, date(2026, 7, 1))["state"] == "covered"
    with db.read() as conn:
        periods = people.coverage_periods(conn, psn)
    assert is_covered(periods, "390", date(2026, 7, 1))
    assert is_covered(periods, "390", date(2027, 6, 30))
    assert not is_covered(periods, "390", date(2027, 7, 1))
    assert not is_covered(periods, "390", date(2026, 6, 30))


def test_never_paid_twice_and_idempotent(db):
    psn = person(db)
    enter(db, psn, date(2026, 6, 1))
    day = date(2026, 6, 15)
    status, first = order(db, psn, day, cid="WX-A")
    assert status == 201
    again_status, again = order(db, psn, day, cid="WX-A")
    assert (again_status, again["order_no"]) == (200, first["order_no"])
    other = person(db)
    enter(db, other, date(2026, 6, 1))
    assert refused(lambda: order(db, other, day, cid="WX-A")).code == "order_id_reused"
    _, twin = order(db, psn, day, channel=ALIPAY)  # the person also started paying elsewhere
    amount = first["amount_fen"]
    assert refused(lambda: confirm(db, first["order_no"], "T1", amount + 1)).code == (
        "amount_mismatch"
    )
    confirm(db, first["order_no"], "T1", amount)
    assert confirm(db, first["order_no"], "T1", amount)["status"] == "confirmed"
    assert refused(lambda: confirm(db, first["order_no"], "T2", amount)).code == (
        "order_already_confirmed"
    )
    problem = refused(lambda: confirm(db, twin["order_no"], "A1", amount, channel=ALIPAY))
    assert problem.code == "already_paid"
    assert refused(lambda: order(db, psn, day)).code == "already_paid"
    with db.read() as conn:
        paid = [p for p in people.coverage_periods(conn, psn) if p.paid]
    assert len(paid) == 1


def test_refusals(db):
    psn = person(db)
    assert refused(lambda: order(db, psn, date(2026, 6, 15))).code == "not_enrolled"
    assert refused(lambda: order(db, "NOBODY", date(2026, 6, 15))).code == "not_found"
    enter(db, psn, date(2026, 6, 1))
    assert refused(lambda: order(db, psn, date(2026, 7, 1))).code == "outside_payment_window"
    assert refused(lambda: order(db, psn, date(2026, 6, 15), 2027)).code == (
        "outside_payment_window"
    )
    assert refused(lambda: order(db, psn, date(2026, 6, 15), channel=HOSPITAL)).code == (
        "not_entitled"
    )
    _, made = order(db, psn, date(2026, 6, 15))
    with db.read() as conn:
        assert refused(lambda: core.get_order(conn, ALIPAY, made["order_no"])).code == "not_found"
        assert core.get_order(conn, ADMIN, made["order_no"])["psn_no"] == psn
    assert refused(lambda: enter(db, psn, date(2026, 6, 2))).code == "already_enrolled"
    late = person(db)
    assert refused(lambda: enter(db, late, date(2026, 6, 26))).code == "enrolment_refused"


def test_flexible_worker_pays_medical_and_pension(db):
    psn = person(db)
    enter(db, psn, date(2026, 6, 2), category="flexible_worker")
    _, made = order(db, psn, date(2026, 6, 15))
    rates = load_rates().amount("flexible_worker", 2026)
    assert (made["medical_fen"], made["pension_fen"]) == (rates.medical_fen, rates.pension_fen)
    assert made["amount_fen"] == rates.medical_fen + rates.pension_fen
    confirm(db, made["order_no"], "F1", made["amount_fen"])
    with db.read() as conn:
        assert is_covered(people.coverage_periods(conn, psn), "310", date(2026, 8, 1))


def test_mid_year_enrolment_pays_its_first_year(db):
    psn = person(db)
    enter(db, psn, date(2026, 11, 10))  # coverage from 1 December
    _, made = order(db, psn, date(2026, 11, 13))
    confirm(db, made["order_no"], "M1", made["amount_fen"], today=date(2026, 11, 13))
    assert state(db, psn, date(2026, 12, 1))["covered_from"] == "2026-12-01"


def test_correction_window(db):
    psn = person(db)
    enter(db, psn, date(2026, 6, 5))  # Friday; correctable until Friday 12 June
    fix = EnrolmentCorrectionIn(category="flexible_worker", applied_on=date(2026, 6, 4))

    def correct(today):
        with db.write() as conn:
            return core.correct_enrolment(
                conn, CENTRE, psn, fix, NOW, today=today, calendar=CAL, delay_days=3
            )

    assert correct(date(2026, 6, 12))["category"] == "flexible_worker"
    assert refused(lambda: correct(date(2026, 6, 13))).code == "correction_window_closed"
    paid = person(db)
    enter(db, paid, date(2026, 6, 10))
    _, made = order(db, paid, date(2026, 6, 15))
    confirm(db, made["order_no"], "C1", made["amount_fen"])
    with db.write() as conn:
        problem = refused(
            lambda: core.correct_enrolment(
                conn, CENTRE, paid, fix, NOW, today=date(2026, 6, 15), calendar=CAL, delay_days=3
            )
        )
    assert problem.code == "already_paid"


def test_reconciliation_balances(db):
    day = date(2026, 6, 20)
    total = 0
    for n in range(3):
        psn = person(db)
        enter(db, psn, date(2026, 6, 1))
        _, made = order(db, psn, day, channel=ALIPAY)
        confirm(db, made["order_no"], f"R{n}", made["amount_fen"], today=day, channel=ALIPAY)
        total += made["amount_fen"]
    with db.read() as conn:
        ours = core.reconciliation(
            conn, ALIPAY, "PCALI", day, count=3, amount_fen=total, detail=True
        )
        off = core.reconciliation(
            conn, ADMIN, "PCALI", day, count=4, amount_fen=total, detail=False
        )
        other = refused(
            lambda: core.reconciliation(
                conn, WECHAT, "PCALI", day, count=None, amount_fen=None, detail=False
            )
        )
    assert (ours["count"], ours["amount_fen"], ours["balanced"]) == (3, total, True)
    assert ours["internal_balanced"] and len(ours["orders"]) == 3
    assert (off["balanced"], off["count_difference"]) == (False, 1)
    assert other.code == "not_found"


def test_admin_migration(db):
    psn = person(db)
    enter(db, psn, date(2025, 6, 2))
    body = MigratedPaymentIn(psn_no=psn, year=2025, amount_fen=38_000, reason="legacy system")
    with db.write() as conn:
        assert refused(lambda: core.record_migrated_payment(conn, CENTRE, body, NOW)).code == (
            "not_entitled"
        )
    with db.write() as conn:
        answer = core.record_migrated_payment(conn, ADMIN, body, NOW)
    assert answer["covered_from"] == "2025-07-01"
    with db.write() as conn:
        assert refused(lambda: core.record_migrated_payment(conn, ADMIN, body, NOW)).code == (
            "already_paid"
        )
    assert state(db, psn, date(2025, 8, 1))["state"] == "covered"


def test_1101_answers_the_insured_state(db):
    from settlement.people import person_info

    psn = person(db)
    with db.read() as conn:
        assert "contribution" not in person_info(conn, psn, date(2026, 6, 11), privileged=False)
    enter(db, psn, date(2026, 6, 10))
    with db.read() as conn:
        info = person_info(conn, psn, date(2026, 6, 11), privileged=False)
    assert info["contribution"]["state"] == "processing"
    assert info["contribution"]["year"] == 2026  # the enrolment's first year
    _, made = order(db, psn, date(2026, 6, 15))
    confirm(db, made["order_no"], "I1", made["amount_fen"])
    with db.read() as conn:
        info = person_info(conn, psn, date(2026, 7, 2), privileged=False)
    assert info["contribution"]["state"] == "covered"
    assert [p["covered"] for p in info["insuinfo"] if p["insutype"] == "390"] == [True]


def test_paid_coverage_only_from_payments_or_the_admins_migration(db):
    """Issue 20: the paid flag is set only by a confirmed payment or by the admin for
    migration. The coverage route records unpaid periods for everyone (the admin's own
    paid periods go through the migration now); the migration is admin-only, audited as
    coverage.migrate with its reason, never overlaps a paid period, and sends an enrolled
    person's insurance year to the contribution migration."""
    import json

    from settlement.people import add_coverage, migrate_coverage
    from settlement.schemas import CoverageIn, CoverageMigrationIn
    from settlement.store import audit

    psn = person(db)
    enter(db, psn, date(2026, 6, 10))
    paid = CoverageIn(
        insutype="390", begndate=date(2026, 7, 1), enddate=date(2027, 6, 30), paid=True
    )
    employee = person(db)  # no enrolment record: the employer pays
    for who, principal in ((psn, CENTRE), (psn, ADMIN), (employee, CENTRE), (employee, ADMIN)):
        with db.write() as conn:
            problem = refused(lambda: add_coverage(conn, principal, who, paid, NOW))  # noqa: B023
        assert (problem.status, problem.code) == (409, "paid_by_payment_only")
    unpaid = CoverageIn(insutype="390", begndate=date(2026, 7, 1))
    with db.write() as conn:
        assert add_coverage(conn, CENTRE, psn, unpaid, NOW)["paid"] is False
    with db.read() as conn:
        assert not is_covered(people.coverage_periods(conn, psn), "390", date(2026, 8, 1))

    moved = CoverageMigrationIn(
        psn_no=employee, insutype="310", begndate=date(2020, 1, 1), reason="employer register"
    )
    with db.write() as conn:
        assert refused(lambda: migrate_coverage(conn, CENTRE, moved, NOW)).code == "not_entitled"
    with db.write() as conn:
        answer = migrate_coverage(conn, ADMIN, moved, NOW)
    assert (answer["paid"], answer["source"], answer["enddate"]) == (True, "migration", None)
    with db.read() as conn:
        assert is_covered(people.coverage_periods(conn, employee), "310", date(2026, 8, 1))
        entry = audit.last_accepted(conn, employee, "coverage.migrate")
    detail = json.loads(entry.detail) if isinstance(entry.detail, str) else entry.detail
    assert detail["migration"] is True and detail["reason"] == "employer register"
    overlapping = moved.model_copy(update={"begndate": date(2025, 1, 1)})
    with db.write() as conn:
        assert refused(lambda: migrate_coverage(conn, ADMIN, overlapping, NOW)).code == (
            "already_covered"
        )
    enrolled = CoverageMigrationIn(
        psn_no=psn, insutype="390", begndate=date(2026, 7, 1), reason="legacy"
    )
    with db.write() as conn:
        assert refused(lambda: migrate_coverage(conn, ADMIN, enrolled, NOW)).code == (
            "migrate_contribution_year"
        )
    nobody = moved.model_copy(update={"psn_no": "NOBODY"})
    with db.write() as conn:
        assert refused(lambda: migrate_coverage(conn, ADMIN, nobody, NOW)).code == (
            "person_unknown"
        )


def test_pending_orders_expire(db):
    """A pending order lives 30 minutes (SSCARD_PAYMENT_ORDER_TTL): afterwards its callback is
    refused order_expired, nothing is paid, a new order pays; the reconciliation counts the
    expired order apart and never as paid."""
    psn = person(db)
    enter(db, psn, date(2026, 6, 1))
    day = date(2026, 6, 16)
    created = datetime(2026, 6, 16, 2, tzinfo=UTC)
    _, stale = order(db, psn, day, channel=ALIPAY, cid="EXP-1", now=created)
    assert stale["status"] == "pending"
    assert stale["expires_at"] == "2026-06-16T02:30:00+00:00"
    late = created + timedelta(minutes=30)
    problem = refused(
        lambda: confirm(db, stale["order_no"], "X1", stale["amount_fen"], day, ALIPAY, late)
    )
    assert (problem.status, problem.code) == (409, "order_expired")
    with db.read() as conn:
        assert core.get_order(conn, ALIPAY, stale["order_no"], late)["status"] == "expired"
        assert core.get_order(conn, ALIPAY, stale["order_no"], created)["status"] == "pending"
        assert not [p for p in people.coverage_periods(conn, psn) if p.paid]
    assert state(db, psn, day, 2026)["state"] == "payable"
    again, same = order(db, psn, day, channel=ALIPAY, cid="EXP-1", now=late)
    assert (again, same["order_no"], same["status"]) == (200, stale["order_no"], "expired")
    status, fresh = order(db, psn, day, channel=ALIPAY, cid="EXP-2", now=late)
    assert status == 201 and fresh["status"] == "pending"
    done = confirm(db, fresh["order_no"], "X2", fresh["amount_fen"], day, ALIPAY, late)
    assert done["status"] == "confirmed"
    with db.read() as conn:
        recon = core.reconciliation(
            conn,
            ALIPAY,
            "PCALI",
            day,
            count=1,
            amount_fen=fresh["amount_fen"],
            detail=False,
            now=late,
        )
    assert recon["balanced"] and recon["internal_balanced"]
    assert recon["created"] == {"confirmed": 1, "pending": 0, "expired": 1}
