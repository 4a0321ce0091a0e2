"""Fees (2301), pre-settlement (2303), settlement (2304), reversal (2305) and the daily report."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa

from settlement.store.db import create_engine_for_cli
from tests.settlement.conftest import CHINA, code_of, idem, today, uid

SPLIT = (
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


def _stay(world, desk=None, **person):
    desk = desk or world.terminal()
    psn_no, card = world.insured(**person)
    admission = world.admit(desk, psn_no, card, insutype=person.get("insutype", "310"))
    return desk, psn_no, card, admission["mdtrt_id"]


def test_employee_level3_split_with_account(world):
    desk, psn_no, card, mdtrt_id = _stay(world, acct_balance=100000)
    world.fees(desk, mdtrt_id, [("A", 4, 125000), ("B", 1, 100000), ("C", 2, 25000)])
    pre = desk.post(
        f"/v1/admissions/{mdtrt_id}/pre-settlement", json={"acct_used_flag": True}
    ).json()
    settled = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    expected = {
        "medfee_sumamt": 650000,
        "fulamt_ownpay_amt": 50000,
        "preselfpay_amt": 10000,
        "inscp_scp_amt": 590000,
        "act_pay_dedc": 80000,
        "fund_pay_sumamt": 408000,
        "psn_part_amt": 242000,
        "acct_pay": 100000,
        "psn_cash_pay": 142000,
    }
    assert {k: settled[k] for k in SPLIT} == expected
    assert {k: pre[k] for k in SPLIT} == expected
    assert settled["balc"] == 0 and settled["policy_version"] == "2026.1"
    assert world.person_info(psn_no)["acct_balance"] == 0


def test_pre_settlement_writes_nothing(world):
    desk, psn_no, _card, mdtrt_id = _stay(world, acct_balance=5000)
    world.fees(desk, mdtrt_id, [("A", 1, 300000)])
    for _ in range(2):
        assert (
            desk.post(
                f"/v1/admissions/{mdtrt_id}/pre-settlement", json={"acct_used_flag": True}
            ).status_code
            == 200
        )
    view = desk.get(f"/v1/admissions/{mdtrt_id}").json()
    assert view["status"] == "admitted" and view["settlement"] is None
    assert world.person_info(psn_no)["acct_balance"] == 5000


def test_account_not_used_without_consent_or_for_residents(world):
    desk, _psn_no, card, mdtrt_id = _stay(world, acct_balance=50000)
    world.fees(desk, mdtrt_id, [("A", 1, 300000)])
    settled = world.settle(desk, mdtrt_id, card, acct_used_flag=False)
    assert settled["acct_pay"] == 0 and settled["psn_cash_pay"] == settled["psn_part_amt"]
    desk, _psn_no, card, mdtrt_id = _stay(world, insutype="390", acct_balance=50000)
    world.fees(desk, mdtrt_id, [("A", 1, 300000)])
    settled = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    assert settled["acct_pay"] == 0
    # resident, level 3: deductible 80 000, ratio 60 %
    assert settled["fund_pay_sumamt"] == (300000 - 80000) * 60 // 100


def test_level1_hospital_and_second_admission_half_deductible(world):
    desk = world.terminal(hospital_level=1)
    psn_no, card = world.insured()
    first = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, first, [("A", 1, 100000)])
    one = world.settle(desk, first, card)
    assert one["act_pay_dedc"] == 20000 and one["fund_pay_sumamt"] == (100000 - 20000) * 90 // 100
    second = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, second, [("A", 1, 100000)])
    two = world.settle(desk, second, card)
    assert two["act_pay_dedc"] == 10000 and two["fund_pay_sumamt"] == (100000 - 10000) * 90 // 100


def test_ceiling_exhaustion_and_reversal_restores_it(world):
    desk, psn_no, card, big = _stay(world)
    world.fees(desk, big, [("A", 1, 40_000_000)])
    first = world.settle(desk, big, card)
    assert first["fund_pay_sumamt"] == 30_000_000  # capped by the 300 000 yuan ceiling
    second = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, second, [("A", 1, 500000)])
    pre = desk.post(f"/v1/admissions/{second}/pre-settlement", json={}).json()
    assert pre["fund_pay_sumamt"] == 0 and pre["psn_part_amt"] == 500000
    # reversing the first stay gives the ceiling back exactly
    answer = desk.post(
        f"/v1/settlements/{first['setl_id']}/reversal", json={"reason": "error"}, headers=idem()
    )
    assert answer.status_code == 201, answer.text
    pre = desk.post(f"/v1/admissions/{second}/pre-settlement", json={}).json()
    assert pre["act_pay_dedc"] == 80000  # the reversed stay no longer counts as a prior admission
    assert pre["fund_pay_sumamt"] == (500000 - 80000) * 80 // 100


def test_zero_bill_and_refunds(world):
    desk, _psn_no, card, mdtrt_id = _stay(world)
    settled = world.settle(desk, mdtrt_id, card)
    assert all(settled[k] == 0 for k in SPLIT)
    desk, _psn_no, card, mdtrt_id = _stay(world)
    body = {
        "feedetail": [
            {"feedetl_sn": "1", "med_list_codg": "DRUG", "list_type": "B", "cnt": 3, "pric": 10000}
        ]
    }
    assert (
        desk.post(f"/v1/admissions/{mdtrt_id}/fees", json=body, headers=idem()).status_code == 200
    )
    refund = {
        "feedetl_sn": "2",
        "med_list_codg": "DRUG",
        "list_type": "B",
        "cnt": -1,
        "pric": 10000,
        "init_feedetl_sn": "1",
    }
    answer = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees", json={"feedetail": [refund]}, headers=idem()
    )
    assert answer.json()["medfee_sumamt"] == 20000
    too_much = {**refund, "feedetl_sn": "3", "cnt": -3}
    answer = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees", json={"feedetail": [too_much]}, headers=idem()
    )
    assert answer.status_code == 422 and code_of(answer) == "refund_invalid"
    orphan = {**refund, "feedetl_sn": "4", "init_feedetl_sn": None}
    answer = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees", json={"feedetail": [orphan]}, headers=idem()
    )
    assert code_of(answer) == "refund_invalid"
    other_price = {**refund, "feedetl_sn": "5", "pric": 9000}
    assert (
        code_of(
            desk.post(
                f"/v1/admissions/{mdtrt_id}/fees", json={"feedetail": [other_price]}, headers=idem()
            )
        )
        == "refund_invalid"
    )
    settled = world.settle(desk, mdtrt_id, card)
    assert settled["medfee_sumamt"] == 20000 and settled["preselfpay_amt"] == 2000


def test_fee_lines_idempotent_per_serial(world):
    desk, _psn_no, _card, mdtrt_id = _stay(world)
    line = {"feedetl_sn": "L1", "med_list_codg": "X", "list_type": "A", "cnt": 2, "pric": 500}
    first = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees", json={"feedetail": [line]}, headers=idem()
    ).json()
    again = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees",
        json={"feedetail": [line, {**line, "feedetl_sn": "L2"}]},
        headers=idem(),
    ).json()
    assert (
        first["accepted"] == ["L1"]
        and again["duplicates"] == ["L1"]
        and again["accepted"] == ["L2"]
    )
    assert again["medfee_sumamt"] == 2000 and again["fee_count"] == 2
    changed = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees", json={"feedetail": [{**line, "cnt": 3}]}, headers=idem()
    )
    assert changed.status_code == 409 and code_of(changed) == "fee_line_conflict"


def test_one_settlement_per_admission_and_resettle_after_reversal(world):
    desk, psn_no, card, mdtrt_id = _stay(world, acct_balance=30000)
    world.fees(desk, mdtrt_id, [("A", 1, 200000)])
    first = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    again = world.settle(desk, mdtrt_id, card, expect=409)
    assert again["code"] == "already_settled"
    fees_after = world.fees(desk, mdtrt_id, [("A", 1, 100)], expect=409)
    assert fees_after["code"] == "already_settled"
    reversal = desk.post(
        f"/v1/settlements/{first['setl_id']}/reversal", json={}, headers=idem()
    ).json()
    assert reversal["balc"] == 30000 and reversal["acct_pay"] == 30000
    twice = desk.post(f"/v1/settlements/{first['setl_id']}/reversal", json={}, headers=idem())
    assert twice.status_code == 409 and code_of(twice) == "already_reversed"
    world.fees(desk, mdtrt_id, [("C", 1, 1000)])
    second = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    assert second["setl_id"] != first["setl_id"] and second["medfee_sumamt"] == 201000
    assert world.person_info(psn_no)["acct_balance"] == 30000 - second["acct_pay"]
    view = desk.get(f"/v1/admissions/{mdtrt_id}").json()
    assert view["settlement"]["setl_id"] == second["setl_id"]


def test_not_covered_refusals(world):
    desk = world.terminal()
    unpaid, card = world.insured(paid=False)
    answer = desk.post(
        "/v1/admissions",
        json={"psn_no": unpaid, "insutype": "310", "proof": world.proof(desk, card, "admission")},
        headers=idem(),
    )
    assert answer.status_code == 403 and code_of(answer) == "not_covered"
    other_scheme, card = world.insured(insutype="390")
    answer = desk.post(
        "/v1/admissions",
        json={
            "psn_no": other_scheme,
            "insutype": "310",
            "proof": world.proof(desk, card, "admission"),
        },
        headers=idem(),
    )
    assert code_of(answer) == "not_covered"
    # covered on the admission date is what counts (a stay begun within the back-dating window)
    psn_no, card = world.insured(covered=False)
    world.admin.post(  # a paid period: the admin's migration (docs/api.md §Contributions)
        "/v1/admin/coverage-migrations",
        json={
            "psn_no": psn_no,
            "insutype": "310",
            "begndate": (today() - timedelta(days=400)).isoformat(),
            "enddate": (today() - timedelta(days=10)).isoformat(),
            "reason": "employer register",
        },
        headers=idem(),
    ).raise_for_status()
    answer = desk.post(
        "/v1/admissions",
        json={"psn_no": psn_no, "insutype": "310", "proof": world.proof(desk, card, "admission")},
        headers=idem(),
    )
    assert code_of(answer) == "not_covered"
    begntime = f"{(today() - timedelta(days=12)).isoformat()}T08:00:00+08:00"
    answer = desk.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "310",
            "begntime": begntime,
            "proof": world.proof(desk, card, "admission"),
        },
        headers=idem(),
    )
    assert answer.status_code == 201, answer.text


def test_resident_enrolment_window(world):
    psn_no = world.person(covered=False)
    ok = world.centre.post(
        f"/v1/people/{psn_no}/resident-enrolment", json={"applied_on": "2026-03-24"}, headers=idem()
    )
    assert (
        ok.status_code == 201
        and ok.json()["begndate"] == "2026-04-01"
        and ok.json()["enddate"] == "2026-06-30"
    )
    late = world.centre.post(
        f"/v1/people/{psn_no}/resident-enrolment", json={"applied_on": "2026-03-25"}, headers=idem()
    )
    assert late.status_code == 422 and code_of(late) == "enrolment_refused"
    # Admissions are dated within the back-dating window: enrol someone whose cover began on
    # the 1st of this month (applied on the 10th of last month).
    recent = world.person(covered=False)
    first = today().replace(day=1)
    applied = (first - timedelta(days=1)).replace(day=10)
    ok = world.centre.post(
        f"/v1/people/{recent}/resident-enrolment",
        json={"applied_on": applied.isoformat()},
        headers=idem(),
    )
    assert ok.status_code == 201 and ok.json()["begndate"] == first.isoformat(), ok.text
    assert ok.json()["paid"] is False  # enrolled, not paid: only a payment (or migration) pays
    paid = world.admin.post(
        "/v1/admin/coverage-migrations",
        json={
            "psn_no": recent,
            "insutype": "390",
            "begndate": first.isoformat(),
            "enddate": ok.json()["enddate"],
            "reason": "paid at the counter before this service",
        },
        headers=idem(),
    )
    assert paid.status_code == 201, paid.text
    desk = world.terminal()
    card = world.card(recent)
    before_time = datetime.combine(first - timedelta(days=1), time(23, 0), CHINA)
    if before_time > datetime.now(CHINA) - timedelta(days=29):  # within the window (not on a 31st)
        before = desk.post(
            "/v1/admissions",
            json={
                "psn_no": recent,
                "insutype": "390",
                "begntime": before_time.isoformat(),
                "proof": world.proof(desk, card, "admission"),
            },
            headers=idem(),
        )
        assert code_of(before) == "not_covered"
    inside = desk.post(
        "/v1/admissions",
        json={
            "psn_no": recent,
            "insutype": "390",
            "begntime": f"{first.isoformat()}T00:00:01+08:00",
            "proof": world.proof(desk, card, "admission"),
        },
        headers=idem(),
    )
    assert inside.status_code == 201, inside.text


def test_daily_report_adds_up(world, api):
    desk = world.terminal()
    totals = {k: 0 for k in SPLIT}
    for n in range(3):
        psn_no, card = world.insured(acct_balance=20000)
        mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
        world.fees(desk, mdtrt_id, [("A", 1, 150000 + n), ("B", 2, 3333), ("C", 1, 777)])
        settled = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
        if n == 0:
            desk.post(f"/v1/settlements/{settled['setl_id']}/reversal", json={}, headers=idem())
        else:
            for k in SPLIT:
                totals[k] += settled[k]
    report = desk.get("/v1/reports/daily", params={"date": today().isoformat()}).json()
    assert report["balanced"] and all(report["checks"].values())
    assert report["settlements"]["count"] == 3 and report["reversals"]["count"] == 1
    assert report["net"]["count"] == 2
    assert {k: report["net"][k] for k in SPLIT} == totals
    cli = api.cli(
        "report",
        "--date",
        today().isoformat(),
        "--institution",
        desk.institution,
        "--json",
        "--ledger",
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert '"balanced": true' in cli.stdout and '"ok": true' in cli.stdout


def test_settlement_identities_hold_in_the_database(world, api):
    desk, _psn_no, card, mdtrt_id = _stay(world, acct_balance=1000)
    world.fees(desk, mdtrt_id, [("A", 3, 33333), ("B", 7, 1111), ("C", 1, 99)])
    world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    engine = create_engine_for_cli(api.database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM settlement")).mappings().all()
    engine.dispose()
    assert rows
    for r in rows:
        assert r["fund_pay_sumamt"] + r["psn_part_amt"] == r["medfee_sumamt"]
        assert r["acct_pay"] + r["psn_cash_pay"] == r["psn_part_amt"]
        self_paid = r["fulamt_ownpay_amt"] + r["overlmt_selfpay"] + r["preselfpay_amt"]
        assert r["medfee_sumamt"] - self_paid == r["inscp_scp_amt"]  # settlement.md, issue 14


def test_unknown_ids_are_not_found(world):
    desk = world.terminal()
    assert code_of(desk.get(f"/v1/admissions/{uid('M')}")) == "not_found"
    assert (
        code_of(desk.post(f"/v1/settlements/{uid('S')}/reversal", json={}, headers=idem()))
        == "not_found"
    )
