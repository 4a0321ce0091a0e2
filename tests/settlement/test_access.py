"""Authentication, roles, ownership, PIN authority, query passwords, idempotency, the audit log."""

from __future__ import annotations

import secrets

import httpx
import pytest
import sqlalchemy as sa

from settlement.store.db import create_engine_for_cli
from tests.settlement.conftest import code_of, idem, today


def test_no_or_bad_key_is_unauthenticated(api):
    assert code_of(httpx.get(f"{api.url}/v1/people/P1")) == "unauthenticated"
    bad = httpx.get(f"{api.url}/v1/people/P1", headers={"Authorization": "Bearer sk_abc_def"})
    assert bad.status_code == 401 and code_of(bad) == "unauthenticated"
    assert httpx.get(f"{api.url}/v1/health").status_code == 200


def test_hospital_a_never_sees_hospital_b(world):
    a, b = world.terminal(), world.terminal()
    psn_no, card = world.insured(acct_balance=1000)
    mdtrt_id = world.admit(a, psn_no, card)["mdtrt_id"]
    world.fees(a, mdtrt_id, [("A", 1, 100000)])
    assert code_of(b.get(f"/v1/admissions/{mdtrt_id}")) == "not_found"
    assert (
        code_of(
            b.post(
                f"/v1/admissions/{mdtrt_id}/fees",
                json={
                    "feedetail": [
                        {
                            "feedetl_sn": "x",
                            "med_list_codg": "X",
                            "list_type": "A",
                            "cnt": 1,
                            "pric": 1,
                        }
                    ]
                },
                headers=idem(),
            )
        )
        == "not_found"
    )
    assert code_of(b.post(f"/v1/admissions/{mdtrt_id}/pre-settlement", json={})) == "not_found"
    answer = b.post(
        f"/v1/admissions/{mdtrt_id}/settlement",
        json={"proof": world.proof(b, card, "discharge")},
        headers=idem(),
    )
    assert code_of(answer) == "not_found"
    settled = world.settle(a, mdtrt_id, card)
    assert code_of(b.get(f"/v1/settlements/{settled['setl_id']}")) == "not_found"
    assert (
        code_of(b.post(f"/v1/settlements/{settled['setl_id']}/reversal", json={}, headers=idem()))
        == "not_found"
    )
    listed = b.get("/v1/admissions").json()["admissions"]
    assert mdtrt_id not in [row["mdtrt_id"] for row in listed]
    assert (
        code_of(
            b.get(
                "/v1/reports/daily",
                params={"date": today().isoformat(), "institution": a.institution},
            )
        )
        == "not_found"
    )
    own = b.get("/v1/reports/daily", params={"date": today().isoformat()}).json()
    assert own["institution"] == b.institution and own["settlements"]["count"] == 0
    # the owner still sees it, through another terminal of the same hospital too
    assert world.second_terminal(a).get(f"/v1/settlements/{settled['setl_id']}").status_code == 200


@pytest.mark.parametrize("kind", ["pharmacy", "bank_branch", "card_centre"])
def test_only_hospitals_admit_and_settle(world, kind):
    desk = world.terminal(kind)
    psn_no, card = world.insured()
    answer = desk.post(
        "/v1/challenges", json={"card_no": card.card_no, "purpose": "admission"}, headers=idem()
    )
    assert answer.status_code == 403 and code_of(answer) == "not_entitled"
    answer = desk.post("/v1/admissions", json={"psn_no": psn_no, "insutype": "310"}, headers=idem())
    assert code_of(answer) == "not_entitled"


def test_hospital_cannot_register_people_or_institutions(world):
    desk = world.terminal()
    answer = desk.post(
        "/v1/people",
        json={"psn_no": "PX", "psn_name": "x", "brdy": "2000-01-01", "certno": "1"},
        headers=idem(),
    )
    assert code_of(answer) == "not_entitled"
    answer = desk.post(
        "/v1/institutions",
        json={"code": "EVIL", "name": "x", "kind": "card_centre"},
        headers=idem(),
    )
    assert code_of(answer) == "not_entitled"


PIN_CASES = [
    # (kind, fields, pin, operation, card bank, allowed)
    ("hospital", {}, "ssse", "verify", "102", True),
    ("hospital", {}, "ssse", "change", "102", True),
    ("hospital", {}, "ssse", "reset", "102", False),
    ("hospital", {}, "ssse", "unblock", "102", False),
    ("hospital", {"pin_service": True}, "ssse", "unblock", "102", True),
    ("hospital", {"pin_service": True}, "ssse", "reset", "102", True),
    ("pharmacy", {"pin_service": True}, "ssse", "reset", "102", True),
    ("pharmacy", {}, "ssse", "unblock", "102", False),
    ("card_centre", {}, "ssse", "reset", "102", True),
    ("card_centre", {}, "bank", "reset", "102", False),
    ("bank_branch", {"bank_code": "102"}, "ssse", "unblock", "102", True),
    ("bank_branch", {"bank_code": "102"}, "bank", "reset", "102", True),
    ("bank_branch", {"bank_code": "102"}, "bank", "change", "102", True),
    ("bank_branch", {"bank_code": "105"}, "bank", "reset", "102", False),
    ("hospital", {"pin_service": True}, "bank", "unblock", "102", False),
    ("hospital", {}, "bank", "verify", "102", False),
]


@pytest.mark.parametrize(("kind", "fields", "pin", "operation", "bank", "allowed"), PIN_CASES)
def test_pin_authority(world, api, kind, fields, pin, operation, bank, allowed):
    desk = world.terminal(kind, **fields)
    _, card = world.insured(bank_code=bank)
    check = desk.get(
        "/v1/pin-authority", params={"card_no": card.card_no, "pin": pin, "operation": operation}
    )
    assert check.json()["allowed"] is allowed
    answer = desk.post(
        "/v1/pin-operations",
        json={
            "card_no": card.card_no,
            "pin": pin,
            "operation": operation,
            "result": "ok",
            "sw": "9000",
        },
        headers=idem(),
    )
    if allowed:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 403 and code_of(answer) == "not_entitled"
    engine = create_engine_for_cli(api.database_url)
    with engine.connect() as conn:
        outcomes = (
            conn.execute(
                sa.text("SELECT outcome FROM audit_log WHERE subject = :c AND action = :a"),
                {"c": card.card_no, "a": f"pin.{pin}.{operation}"},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert outcomes == ["ok" if allowed else "refused"]


def test_query_password_change_and_reset_by_allowed_roles_only(world, api):
    psn_no = world.person()
    bank = world.terminal("bank_branch")
    hospital = world.terminal()
    reset = bank.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": "first-pass"},
        headers=idem(),
    )
    assert reset.status_code == 200, reset.text
    wrong = world.centre.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "change", "old_password": "nope-nope", "new_password": "second-pass"},
        headers=idem(),
    )
    assert wrong.status_code == 403 and code_of(wrong) == "password_invalid"
    ok = world.centre.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "change", "old_password": "first-pass", "new_password": "second-pass"},
        headers=idem(),
    )
    assert ok.status_code == 200
    check = world.centre.post(
        f"/v1/people/{psn_no}/query-password/verification", json={"password": "second-pass"}
    )
    assert check.json()["valid"] is True
    refused = hospital.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": "xxxxxx"},
        headers=idem(),
    )
    assert refused.status_code == 403 and code_of(refused) == "not_entitled"
    # the password never appears in the database in clear
    engine = create_engine_for_cli(api.database_url)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT query_password_hash FROM person WHERE psn_no = :p"), {"p": psn_no}
        ).scalar()
        leaked = conn.execute(
            sa.text(
                "SELECT count(*) FROM idempotency_record WHERE response_body LIKE '%second-pass%'"
                " OR request_hash LIKE '%second-pass%'"
            )
        ).scalar()
        audit_leak = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE detail LIKE '%second-pass%'")
        ).scalar()
    engine.dispose()
    assert stored.startswith("scrypt$") and "second-pass" not in stored
    assert leaked == 0 and audit_leak == 0


def test_idempotency_replay_mismatch_and_missing_key(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    body = {"psn_no": psn_no, "insutype": "310", "proof": world.proof(desk, card, "admission")}
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = desk.post("/v1/admissions", json=body, headers=key)
    again = desk.post("/v1/admissions", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotent-Replay") == "true"
    other = desk.post("/v1/admissions", json={**body, "dept_name": "other"}, headers=key)
    assert other.status_code == 422 and code_of(other) == "idempotency_key_reused"
    missing = desk.post("/v1/admissions", json=body)
    assert missing.status_code == 428 and code_of(missing) == "idempotency_key_required", (
        missing.text
    )
    # refusals are replayed too
    bad = {"psn_no": psn_no, "insutype": "310"}
    key2 = {"Idempotency-Key": secrets.token_hex(8)}
    r1 = desk.post("/v1/admissions", json=bad, headers=key2)
    r2 = desk.post("/v1/admissions", json=bad, headers=key2)
    assert r1.status_code == r2.status_code == 403 and r1.json() == r2.json()
    # keys are per API key: another terminal may use the same string
    assert world.second_terminal(desk).post("/v1/probe").status_code == 201


def test_idempotency_in_progress_and_single_effect(world):
    """Concurrent retries with one key: one effect; the others replay it or get 409 in progress."""
    from concurrent.futures import ThreadPoolExecutor

    desk = world.terminal()
    psn_no, card = world.insured()
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, mdtrt_id, [("A", 1, 100000)])
    body = {"proof": world.proof(desk, card, "discharge")}
    key = {"Idempotency-Key": secrets.token_hex(8)}
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda _: desk.post(
                    f"/v1/admissions/{mdtrt_id}/settlement", json=body, headers=key
                ),
                range(10),
            )
        )
    codes = {a.status_code for a in answers}
    assert codes <= {201, 409}, [a.text for a in answers]
    setl_ids = {a.json()["setl_id"] for a in answers if a.status_code == 201}
    assert len(setl_ids) == 1
    assert all(code_of(a) == "idempotency_in_progress" for a in answers if a.status_code == 409)


def test_audit_log_is_append_only(world, api):
    world.person()
    engine = create_engine_for_cli(api.database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar() > 0
    for statement in ("UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
            conn.execute(sa.text(statement))
    engine.dispose()


def test_admin_cli_creates_institution_and_terminal(api):
    out = api.cli(
        "create-institution",
        "HCLI01",
        "--kind",
        "hospital",
        "--level",
        "2",
        "--name",
        "CLI hospital",
    )
    assert out.returncode == 0, out.stderr
    key = api.cli("create-terminal", "HCLI01", "HCLI01-T1")
    assert key.returncode == 0 and key.stdout.strip().startswith("sk_")
    client = api.client(key.stdout.strip())
    assert client.get("/v1/institutions/HCLI01").json()["hospital_level"] == 2
    bad = api.cli("create-terminal", "NOPE", "NOPE-T1")
    assert bad.returncode != 0 and "not found" in bad.stderr
