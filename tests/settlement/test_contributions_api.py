"""The contribution routes on the running service (SQLite and PostgreSQL): a payment channel's
key, the card centre's enrolment record, the state query, refusals with stable codes, the
reconciliation (docs/api.md §Contributions). Dated flows are in test_contributions_flow.py."""

from __future__ import annotations

from tests.settlement.conftest import code_of, idem, today


def test_channel_flow_refusals_and_reconciliation(world):
    channel = world.terminal("payment_channel")
    psn = world.person(covered=False)
    applied = today().replace(day=1)
    entered = world.centre.post(
        "/v1/enrolments", json={"psn_no": psn, "applied_on": applied.isoformat()}, headers=idem()
    )
    assert entered.status_code == 201, entered.text
    assert entered.json()["entered_on"] == today().isoformat()
    again = world.centre.post("/v1/enrolments", json={"psn_no": psn}, headers=idem())
    assert code_of(again) == "already_enrolled"

    state = channel.get(f"/v1/people/{psn}/contributions")
    assert state.status_code == 200, state.text
    assert state.json()["state"] == "processing"  # entered today: payable in 3 days
    nobody = channel.get(f"/v1/people/{psn}X/contributions")
    assert code_of(nobody) == "not_found"

    body = {"channel_order_id": "o-1", "psn_no": psn, "year": today().year}
    refused = channel.post("/v1/payment-orders", json=body, headers=idem())
    assert refused.status_code == 409 and code_of(refused) == "enrolment_processing"
    hospital = world.terminal("hospital")
    assert code_of(hospital.post("/v1/payment-orders", json=body, headers=idem())) == (
        "not_entitled"
    )
    bad = channel.post("/v1/payment-orders", json={**body, "year": "2026"}, headers=idem())
    assert bad.status_code == 422

    code = channel.institution
    recon = channel.get(
        f"/v1/payment-channels/{code}/reconciliation",
        params={"day": today().isoformat(), "count": 0, "amount_fen": 0},
    )
    assert recon.status_code == 200, recon.text
    assert recon.json()["balanced"] is True and recon.json()["internal_balanced"] is True
    other = world.terminal("payment_channel")
    assert code_of(other.get(f"/v1/payment-channels/{code}/reconciliation?day=2026-06-01")) == (
        "not_found"
    )
    assert code_of(other.get("/v1/payment-orders/PO1")) == "not_found"


def test_only_payments_and_the_admins_migration_set_paid(world):
    """docs/api.md §Contributions, "Which call sets paid": the coverage routes record unpaid
    periods, the admin's migration a paid one (audited), and 1101 answers accordingly."""
    psn = world.person(covered=False)
    coverage = {"insutype": "310", "begndate": "2020-01-01"}
    paid = world.centre.post(
        f"/v1/people/{psn}/coverage", json={**coverage, "paid": True}, headers=idem()
    )
    assert paid.status_code == 409 and code_of(paid) == "paid_by_payment_only"
    unpaid = world.centre.post(f"/v1/people/{psn}/coverage", json=coverage, headers=idem())
    assert unpaid.status_code == 201 and unpaid.json()["paid"] is False
    info = world.centre.get(f"/v1/people/{psn}").json()
    assert [p["covered"] for p in info["insuinfo"]] == [False]

    body = {"psn_no": psn, "insutype": "310", "begndate": "2021-01-01", "reason": "payroll"}
    centre = world.centre.post("/v1/admin/coverage-migrations", json=body, headers=idem())
    assert centre.status_code == 403 and code_of(centre) == "not_entitled"
    moved = world.admin.post("/v1/admin/coverage-migrations", json=body, headers=idem())
    assert moved.status_code == 201, moved.text
    assert (moved.json()["paid"], moved.json()["source"]) == (True, "migration")
    info = world.centre.get(f"/v1/people/{psn}").json()
    assert sorted(p["covered"] for p in info["insuinfo"]) == [False, True]
    again = world.admin.post("/v1/admin/coverage-migrations", json=body, headers=idem())
    assert again.status_code == 409 and code_of(again) == "already_covered"
    bad = world.admin.post(
        "/v1/admin/coverage-migrations", json={**body, "reason": ""}, headers=idem()
    )
    assert bad.status_code == 422
