"""Loss → block → receipt → replacement through steps 4–7, with settlements on the way.

issuance.md §Loss and settlement.md exemption 3: while the replacement is
pending the holder settles with the replacement receipt and the ID document;
afterwards only the new card works, the old one is refused.
"""

from __future__ import annotations

import secrets
from datetime import date

from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession


def _key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


def _proof(w, card, card_no: str, purpose: str) -> dict:
    """Card-present proof: challenge, SSSE PIN on the card, INTERNAL AUTHENTICATE 02."""
    challenge = w.hospital.post(
        "/v1/challenges", json={"card_no": card_no, "purpose": purpose}, headers=_key()
    )
    assert challenge.status_code == 201, challenge.text
    answer = challenge.json()
    with InProcessReader(card).connect() as conn:
        session = CardSession(conn, w.psam_hospital, conn.atr)
        session.select_ssse()
        session.verify_pin("123456")
        cryptogram = session.card_present_proof(bytes.fromhex(answer["nonce"]))
    return {
        "card_no": card_no,
        "challenge_id": answer["challenge_id"],
        "cryptogram": cryptogram.hex().upper(),
    }


def _insure(w, psn_no: str) -> None:
    """Employee basic medical insurance (310) since 2020, paid, no end."""
    w.post(  # a paid period: the admin's migration (docs/api.md §Contributions)
        w.admin,
        "/v1/admin/coverage-migrations",
        {"psn_no": psn_no, "insutype": "310", "begndate": "2020-01-01", "reason": "test"},
        201,
    )


def _stay(w, psn_no: str, *, admit: dict, discharge_auth) -> dict:
    """Admission, one fee line, settlement; returns the settlement."""
    admission = w.hospital.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "310",
            "dept_name": "orthopaedics",
            **admit,
        },
        headers=_key(),
    )
    assert admission.status_code == 201, admission.text
    mdtrt_id = admission.json()["mdtrt_id"]
    fees = w.hospital.post(
        f"/v1/admissions/{mdtrt_id}/fees",
        json={
            "feedetail": [
                {
                    "feedetl_sn": "0001",
                    "med_list_codg": "XA01",
                    "list_type": "A",
                    "cnt": 3,
                    "pric": 25000,
                },
            ]
        },
        headers=_key(),
    )
    assert fees.status_code == 200, fees.text
    settled = w.hospital.post(
        f"/v1/admissions/{mdtrt_id}/settlement",
        json={"acct_used_flag": False, **discharge_auth()},
        headers=_key(),
    )
    assert settled.status_code == 201, settled.text
    return {**settled.json(), "admission": admission.json()}


def test_loss_then_replacement_end_to_end(production_world):
    w = production_world
    person = w.citizen("张无忌", born=date(1975, 2, 14))
    first, old_card = w.produce(w.apply(person)["application_id"])
    psn_no, old_no = first["psn_no"], first["card_no"]
    _insure(w, psn_no)

    # With the card, before the loss: the ordinary path works.
    before = _stay(
        w,
        psn_no,
        admit={"proof": _proof(w, old_card, old_no, "admission")},
        discharge_auth=lambda: {"proof": _proof(w, old_card, old_no, "discharge")},
    )
    assert before["admission"]["auth_method"] == "card"

    # Another bank's branch cannot take the loss report of bank 102's card.
    refused = w.bank103.post("/v1/card-losses", json={"card_no": old_no}, headers=_key())
    assert refused.status_code == 403 and refused.json()["code"] == "not_entitled"

    loss = w.post(
        w.bank102, "/v1/card-losses", {"card_no": old_no, "reason": "lost on the bus"}, 201
    )
    receipt = loss["replacement_receipt_no"]
    assert loss["status"] == "lost" and receipt.startswith("RR")
    replacement = loss["replacement_application"]
    assert replacement["kind"] == "replacement" and replacement["replaces_card_no"] == old_no
    assert replacement["next_step"]["name"] == "registered"
    assert [s["state"] for s in replacement["steps"][:3]] == ["carried_over"] * 3
    assert replacement["deadline"]["target_working_days"] == 5
    # Blocked at once: no challenge for the lost card, and the bank froze its account.
    blocked = w.hospital.post(
        "/v1/challenges", json={"card_no": old_no, "purpose": "admission"}, headers=_key()
    )
    assert blocked.status_code == 403 and blocked.json()["code"] == "card_lost"
    assert [a.status for a in w.bank("102").accounts(person.ssn)] == ["frozen"]

    # While the replacement is pending: settle with the receipt and the ID document.
    evidence = {
        "kind": "lost_card_receipt",
        "replacement_receipt_no": receipt,
        "certno": person.ssn,
    }
    pending = _stay(
        w, psn_no, admit={"exemption": evidence}, discharge_auth=lambda: {"exemption": evidence}
    )
    assert pending["admission"]["auth_method"] == "lost_card_receipt"
    assert pending["fund_pay_sumamt"] + pending["psn_part_amt"] == pending["medfee_sumamt"]

    # Replacement through steps 4–7 (the progress query shows it too).
    progress = w.post(
        w.hospital, "/v1/card-progress", {"certno": person.ssn, "query_password": "open-sesame-1"}
    )
    assert [a["kind"] for a in progress["applications"]] == ["single", "replacement"]
    second, new_card = w.produce(replacement["application_id"], start_at=4)
    new_no = second["card_no"]
    assert second["status"] == "issued" and new_no != old_no
    assert w.hospital.get(f"/v1/cards/{new_no}").json()["status"] == "active"
    old_state = w.hospital.get(f"/v1/cards/{old_no}").json()
    assert old_state["status"] == "replaced" and old_state["replaced_by"] == new_no

    # Afterwards: the receipt no longer works, the old card is refused, the new card settles.
    stale = w.hospital.post(
        "/v1/admissions",
        json={"psn_no": psn_no, "insutype": "310", "exemption": evidence},
        headers=_key(),
    )
    assert stale.status_code == 403, stale.text
    assert stale.json()["code"] in ("exemption_refused", "card_required"), stale.text
    refused_old = w.hospital.post(
        "/v1/challenges", json={"card_no": old_no, "purpose": "admission"}, headers=_key()
    )
    assert refused_old.status_code == 403 and refused_old.json()["code"] == "card_replaced"
    after = _stay(
        w,
        psn_no,
        admit={"proof": _proof(w, new_card, new_no, "admission")},
        discharge_auth=lambda: {"proof": _proof(w, new_card, new_no, "discharge")},
    )
    assert after["admission"]["card_no"] == new_no and after["admission"]["auth_method"] == "card"

    # A second loss report of the same (already replaced) card is refused by its state.
    again = w.bank102.post("/v1/card-losses", json={"card_no": old_no}, headers=_key())
    assert again.status_code == 409 and again.json()["code"] == "card_state"


def test_replacement_cannot_start_while_old_card_is_usable(production_world):
    """The pre-check also guards replacements: only a lost card is replaced."""
    w = production_world
    person = w.citizen("周芷若", sex="2")
    first, _ = w.produce(w.apply(person)["application_id"])
    loss = w.post(w.centre, "/v1/card-losses", {"card_no": first["card_no"]}, 201)
    app_id = loss["replacement_application"]["application_id"]
    # Before the replacement is registered, a second new application is refused at
    # pre-check: the replacement is already producing this person's card.
    other = w.apply(person)["application_id"]
    w.step(w.centre, other, "audit")
    w.step(w.bank102, other, "comparison")
    w.step(w.centre, app_id, "pre-check")
    view = w.step(w.centre, other, "pre-check")
    assert view["returned"]["reason"] == "active_card_exists"
    assert app_id in view["returned"]["detail"]


def test_loss_of_a_card_made_before_the_application_system(production_world):
    """A card registered directly (no application behind it) is replaced all the same."""
    w = production_world
    person = w.citizen("诸葛亮")
    psn_no = f"430100{secrets.randbelow(10**14):014d}"
    w.post(
        w.admin,
        "/v1/people",
        {
            "psn_no": psn_no,
            "psn_name": person.name,
            "gend": person.sex,
            "brdy": person.birth_date.isoformat(),
            "certno": person.ssn,
        },
        201,
    )
    old = w.blank_card()  # stands for the old card; only its identity matters here
    old_no = f"X{secrets.randbelow(10**8):08d}"
    w.post(
        w.admin,
        "/v1/cards",
        {
            "card_no": old_no,
            "card_id_code": "430100D156000005" + old.image.card_factor.hex().upper(),
            "algorithm": old.image.algorithm.value,
            "region": "430100",
            "expiry": "2030-01-01",
            "issue_date": "2020-01-01",
            "bank_code": "102",
            "psn_no": psn_no,
            "status": "active",
        },
        201,
    )
    loss = w.post(w.bank102, "/v1/card-losses", {"card_no": old_no}, 201)
    replacement = loss["replacement_application"]
    assert replacement["psn_no"] == psn_no and replacement["psn_name"] == person.name
    final, _ = w.produce(replacement["application_id"], start_at=4)
    assert final["status"] == "issued"
    assert w.card_states(psn_no) == {old_no: "replaced", final["card_no"]: "active"}


def test_withdrawn_replacement_cancels_both_cards_and_ends_the_receipt(production_world):
    """No pending replacement, no receipt: lost → cancelled; the unused new card too."""
    w = production_world
    person = w.citizen("殷离", sex="2")
    first, _ = w.produce(w.apply(person)["application_id"])
    psn_no, old_no = first["psn_no"], first["card_no"]
    _insure(w, psn_no)
    loss = w.post(w.bank102, "/v1/card-losses", {"card_no": old_no}, 201)
    app_id = loss["replacement_application"]["application_id"]
    w.step(w.centre, app_id, "pre-check")
    card = w.blank_card()
    w.personalise(app_id, InProcessReader(card))
    w.open_account(app_id, InProcessReader(card))
    new_no = w.centre.get(f"/v1/applications/{app_id}").json()["card_no"]
    withdrawn = w.step(w.centre, app_id, "withdrawal")
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["history"][-1]["detail"] == {"cards_cancelled": [new_no, old_no]}
    assert w.card_states(psn_no) == {old_no: "cancelled", new_no: "cancelled"}
    # The old card's account stays frozen; the uncollected card's account is closed.
    assert [a.status for a in w.bank("102").accounts(person.ssn)] == ["frozen", "closed"]
    evidence = {
        "kind": "lost_card_receipt",
        "replacement_receipt_no": loss["replacement_receipt_no"],
        "certno": person.ssn,
    }
    stale = w.hospital.post(
        "/v1/admissions",
        json={"psn_no": psn_no, "insutype": "310", "exemption": evidence},
        headers=_key(),
    )
    assert stale.status_code == 403, stale.text
    # Nothing usable is left, so a new application passes the pre-check and makes a card.
    again, _ = w.produce(w.apply(person)["application_id"])
    assert again["status"] == "issued"


def test_card_lost_before_collection_is_replaced_and_its_application_closed(production_world):
    """Lost between step 6 and step 7: the replacement takes over, nothing waits forever."""
    w = production_world
    person = w.citizen("杨逍")
    app_id = w.registered(person)
    card = w.blank_card()
    w.personalise(app_id, InProcessReader(card))
    first = w.open_account(app_id, InProcessReader(card))
    assert first["next_step"]["name"] == "issued"
    # Written and ready, but not collected (step 7): not yet usable for settlement.
    early = w.hospital.post(
        "/v1/challenges", json={"card_no": first["card_no"], "purpose": "admission"}, headers=_key()
    )
    assert early.status_code == 403 and early.json()["code"] == "card_not_active", early.text
    loss = w.post(w.bank102, "/v1/card-losses", {"card_no": first["card_no"]}, 201)
    original = w.centre.get(f"/v1/applications/{app_id}").json()
    assert original["status"] == "withdrawn"
    assert original["history"][-1]["detail"]["card_lost"] == first["card_no"]
    replacement_id = loss["replacement_application"]["application_id"]
    second, _ = w.produce(replacement_id, start_at=4)
    assert second["status"] == "issued"
    assert w.card_states(first["psn_no"]) == {
        first["card_no"]: "replaced",
        second["card_no"]: "active",
    }
