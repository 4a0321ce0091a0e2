"""Defects found by the audit of issue 5 (each test reproduces one through HTTP)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from settlement.store.db import create_engine_for_cli
from tests.settlement.conftest import CHINA, code_of, idem, today, uid


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# --- 1. admission and discharge times bounded -------------------------------------------


def test_admission_time_window(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    now = datetime.now(CHINA)
    for begntime in (
        "2021-03-01T10:00:00+08:00",
        "2031-03-01T10:00:00+08:00",
        _iso(now - timedelta(days=31)),
        _iso(now + timedelta(hours=1)),
    ):
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
        assert answer.status_code == 422 and code_of(answer) == "admission_time_invalid", (
            begntime,
            answer.text,
        )
    ok = world.admit(desk, psn_no, card, begntime=_iso(now - timedelta(days=20)))
    assert ok["adm_date"] == (now - timedelta(days=20)).date().isoformat()


def test_child_exemption_cannot_be_backdated(world):
    """A 7-year-old cannot pass as a 2-year-old by dating the admission in the past."""
    desk = world.terminal()
    birth = today().replace(year=today().year - 7) - timedelta(days=30)
    psn_no = world.person(insutype="390", brdy=birth.isoformat(), household_register_no="HK77")
    answer = desk.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "390",
            "begntime": "2021-01-10T09:00:00+08:00",
            "exemption": {"kind": "child_under_7", "household_register_no": "HK77"},
        },
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "admission_time_invalid", answer.text


def test_discharge_time_bounded(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    begntime = datetime.now(CHINA) - timedelta(days=2)
    mdtrt_id = world.admit(desk, psn_no, card, begntime=_iso(begntime))["mdtrt_id"]
    world.fees(desk, mdtrt_id, [("A", 1, 100000)])
    for endtime in (
        _iso(begntime - timedelta(hours=1)),
        _iso(datetime.now(CHINA) + timedelta(days=1)),
    ):
        refused = world.settle(desk, mdtrt_id, card, endtime=endtime, expect=422)
        assert refused["code"] == "discharge_time_invalid", endtime
    settled = world.settle(desk, mdtrt_id, card, endtime=_iso(begntime + timedelta(days=1)))
    assert settled["status"] == "settled"


# --- 7. times with an offset stored in UTC ----------------------------------------------


def test_times_with_offset_round_trip_in_utc(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    local = (datetime.now(CHINA) - timedelta(days=1)).replace(microsecond=0)
    mdtrt_id = world.admit(desk, psn_no, card, begntime=local.isoformat())["mdtrt_id"]
    world.fees(desk, mdtrt_id, [("A", 1, 1000)])
    end_local = local + timedelta(hours=5)
    world.settle(desk, mdtrt_id, card, endtime=end_local.isoformat())
    view = desk.get(f"/v1/admissions/{mdtrt_id}").json()
    assert datetime.fromisoformat(view["begntime"]) == local
    assert datetime.fromisoformat(view["endtime"]) == end_local
    assert view["begntime"].endswith("+00:00")


# --- 6. second-admission half deductible decided by admission order ----------------------


def test_second_admission_half_deductible_after_reversal_and_resettle(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    now = datetime.now(CHINA)
    first = world.admit(desk, psn_no, card, begntime=_iso(now - timedelta(days=5)))["mdtrt_id"]
    world.fees(desk, first, [("A", 1, 300000)])
    one = world.settle(desk, first, card, endtime=_iso(now - timedelta(days=4)))
    assert one["act_pay_dedc"] == 80000
    second = world.admit(desk, psn_no, card, begntime=_iso(now - timedelta(days=2)))["mdtrt_id"]
    world.fees(desk, second, [("A", 1, 300000)])
    two = world.settle(desk, second, card)
    assert two["act_pay_dedc"] == 40000
    # reverse the first stay and settle it again: it is still the first of the year
    reversed_ = desk.post(
        f"/v1/settlements/{one['setl_id']}/reversal", json={"reason": "correction"}, headers=idem()
    )
    assert reversed_.status_code == 201, reversed_.text
    again = world.settle(desk, first, card)
    assert again["act_pay_dedc"] == 80000
    # a third stay is a later one: half
    third = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, third, [("A", 1, 300000)])
    assert world.settle(desk, third, card)["act_pay_dedc"] == 40000


def test_reversed_only_first_admission_does_not_halve_the_next(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    now = datetime.now(CHINA)
    first = world.admit(desk, psn_no, card, begntime=_iso(now - timedelta(days=5)))["mdtrt_id"]
    world.fees(desk, first, [("A", 1, 300000)])
    one = world.settle(desk, first, card, endtime=_iso(now - timedelta(days=4)))
    assert (
        desk.post(f"/v1/settlements/{one['setl_id']}/reversal", json={}, headers=idem()).status_code
        == 201
    )
    second = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, second, [("A", 1, 300000)])
    assert world.settle(desk, second, card)["act_pay_dedc"] == 80000


# --- 2. no stored field lets a dictionary recover a query password ----------------------


def _all_text(api) -> str:
    """Every value of every table of the service's database, as text."""
    engine = create_engine_for_cli(api.database_url)
    try:
        with engine.connect() as conn:
            chunks = []
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    chunks.extend(str(v) for v in row)
    finally:
        engine.dispose()
    return "\n".join(chunks)


def test_query_password_not_recoverable_from_the_database(world, api):
    bank = world.terminal("bank_branch")
    psn_no = world.person()
    password, guesses = "Sesame-735911", ["password1", "Sesame-735911", "qwerty12"]
    answer = bank.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": password},
        headers=idem(),
    )
    assert answer.status_code == 200, answer.text
    stored = _all_text(api)
    for guess in guesses:
        inner = hashlib.sha256(b"\0" + guess.encode() + b"\0").hexdigest()
        path = f"/v1/people/{psn_no}/query-password"
        candidates = {
            guess,
            inner,
            hashlib.sha256(guess.encode()).hexdigest(),
            hashlib.sha256(
                json.dumps(
                    ["POST", path, {"mode": "reset", "digest": inner}],
                    sort_keys=True,
                    separators=(",", ":"),
                ).encode()
            ).hexdigest(),
        }
        assert not any(c in stored for c in candidates), guess
    # the fingerprint still tells requests apart: same key, other password → 422
    key = idem()
    first = bank.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": "abcdef1"},
        headers=key,
    )
    again = bank.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": "abcdef1"},
        headers=key,
    )
    other = bank.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": "abcdef2"},
        headers=key,
    )
    assert first.status_code == 200 and again.headers.get("Idempotent-Replay") == "true"
    assert other.status_code == 422 and code_of(other) == "idempotency_key_reused"


# --- 3 and 4. money bounded, totals inside 64 bits ---------------------------------------


def _fee_body(lines):
    return {
        "feedetail": [
            {"feedetl_sn": uid("F"), "med_list_codg": "ITEM", "list_type": "A", **line}
            for line in lines
        ]
    }


def test_fee_line_bounds_and_admission_total_cap(world, api):
    desk = world.terminal()
    psn_no, card = world.insured()
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    url = f"/v1/admissions/{mdtrt_id}/fees"
    for line in (
        {"cnt": 1_000_000, "pric": 100},
        {"cnt": 1, "pric": 10_000_000_000},
        {"cnt": 1, "pric": 1_000_000_001},
        {"cnt": 100_001, "pric": 1},
    ):
        answer = desk.post(url, json=_fee_body([line]), headers=idem())
        assert answer.status_code == 422 and code_of(answer) == "validation_error", line
    # each line in bounds, the admission's total over the cap: refused, nothing stored
    big = {"cnt": 100_000, "pric": 1_000_000_000}  # 1e14 fen
    answer = desk.post(url, json=_fee_body([big] * 11), headers=idem())
    assert answer.status_code == 422 and code_of(answer) == "amount_out_of_range", answer.text
    line = {"cnt": 100, "pric": 1_000_000_000}  # 1e11 fen
    ok = desk.post(url, json=_fee_body([line] * 9), headers=idem())
    assert ok.status_code == 200 and ok.json()["medfee_sumamt"] == 9 * 10**11, ok.text
    over = desk.post(url, json=_fee_body([line] * 2), headers=idem())
    assert over.status_code == 422 and code_of(over) == "amount_out_of_range"
    assert desk.get(f"/v1/admissions/{mdtrt_id}").json()["medfee_sumamt"] == 9 * 10**11
    settled = world.settle(desk, mdtrt_id, card)
    assert settled["medfee_sumamt"] == 9 * 10**11
    report = desk.get("/v1/reports/daily", params={"date": datetime.now(CHINA).date().isoformat()})
    assert report.status_code == 200 and report.json()["balanced"], report.text


def test_money_fields_bounded_and_strict(world):
    centre = world.centre
    base = {"psn_name": "李四", "brdy": "1980-01-01", "certno": "430102198001010000"}
    for balance in (10**40, 2**63, -1, "100", 10.5, True):
        answer = centre.post(
            "/v1/people", json={"psn_no": uid("P"), **base, "acct_balance": balance}, headers=idem()
        )
        assert answer.status_code == 422 and code_of(answer) == "validation_error", (
            balance,
            answer.text,
        )
    psn_no = world.person(acct_balance=10**12)
    for amount in (2**63, 10**40, 0, -5, "7", True):
        answer = centre.post(
            f"/v1/people/{psn_no}/account-credits", json={"amount": amount}, headers=idem()
        )
        assert answer.status_code == 422 and code_of(answer) == "validation_error", (
            amount,
            answer.text,
        )
    answer = centre.post(f"/v1/people/{psn_no}/account-credits", json={"amount": 1}, headers=idem())
    assert answer.status_code == 422 and code_of(answer) == "amount_out_of_range"


# --- 9. strict numeric types, conflicting evidence aliases --------------------------------


def test_fee_numbers_must_be_json_integers(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    for line in (
        {"cnt": 1, "pric": "100"},
        {"cnt": True, "pric": 100},
        {"cnt": 1.0, "pric": 100},
        {"cnt": "1", "pric": 100},
    ):
        answer = desk.post(
            f"/v1/admissions/{mdtrt_id}/fees", json=_fee_body([line]), headers=idem()
        )
        assert answer.status_code == 422 and code_of(answer) == "validation_error", line


def test_conflicting_evidence_aliases_refused(world):
    desk = world.terminal()
    birth = today().replace(year=today().year - 3)
    psn_no = world.person(insutype="390", brdy=birth.isoformat(), household_register_no="HR123")
    answer = desk.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "390",
            "exemption": {
                "kind": "child_under_7",
                "hukou_no": "WRONG",
                "household_register_no": "HR123",
            },
        },
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "evidence_conflict", answer.text
    same = desk.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "390",
            "exemption": {
                "kind": "child_under_7",
                "hukou_no": "HR123",
                "household_register_no": "HR123",
            },
        },
        headers=idem(),
    )
    assert same.status_code == 201, same.text


# --- 5. every error is problem+json ------------------------------------------------------


def test_framework_errors_are_problems(world, api):
    desk = world.terminal()
    cases = [
        (
            desk.post(
                "/v1/admissions",
                content=b'{"psn_no": "\xff\xfe"}',
                headers={**idem(), "Content-Type": "application/json"},
            ),
            400,
            "malformed_body",
        ),
        (
            desk.post(
                "/v1/admissions",
                content=("[" * 100_000).encode(),
                headers={**idem(), "Content-Type": "application/json"},
            ),
            400,
            "malformed_body",
        ),
        (
            desk.post(
                "/v1/admissions",
                content=b"{not json",
                headers={**idem(), "Content-Type": "application/json"},
            ),
            400,
            "malformed_body",
        ),
        (desk.get("/v1/no-such-thing"), 404, "not_found"),
        (desk.delete("/v1/admissions"), 405, "method_not_allowed"),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
        assert code_of(answer) == code, answer.text


# --- 10. query enums, PIN-service designation, bank codes, cancelled cards -------------------


def test_query_parameters_are_checked(world):
    desk = world.terminal()
    _psn_no, card = world.insured()
    answer = desk.get("/v1/admissions", params={"status": "zzz"})
    assert answer.status_code == 422 and code_of(answer) == "validation_error"
    assert desk.get("/v1/admissions", params={"status": "settled"}).status_code == 200
    answer = desk.get(
        "/v1/pin-authority", params={"card_no": card.card_no, "pin": "zz", "operation": "reset"}
    )
    assert answer.status_code == 422 and code_of(answer) == "validation_error"
    answer = desk.get(
        "/v1/pin-authority", params={"card_no": card.card_no, "pin": "ssse", "operation": "zz"}
    )
    assert answer.status_code == 422 and code_of(answer) == "validation_error"


def test_institution_designations_checked(world):
    for level in (1, 2):
        answer = world.admin.post(
            "/v1/institutions",
            json={
                "code": uid("HX"),
                "name": "county hospital",
                "kind": "hospital",
                "hospital_level": level,
                "pin_service": True,
            },
            headers=idem(),
        )
        assert answer.status_code == 422 and code_of(answer) == "validation_error", answer.text
    answer = world.admin.post(
        "/v1/institutions",
        json={"code": uid("BX"), "name": "no such bank", "kind": "bank_branch", "bank_code": "999"},
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "bank_unknown", answer.text
    answer = world.admin.post(
        "/v1/institutions",
        json={"code": uid("BX"), "name": "ICBC branch", "kind": "bank_branch", "bank_code": "102"},
        headers=idem(),
    )
    assert answer.status_code == 201, answer.text


def test_child_with_a_cancelled_card_cannot_use_the_child_exemption(world):
    desk = world.terminal()
    birth = today().replace(year=today().year - 3)
    psn_no = world.person(insutype="390", brdy=birth.isoformat(), household_register_no="HC1")
    card = world.card(psn_no)
    cancelled = world.centre.post(
        f"/v1/cards/{card.card_no}/cancellation", json={"reason": "test"}, headers=idem()
    )
    assert cancelled.status_code == 200, cancelled.text
    answer = desk.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "390",
            "exemption": {"kind": "child_under_7", "household_register_no": "HC1"},
        },
        headers=idem(),
    )
    assert answer.status_code == 403 and answer.json()["reason_code"] == "card_issued_must_use", (
        answer.text
    )


def test_flags_must_be_json_booleans(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    answer = desk.post(f"/v1/admissions/{mdtrt_id}/pre-settlement", json={"acct_used_flag": "true"})
    assert answer.status_code == 422 and code_of(answer) == "validation_error"
    answer = desk.post(
        f"/v1/admissions/{mdtrt_id}/settlement",
        json={"acct_used_flag": 1, "proof": world.proof(desk, card, "discharge")},
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "validation_error"
    answer = world.centre.post(
        f"/v1/people/{psn_no}/coverage",
        json={"insutype": "390", "begndate": "2026-01-01", "paid": "yes"},
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "validation_error"
