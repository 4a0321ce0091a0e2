"""Networked card authentication (docs/api.md §Card authentication, issue 13) through the API.

The card's answers are computed as the card computes them: key 01 over the
``card_authentication`` nonce, key 02 over the ``pin_verification`` nonce.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from card.crypto import Algorithm, encrypt_ecb
from card.keystore import KEY_INTERNAL_AUTH
from settlement.store.db import create_engine_for_cli
from tests.settlement.conftest import REGION, World, code_of, idem


def _key01_answer(world, card, nonce_hex: str) -> str:
    key = world.keystore.card_key(card.algorithm, KEY_INTERNAL_AUTH, REGION, card.factor)
    return encrypt_ecb(card.algorithm, key, bytes.fromhex(nonce_hex)).hex().upper()


def _authenticate(world, desk, card, *, answer=None, expect=201):
    challenge = world.challenge(desk, card, "card_authentication")
    body = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": answer or _key01_answer(world, card, challenge["nonce"]),
    }
    reply = desk.post("/v1/card-authentications", json=body, headers=idem())
    assert reply.status_code == expect, reply.text
    return reply, body


def _verify_pin(world, desk, card, token, *, expect=200):
    challenge = world.challenge(desk, card, "pin_verification")
    body = {
        "challenge_id": challenge["challenge_id"],
        "cryptogram": world.cryptogram(card, challenge["nonce"]),
    }
    reply = desk.post(
        f"/v1/card-authentications/{token}/pin-verification", json=body, headers=idem()
    )
    assert reply.status_code == expect, reply.text
    return reply


def _admit(desk, psn_no, token):
    return desk.post(
        "/v1/admissions",
        json={"psn_no": psn_no, "insutype": "310", "card_authentication": token},
        headers=idem(),
    )


def _settle(desk, mdtrt_id, token):
    return desk.post(
        f"/v1/admissions/{mdtrt_id}/settlement",
        json={"card_authentication": token},
        headers=idem(),
    )


def test_authentication_admits_and_pin_verified_one_settles(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    reply, _ = _authenticate(world, desk, card)
    auth = reply.json()
    assert auth["token"].startswith("ca_") and auth["card_no"] == card.card_no
    assert auth["card_sn"] == card.id_code and auth["psn_no"] == psn_no
    assert auth["pin_verified"] is False and auth["fixmedins_code"] == desk.institution
    admitted = _admit(desk, psn_no, auth["token"])
    assert admitted.status_code == 201, admitted.text
    admission = admitted.json()
    assert admission["auth_method"] == "card" and admission["card_no"] == card.card_no
    world.fees(desk, admission["mdtrt_id"], [("A", 1, 10000)])
    # A settlement needs the holder: refused until the PIN upgrade.
    refused = _settle(desk, admission["mdtrt_id"], auth["token"])
    assert refused.status_code == 403 and code_of(refused) == "pin_not_verified"
    upgraded = _verify_pin(world, desk, card, auth["token"]).json()
    assert upgraded["pin_verified"] is True and upgraded["pin_verified_at"]
    settled = _settle(desk, admission["mdtrt_id"], auth["token"])
    assert settled.status_code == 201, settled.text
    assert settled.json()["auth_method"] == "card"
    read = desk.get(f"/v1/card-authentications/{auth['token']}")
    assert read.status_code == 200 and read.json()["pin_verified"] is True


def test_token_refused_at_another_institution(world):
    desk = world.terminal()
    other = world.terminal()
    psn_no, card = world.insured()
    token = _authenticate(world, desk, card)[0].json()["token"]
    answer = _admit(other, psn_no, token)
    assert answer.status_code == 403 and code_of(answer) == "card_auth_foreign"
    assert other.get(f"/v1/card-authentications/{token}").status_code == 404
    # Another terminal of the same institution may use it (the HIS server, the ward desk).
    colleague = world.second_terminal(desk)
    assert _admit(colleague, psn_no, token).status_code == 201
    # ... but the PIN is verified in the reader session that made it.
    refused = _verify_pin(world, colleague, card, token, expect=403)
    assert code_of(refused) == "card_auth_foreign"


def test_token_refused_for_another_person_and_unknown(world):
    desk = world.terminal()
    _, card = world.insured()
    somebody = world.person()
    token = _authenticate(world, desk, card)[0].json()["token"]
    answer = _admit(desk, somebody, token)
    assert answer.status_code == 403 and code_of(answer) == "card_not_holder"
    unknown = _admit(desk, somebody, "ca_" + "0" * 32)
    assert unknown.status_code == 404 and code_of(unknown) == "card_auth_unknown"


def test_replayed_authentication_refused(world):
    desk = world.terminal()
    _, card = world.insured()
    _, body = _authenticate(world, desk, card)
    again = desk.post("/v1/card-authentications", json=body, headers=idem())
    assert again.status_code == 403 and code_of(again) == "proof_replayed"


def test_wrong_key_answer_refused(world):
    desk = world.terminal()
    _, card = world.insured()
    challenge = world.challenge(desk, card, "card_authentication")
    # The key-02 answer is not the key-01 answer: a PIN proof cannot pose as genuineness.
    body = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": world.cryptogram(card, challenge["nonce"]),
    }
    answer = desk.post("/v1/card-authentications", json=body, headers=idem())
    assert answer.status_code == 403 and code_of(answer) == "proof_invalid"
    assert "key 01" in answer.json()["detail"]


def test_admission_challenge_cannot_authenticate(world):
    desk = world.terminal()
    _, card = world.insured()
    challenge = world.challenge(desk, card, "admission")
    body = {
        "card_no": card.card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": _key01_answer(world, card, challenge["nonce"]),
    }
    answer = desk.post("/v1/card-authentications", json=body, headers=idem())
    assert answer.status_code == 403 and code_of(answer) == "proof_mismatch"


def test_second_pin_upgrade_refused(world):
    desk = world.terminal()
    _, card = world.insured()
    token = _authenticate(world, desk, card)[0].json()["token"]
    _verify_pin(world, desk, card, token)
    again = _verify_pin(world, desk, card, token, expect=403)
    assert code_of(again) == "card_auth_pin_done"


def test_lost_card_refused_with_reason(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    token = _authenticate(world, desk, card)[0].json()["token"]
    lost = world.centre.post(f"/v1/cards/{card.card_no}/loss", json={}, headers=idem())
    assert lost.status_code in (200, 201), lost.text
    # The token of a card reported lost since is refused ...
    answer = _admit(desk, psn_no, token)
    assert answer.status_code == 403 and code_of(answer) == "card_lost"
    assert "lost" in answer.json()["detail"]
    # ... and so is a new authentication.
    answer = desk.post(
        "/v1/challenges",
        json={"card_no": card.card_no, "purpose": "card_authentication"},
        headers=idem(),
    )
    assert answer.status_code == 403 and code_of(answer) == "card_lost"


def test_expired_card_refused(world):
    desk = world.terminal()
    _, card = world.insured(expiry="2020-01-01")
    answer = desk.post(
        "/v1/challenges",
        json={"card_no": card.card_no, "purpose": "card_authentication"},
        headers=idem(),
    )
    assert answer.status_code == 403 and code_of(answer) == "card_expired"


def test_proof_and_card_authentication_together_refused(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    token = _authenticate(world, desk, card)[0].json()["token"]
    body = {
        "psn_no": psn_no,
        "insutype": "310",
        "card_authentication": token,
        "proof": world.proof(desk, card, "admission"),
    }
    answer = desk.post("/v1/admissions", json=body, headers=idem())
    assert answer.status_code == 422


def test_authentication_is_audited(world, api):
    desk = world.terminal()
    _, card = world.insured()
    token = _authenticate(world, desk, card)[0].json()["token"]
    _verify_pin(world, desk, card, token)
    engine = create_engine_for_cli(api.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT action, institution_code, outcome FROM audit_log WHERE subject = :card"
                " AND action LIKE 'card_authentication%' ORDER BY id"
            ),
            {"card": card.card_no},
        ).all()
    engine.dispose()
    assert [(r.action, r.institution_code, r.outcome) for r in rows] == [
        ("card_authentication", desk.institution, "ok"),
        ("card_authentication.pin", desk.institution, "ok"),
    ]


def test_token_refused_after_its_window(settlement_service_factory):
    world = World(settlement_service_factory(extra_env={"SSCARD_CARD_AUTH_WINDOW": "1"}))
    desk = world.terminal()
    psn_no, card = world.insured()
    token = _authenticate(world, desk, card)[0].json()["token"]
    time.sleep(1.3)
    answer = _admit(desk, psn_no, token)
    assert answer.status_code == 403 and code_of(answer) == "card_auth_expired"
    late = _verify_pin(world, desk, card, token, expect=403)
    assert code_of(late) == "card_auth_expired"


def test_sm4_card_answers_the_left_half_as_real_readers_ask(world):
    """INTERNAL AUTHENTICATE P2 00 on an SM4 card answers 8 bytes (card.md §What real cards do)."""
    desk = world.terminal()
    psn_no, card = world.insured(algorithm=Algorithm.SM4)
    challenge = world.challenge(desk, card, "card_authentication")
    assert len(bytes.fromhex(challenge["nonce"])) == 16
    left = _key01_answer(world, card, challenge["nonce"])[:16]
    wrong = ("00" if left[:2] != "00" else "11") + left[2:]
    body = {"card_no": card.card_no, "challenge_id": challenge["challenge_id"], "cryptogram": wrong}
    refused = desk.post("/v1/card-authentications", json=body, headers=idem())
    assert refused.status_code == 403 and code_of(refused) == "proof_invalid"
    challenge = world.challenge(desk, card, "card_authentication")
    left = _key01_answer(world, card, challenge["nonce"])[:16]
    body = {"card_no": card.card_no, "challenge_id": challenge["challenge_id"], "cryptogram": left}
    accepted = desk.post("/v1/card-authentications", json=body, headers=idem())
    assert accepted.status_code == 201, accepted.text
    assert _admit(desk, psn_no, accepted.json()["token"]).status_code == 201
