"""Card states (settlement.md §Card states, issuance.md): refusals say why; loss, replacement."""

from __future__ import annotations

from tests.settlement.conftest import code_of, idem


def _challenge(desk, card):
    return desk.post(
        "/v1/challenges", json={"card_no": card.card_no, "purpose": "admission"}, headers=idem()
    )


def test_lost_card_refused_and_receipt_issued(world):
    desk = world.terminal()
    bank = world.terminal("bank_branch")
    psn_no, card = world.insured()
    proof = world.proof(desk, card, "admission")  # challenge before the loss
    answer = bank.post(f"/v1/cards/{card.card_no}/loss", json={}, headers=idem())
    assert answer.status_code == 200, answer.text
    assert answer.json()["replacement_receipt_no"].startswith("RR")
    assert code_of(_challenge(desk, card)) == "card_lost"
    late = desk.post(
        "/v1/admissions", json={"psn_no": psn_no, "insutype": "310", "proof": proof}, headers=idem()
    )
    assert late.status_code == 403 and code_of(late) == "card_lost"
    status = world.admin.get(f"/v1/cards/{card.card_no}").json()
    assert status["status"] == "lost"


def test_cancelled_card_refused(world):
    desk = world.terminal()
    _, card = world.insured()
    answer = world.centre.post(
        f"/v1/cards/{card.card_no}/cancellation", json={"reason": "test"}, headers=idem()
    )
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert code_of(_challenge(desk, card)) == "card_cancelled"


def test_expired_card_refused(world):
    desk = world.terminal()
    _, card = world.insured(expiry="2020-01-01")
    answer = _challenge(desk, card)
    assert answer.status_code == 403 and code_of(answer) == "card_expired"


def test_uncollected_card_refused_until_collected(world):
    desk = world.terminal()
    bank = world.terminal("bank_branch")
    psn_no, card = world.insured(status="issued")
    assert code_of(_challenge(desk, card)) == "card_not_active"
    assert (
        bank.post(
            f"/v1/cards/{card.card_no}/collection", json={"collected_by": "holder"}, headers=idem()
        ).json()["status"]
        == "active"
    )
    world.admit(desk, psn_no, card)


def test_replacement_flow(world):
    desk = world.terminal()
    psn_no, old = world.insured()
    receipt = world.centre.post(f"/v1/cards/{old.card_no}/loss", json={}, headers=idem()).json()
    assert receipt["status"] == "lost"
    import secrets

    from tests.settlement.conftest import CardInfo, uid

    new = CardInfo(uid("X")[:9], secrets.token_bytes(8), old.algorithm, psn_no)
    answer = world.centre.post(
        f"/v1/cards/{old.card_no}/replacement",
        json={
            "card_no": new.card_no,
            "card_id_code": new.id_code,
            "algorithm": "3des",
            "region": "430100",
            "expiry": "2036-01-01",
            "bank_code": "102",
        },
        headers=idem(),
    )
    assert answer.status_code == 201 and answer.json()["status"] == "issued", answer.text
    assert world.admin.get(f"/v1/cards/{old.card_no}").json()["status"] == "lost"
    collected = world.centre.post(f"/v1/cards/{new.card_no}/collection", json={}, headers=idem())
    assert collected.json()["status"] == "active"
    old_status = world.admin.get(f"/v1/cards/{old.card_no}").json()
    assert old_status["status"] == "replaced" and old_status["replaced_by"] == new.card_no
    assert code_of(_challenge(desk, old)) == "card_replaced"
    world.admit(desk, psn_no, new)


def test_duplicate_issuance_cancels_old_card(world):
    psn_no, first = world.insured()
    second = world.card(psn_no)
    assert world.admin.get(f"/v1/cards/{first.card_no}").json()["status"] == "cancelled"
    assert world.admin.get(f"/v1/cards/{second.card_no}").json()["status"] == "active"


def test_loss_of_cancelled_card_is_card_state(world):
    _, card = world.insured()
    world.centre.post(f"/v1/cards/{card.card_no}/cancellation", json={}, headers=idem())
    answer = world.centre.post(f"/v1/cards/{card.card_no}/loss", json={}, headers=idem())
    assert answer.status_code == 409 and code_of(answer) == "card_state"


def test_card_registration_checks_identification_code(world):
    psn_no = world.person()
    answer = world.centre.post(
        "/v1/cards",
        json={
            "card_no": "XBAD00001",
            "card_id_code": "370100D156000005" + "11" * 8,
            "algorithm": "3des",
            "region": "430100",
            "expiry": "2036-01-01",
            "psn_no": psn_no,
        },
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "validation_error"


def test_only_card_centre_registers_cards_and_hospitals_cannot_report_loss(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    answer = desk.post(
        "/v1/cards",
        json={
            "card_no": "XNOPE0001",
            "card_id_code": card.id_code,
            "algorithm": "3des",
            "region": "430100",
            "expiry": "2036-01-01",
            "psn_no": psn_no,
        },
        headers=idem(),
    )
    assert answer.status_code == 403 and code_of(answer) == "not_entitled"
    answer = desk.post(f"/v1/cards/{card.card_no}/loss", json={}, headers=idem())
    assert code_of(answer) == "not_entitled"


def test_1101_lookup_by_card(world):
    desk = world.terminal()
    psn_no, card = world.insured(acct_balance=1234)
    info = desk.get("/v1/people", params={"card_no": card.card_no}).json()
    assert info["psn_no"] == psn_no and info["acct_balance"] == 1234
    assert info["insuinfo"][0]["covered"] is True
    assert "household_register_no" not in info  # only for the card centre / admin
    assert code_of(desk.get("/v1/people", params={"card_no": "XNONE"})) == "card_unknown"


def test_loss_reported_only_at_the_issuing_bank_or_card_centre(world):
    other_bank = world.terminal("bank_branch", bank_code="105")
    _, card = world.insured(bank_code="102")
    answer = other_bank.post(f"/v1/cards/{card.card_no}/loss", json={}, headers=idem())
    assert answer.status_code == 403 and code_of(answer) == "not_entitled"
    assert world.admin.get(f"/v1/cards/{card.card_no}").json()["status"] == "active"
