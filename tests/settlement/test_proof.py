"""Card-present proof (settlement.md §Card-present proof): every way a proof can be wrong."""

from __future__ import annotations

import time

from card.crypto import Algorithm
from tests.settlement.conftest import code_of, idem


def _admit(desk, psn_no, proof):
    return desk.post(
        "/v1/admissions", json={"psn_no": psn_no, "insutype": "310", "proof": proof}, headers=idem()
    )


def test_valid_proof_admits_and_records_card(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    admission = world.admit(desk, psn_no, card)
    assert admission["auth_method"] == "card" and admission["card_no"] == card.card_no


def test_sm4_card_proof(world):
    desk = world.terminal()
    psn_no, card = world.insured(algorithm=Algorithm.SM4)
    challenge = world.challenge(desk, card, "admission")
    assert len(bytes.fromhex(challenge["nonce"])) == 16 and challenge["algorithm"] == "sm4"
    proof = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": world.cryptogram(card, challenge["nonce"]),
    }
    assert _admit(desk, psn_no, proof).status_code == 201


def test_forged_cryptogram_refused_and_burns_challenge(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    challenge = world.challenge(desk, card, "admission")
    good = world.cryptogram(card, challenge["nonce"])
    forged = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": ("00" if good[:2] != "00" else "11") + good[2:],
    }
    answer = _admit(desk, psn_no, forged)
    assert answer.status_code == 403 and code_of(answer) == "proof_invalid"
    # Single-use: the genuine cryptogram for the same challenge is now a replay.
    again = _admit(desk, psn_no, {**forged, "cryptogram": good})
    assert code_of(again) == "proof_replayed"


def test_replayed_proof_refused(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    proof = world.proof(desk, card, "admission")
    assert _admit(desk, psn_no, proof).status_code == 201
    answer = _admit(desk, psn_no, proof)  # new idempotency key, same proof
    assert answer.status_code == 403 and code_of(answer) == "proof_replayed"


def test_other_cards_cryptogram_refused(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    _, other = world.insured()
    challenge = world.challenge(desk, card, "admission")
    proof = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": world.cryptogram(other, challenge["nonce"]),
    }
    answer = _admit(desk, psn_no, proof)
    assert code_of(answer) == "proof_invalid"


def test_challenge_of_other_card_refused(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    _, other = world.insured()
    challenge = world.challenge(desk, other, "admission")
    proof = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": world.cryptogram(card, challenge["nonce"]),
    }
    assert code_of(_admit(desk, psn_no, proof)) == "proof_mismatch"


def test_other_persons_card_refused(world):
    desk = world.terminal()
    psn_no = world.person()
    _, card = world.insured()
    answer = _admit(desk, psn_no, world.proof(desk, card, "admission"))
    assert code_of(answer) == "card_not_holder"


def test_other_terminal_refused(world):
    desk = world.terminal()
    other_desk = world.second_terminal(desk)
    psn_no, card = world.insured()
    proof = world.proof(desk, card, "admission")
    answer = _admit(other_desk, psn_no, proof)
    # Issue 16: another terminal's challenge is a 404 like an unknown one (no existence leak).
    assert answer.status_code == 404 and code_of(answer) == "challenge_unknown"
    # The challenge was not burnt by the foreign terminal: its own terminal can still use it.
    assert _admit(desk, psn_no, proof).status_code == 201


def test_wrong_purpose_refused(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    proof = world.proof(desk, card, "discharge")
    assert code_of(_admit(desk, psn_no, proof)) == "proof_mismatch"


def test_missing_cryptogram_is_pin_not_verified(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    challenge = world.challenge(desk, card, "admission")
    answer = _admit(
        desk, psn_no, {"card_no": card.card_no, "challenge_id": challenge["challenge_id"]}
    )
    assert answer.status_code == 403 and code_of(answer) == "pin_not_verified"


def test_unknown_challenge(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    answer = _admit(
        desk, psn_no, {"card_no": card.card_no, "challenge_id": "c_nope", "cryptogram": "00" * 8}
    )
    assert code_of(answer) == "challenge_unknown"


def test_no_card_no_exemption_refused(world):
    desk = world.terminal()
    psn_no, _card = world.insured()
    answer = desk.post("/v1/admissions", json={"psn_no": psn_no, "insutype": "310"}, headers=idem())
    assert answer.status_code == 403 and code_of(answer) == "card_required"


def test_discharge_needs_its_own_proof(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    admission = world.admit(desk, psn_no, card)
    world.fees(desk, admission["mdtrt_id"], [("A", 1, 100000)])
    answer = desk.post(
        f"/v1/admissions/{admission['mdtrt_id']}/settlement", json={}, headers=idem()
    )
    assert code_of(answer) == "card_required"
    used = world.proof(desk, card, "admission")
    answer = desk.post(
        f"/v1/admissions/{admission['mdtrt_id']}/settlement", json={"proof": used}, headers=idem()
    )
    assert code_of(answer) == "proof_mismatch"
    assert world.settle(desk, admission["mdtrt_id"], card)["status"] == "settled"


def test_expired_challenge_refused(settlement_service_factory):
    """A service with a 1-second challenge lifetime (SQLite; the rule is not database-specific)."""
    from tests.settlement.conftest import World

    service = settlement_service_factory(extra_env={"SSCARD_CHALLENGE_TTL": "1"})
    world = World(service)
    desk = world.terminal()
    psn_no, card = world.insured()
    proof = world.proof(desk, card, "admission")
    time.sleep(1.3)
    answer = _admit(desk, psn_no, proof)
    assert answer.status_code == 403 and code_of(answer) == "proof_expired"


def test_real_virtual_card_proof(world):
    """The cryptogram from a real card OS (card.icc.VirtualCard) after SSSE VERIFY."""
    from card.icc import VirtualCard
    from card.issue import new_card, sample_holder

    desk = world.terminal()
    psn_no = world.person()
    image = new_card(
        None,
        sample_holder(),
        keystore=world.keystore,
        algorithm=Algorithm.SM4,
        region="430100",
        psn_no=psn_no,
    )
    card_obj = VirtualCard(image)
    card_obj.power_on()
    info = world.card(psn_no, algorithm=Algorithm.SM4, factor=image.card_factor)
    challenge = world.challenge(desk, info, "admission")
    aid = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
    assert card_obj.transmit(bytes([0, 0xA4, 4, 0x0C, len(aid)]) + aid)[-2:] == b"\x90\x00"
    nonce = bytes.fromhex(challenge["nonce"])
    internal_auth = bytes([0, 0x88, 0, 2, len(nonce)]) + nonce + b"\x00"
    assert card_obj.transmit(internal_auth)[-2:] != b"\x90\x00"  # PIN not verified: no answer
    assert card_obj.transmit(bytes.fromhex("0020000003123456"))[-2:] == b"\x90\x00"
    response = card_obj.transmit(internal_auth)
    assert response[-2:] == b"\x90\x00"
    proof = {
        "card_no": info.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": response[:-2].hex(),
    }
    assert _admit(desk, psn_no, proof).status_code == 201
