"""Every rejection with its reason, the applicant's correction, and the duplicate guard."""

from __future__ import annotations

from datetime import date

import pytest


def _last(view: dict) -> dict:
    return view["history"][-1]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"photo_taken": False}, "missing_photo"),
        ({"psn_cert_type": "household_register", "hukou_no": None}, "missing_identity_document"),
        ({"brdy": "1970-01-01"}, "incomplete_data"),
    ],
)
def test_audit_returns_and_correction_resumes(production_world, overrides, reason):
    w = production_world
    person = w.citizen("陈审核")
    app_id = w.apply(person, **overrides)["application_id"]
    view = w.step(w.centre, app_id, "audit")
    assert view["status"] == "returned"
    assert view["returned"]["step"] == 2 and view["returned"]["reason"] == reason
    assert view["returned"]["detail"]
    assert _last(view)["action"] == "returned" and _last(view)["reason"] == reason
    # Nothing moves while it waits for the applicant.
    assert w.step(w.centre, app_id, "audit", expect=409)["code"] == "awaiting_correction"
    fix = {"photo_taken": True, "psn_cert_type": "id_card", "brdy": person.birth_date.isoformat()}
    view = w.step(w.centre, app_id, "corrections", {**fix, "note": "brought to the hall"})
    assert view["status"] == "in_progress" and view["next_step"]["name"] == "audited"
    assert _last(view)["action"] == "corrected"
    final, _ = w.produce(app_id)
    assert final["status"] == "issued"


def test_household_register_applicant_is_compared_on_the_register_number(production_world):
    w = production_world
    child = w.citizen("小明", born=date(2021, 4, 2))
    app_id = w.apply(child, psn_cert_type="household_register", hukou_no="wrong-number")[
        "application_id"
    ]
    w.step(w.centre, app_id, "audit")
    view = w.step(w.bank102, app_id, "comparison")
    assert view["returned"]["reason"] == "police_register_mismatch"
    assert _last(view)["detail"]["fields"] == ["household_register_no"]
    w.step(w.centre, app_id, "corrections", {"hukou_no": child.household_register_no})
    final, _ = w.produce(app_id)
    assert final["status"] == "issued"
    # The insured record made at step 2 carries the corrected number, not the wrong one.
    record = w.centre.get(f"/v1/people/{final['psn_no']}").json()
    assert record["household_register_no"] == child.household_register_no, record


def test_police_register_mismatch_then_correction(production_world):
    w = production_world
    person = w.citizen("刘德华")
    app_id = w.apply(person, psn_name="刘德化")["application_id"]  # a typo at the counter
    w.step(w.centre, app_id, "audit")
    view = w.step(w.bank102, app_id, "comparison")
    assert view["status"] == "returned"
    assert view["returned"] == {
        "step": 3,
        "reason": "police_register_mismatch",
        "detail": "differs from the police population register: name",
    }
    assert view["steps"][2]["state"] == "returned"
    # The returned step says when, by whom and why (the holder's progress query too).
    assert view["steps"][2]["at"] is not None and view["steps"][2]["by"] == "B102-0001"
    assert view["steps"][2]["reason"] == "police_register_mismatch"
    held = w.post(
        w.hospital, "/v1/card-progress", {"certno": person.ssn, "query_password": "open-sesame-1"}
    )
    assert held["applications"][0]["steps"][2] == view["steps"][2]
    view = w.step(w.centre, app_id, "corrections", {"psn_name": "刘德华"})
    # A correction of personal data is audited and compared again.
    assert view["next_step"]["name"] == "audited"
    assert _last(view)["detail"]["before"] == {"psn_name": "刘德化"}
    final, _ = w.produce(app_id)
    assert final["psn_name"] == "刘德华" and final["status"] == "issued"
    person_info = w.centre.get(f"/v1/people/{final['psn_no']}").json()
    assert person_info["psn_name"] == "刘德华"


def test_unknown_to_police_register(production_world):
    w = production_world
    ghost = w.citizen("无名", register=False)
    app_id = w.apply(ghost)["application_id"]
    w.step(w.centre, app_id, "audit")
    view = w.step(w.bank102, app_id, "comparison")
    assert view["returned"]["reason"] == "not_in_police_register"
    # Registered at the police station in the meantime; the correction resumes the flow.
    w.police.add(ghost)
    w.step(w.centre, app_id, "corrections", {"note": "household registration completed"})
    final, _ = w.produce(app_id)
    assert final["status"] == "issued"


def test_bank_record_mismatch_then_correction(production_world):
    w = production_world
    person = w.citizen("黄蓉", sex="2")
    w.bank("102").add_customer(person.ssn, "黄容")  # the bank's old record
    app_id = w.apply(person)["application_id"]
    w.step(w.centre, app_id, "audit")
    view = w.step(w.bank102, app_id, "comparison")
    assert view["returned"]["reason"] == "bank_record_mismatch"
    assert "bank 102" in view["returned"]["detail"]
    # The holder updates her record at the bank, then the application resumes.
    w.bank("102").add_customer(person.ssn, "黄蓉")
    w.step(w.centre, app_id, "corrections", {"note": "bank record updated"})
    final, _ = w.produce(app_id)
    assert final["status"] == "issued"
    assert [a.pan for a in w.bank("102").accounts(person.ssn)] == [final["pan"]]


def test_duplicate_guard_active_card_must_be_cancelled_first(production_world):
    w = production_world
    person = w.citizen("郭靖")
    first, _ = w.produce(w.apply(person)["application_id"])
    assert first["status"] == "issued"
    second_id = w.apply(person)["application_id"]
    w.step(w.centre, second_id, "audit")
    w.step(w.bank102, second_id, "comparison")
    view = w.step(w.centre, second_id, "pre-check")
    assert view["status"] == "returned"
    assert view["returned"]["reason"] == "active_card_exists"
    assert first["card_no"] in view["returned"]["detail"]
    assert view["card_no"] is None  # no card number was registered
    # A correction that changes data after a pre-check return goes through audit and
    # comparison again (here: a misspelt name the police register then refuses).
    third_id = w.apply(person)["application_id"]
    w.step(w.centre, third_id, "audit")
    w.step(w.bank102, third_id, "comparison")
    assert w.step(w.centre, third_id, "pre-check")["returned"]["reason"] == "active_card_exists"
    changed = w.step(w.centre, third_id, "corrections", {"psn_name": "郭请"})
    assert changed["next_step"]["name"] == "audited"
    w.step(w.centre, third_id, "audit")
    refused = w.step(w.bank102, third_id, "comparison")
    assert refused["returned"]["reason"] == "police_register_mismatch"
    w.step(w.centre, third_id, "withdrawal")
    # The unverified name never reached the insured person's record.
    assert w.centre.get(f"/v1/people/{first['psn_no']}").json()["psn_name"] == "郭靖"
    # The old card is cancelled, then the correction repeats the pre-check only.
    w.post(w.centre, f"/v1/cards/{first['card_no']}/cancellation", {"reason": "holder asked"})
    view = w.step(w.centre, second_id, "corrections", {"note": "old card cancelled"})
    assert view["next_step"]["name"] == "registered"
    second, _ = w.produce(second_id, start_at=4)
    assert second["status"] == "issued" and second["card_no"] != first["card_no"]
    assert w.card_states(second["psn_no"]) == {
        first["card_no"]: "cancelled",
        second["card_no"]: "active",
    }


def test_two_applications_in_production_never_make_two_cards(production_world):
    w = production_world
    person = w.citizen("杨过")
    a = w.apply(person)["application_id"]
    b = w.apply(person)["application_id"]
    for app_id in (a, b):
        w.step(w.centre, app_id, "audit")
        w.step(w.bank102, app_id, "comparison")
    assert w.step(w.centre, a, "pre-check")["status"] == "in_progress"
    view = w.step(w.centre, b, "pre-check")
    assert view["returned"]["reason"] == "active_card_exists"
    assert a in view["returned"]["detail"]
    withdrawn = w.step(w.centre, b, "withdrawal")
    assert withdrawn["status"] == "withdrawn"
