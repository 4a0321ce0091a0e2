"""The hospital's inpatient number on ``POST /v1/admissions`` (docs/api.md §Admission): kept
with the stay as the gateway's 2401 keeps it, unique per institution among the stays not
cancelled (migration 0176's partial unique index), refused ``409 ipt_no_taken`` by the same
core check as 2401; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.settlement.conftest import code_of, idem, uid


def _post(desk, body: dict):
    return desk.post("/v1/admissions", json=body, headers=idem())


def test_an_inpatient_number_is_kept_and_unique_per_institution_among_live_stays(world):
    desk = world.terminal()
    colleague = world.second_terminal(desk)  # the same hospital, another desk
    elsewhere = world.terminal()
    number = uid("ZY")
    first_psn, first_card = world.insured()
    first = world.admit(desk, first_psn, first_card, ipt_no=number)
    assert first["ipt_no"] == number
    assert desk.get(f"/v1/admissions/{first['mdtrt_id']}").json()["ipt_no"] == number
    # Another hospital's stay may carry the same number.
    other_psn, other_card = world.insured()
    assert world.admit(elsewhere, other_psn, other_card, ipt_no=number)["ipt_no"] == number
    # A second live stay of this hospital with it is refused by name, before the proof is used.
    psn_no, card = world.insured()
    body = {
        "psn_no": psn_no,
        "insutype": "310",
        "ipt_no": number,
        "proof": world.proof(colleague, card, "admission"),
    }
    taken = _post(colleague, body)
    assert taken.status_code == 409 and code_of(taken) == "ipt_no_taken", taken.text
    assert taken.headers["content-type"].startswith("application/problem+json")
    assert taken.json()["ipt_no"] == number and taken.json()["mdtrt_id"] == first["mdtrt_id"]
    assert first["mdtrt_id"] in taken.json()["detail"]
    second = _post(colleague, {**body, "ipt_no": uid("ZY")})  # the same proof still works
    assert second.status_code == 201, second.text
    # Cancelling the first stay (2404) frees its number.
    cancelled = desk.post(f"/v1/admissions/{first['mdtrt_id']}/cancellation", headers=idem())
    assert cancelled.status_code == 200, cancelled.text
    again_psn, again_card = world.insured()
    again = world.admit(colleague, again_psn, again_card, ipt_no=number)
    assert again["ipt_no"] == number and again["mdtrt_id"] != first["mdtrt_id"]
    # Without a number the stay has none.
    none_psn, none_card = world.insured()
    assert world.admit(desk, none_psn, none_card)["ipt_no"] is None


@pytest.mark.parametrize("bad", ["", " ZY1", "ZY1 ", "Z" * 41, 12345])
def test_a_malformed_inpatient_number_is_refused(world, bad):
    desk = world.terminal()
    psn_no, card = world.insured()
    body = {"psn_no": psn_no, "insutype": "310", "ipt_no": bad}
    body["proof"] = world.proof(desk, card, "admission")
    answer = _post(desk, body)
    assert answer.status_code == 422 and code_of(answer) == "validation_error", answer.text
    assert "ipt_no" in answer.text


def _listed(client, **params) -> list[str]:
    answer = client.get("/v1/admissions", params=params)
    assert answer.status_code == 200, answer.text
    return [stay["mdtrt_id"] for stay in answer.json()["admissions"]]


def test_admissions_are_listed_by_inpatient_number(world):
    """``GET /v1/admissions?ipt_no=``: the exact number, the caller's own stays (an admin: every
    hospital's); a cancelled stay has freed its number and is not listed under it."""
    desk, elsewhere = world.terminal(), world.terminal()
    number = uid("ZY")
    mine = world.admit(desk, *world.insured(), ipt_no=number)
    theirs = world.admit(elsewhere, *world.insured(), ipt_no=number)
    world.admit(desk, *world.insured(), ipt_no=number + "0")  # a longer number: no match
    assert _listed(desk, ipt_no=number) == [mine["mdtrt_id"]]
    assert _listed(elsewhere, ipt_no=number) == [theirs["mdtrt_id"]]
    assert _listed(world.admin, ipt_no=number) == [theirs["mdtrt_id"], mine["mdtrt_id"]]
    assert _listed(desk, ipt_no=number.lower()) == []
    assert _listed(desk, ipt_no=number, status="admitted") == [mine["mdtrt_id"]]
    assert _listed(desk, ipt_no=number, status="settled") == []
    assert _listed(desk, ipt_no=number, psn_no=mine["psn_no"]) == [mine["mdtrt_id"]]
    assert _listed(desk, ipt_no=number, psn_no=theirs["psn_no"]) == []

    cancelled = desk.post(f"/v1/admissions/{mine['mdtrt_id']}/cancellation", headers=idem())
    assert cancelled.status_code == 200, cancelled.text
    assert _listed(desk, ipt_no=number) == []
    assert _listed(world.admin, ipt_no=number) == [theirs["mdtrt_id"]]
    again = world.admit(desk, *world.insured(), ipt_no=number)
    assert _listed(desk, ipt_no=number) == [again["mdtrt_id"]]


@pytest.mark.parametrize("bad", ["", "Z" * 41])
def test_a_malformed_inpatient_number_in_the_listing_is_refused(world, bad):
    answer = world.terminal().get("/v1/admissions", params={"ipt_no": bad})
    assert answer.status_code == 422 and code_of(answer) == "validation_error", answer.text
    assert "ipt_no" in answer.text
