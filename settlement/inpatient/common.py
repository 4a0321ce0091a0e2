"""What the steps of a stay share: record ids, and authenticating the holder (settlement.md:
card authentication, or an exemption with its evidence, at admission and at discharge)."""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime

from sqlalchemy.engine import Connection

from card.keystore import KeyStore
from settlement.card_auth import card_for_use
from settlement.people import person_facts
from settlement.problems import Problem
from settlement.proof import ProofIn, verify_proof
from settlement.rules.exemptions import check_exemption
from settlement.rules.stays import StayTimeError
from settlement.schemas import ExemptionBody
from settlement.service import Principal


def new_id(prefix: str, now: datetime) -> str:
    """A record id: the prefix (M admission, S settlement, R reversal), the time, 48 random bits."""
    return f"{prefix}{now:%Y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


def time_refused(error: StayTimeError) -> Problem:
    """A stay time outside its window (:mod:`settlement.rules.stays`) as ``422``."""
    return Problem(422, error.code, str(error))


def authenticate_holder(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    person,
    proof,
    exemption: ExemptionBody | None,
    purpose: str,
    on: date,
    now: datetime,
    today: date,
    card_authentication: str | None = None,
) -> tuple[str, str | None, str | None]:
    """Card proof, networked card authentication or exemption; returns (auth_method, card_no,
    evidence JSON). A settlement (``discharge``) needs a PIN-verified card authentication."""
    action = purpose
    if card_authentication is not None:
        card_no, evidence = card_for_use(
            conn,
            principal,
            card_authentication,
            person.psn_no,
            need_pin=purpose == "discharge",
            now=now,
            today=today,
            action=action,
        )
        return "card", card_no, evidence
    if proof is not None:
        card = verify_proof(
            conn,
            keystore,
            principal,
            ProofIn(proof.card_no, proof.challenge_id, proof.cryptogram),
            purpose,
            now,
            today,
            action,
        )
        if card.psn_no != person.psn_no:
            raise Problem(
                403,
                "card_not_holder",
                f"card {card.card_no} belongs to another person, not {person.psn_no}",
                audit=(action, card.card_no),
                consume_challenge=proof.challenge_id,
            )
        return "card", card.card_no, None
    if exemption is None:
        raise Problem(
            403,
            "card_required",
            "card authentication is required: send a proof (challenge + cryptogram), or an "
            "exemption with its evidence",
            audit=(action, person.psn_no),
        )
    evidence = exemption.evidence()
    decision = check_exemption(exemption.kind, evidence, person_facts(conn, person), on)
    if not decision.accepted:
        raise Problem(
            403,
            "exemption_refused",
            decision.reason,
            extra={"reason_code": decision.code, "kind": exemption.kind},
            audit=(f"{action}.exemption.{exemption.kind}", person.psn_no),
        )
    record = json.dumps(
        {"kind": exemption.kind, **evidence, "decision": decision.reason},
        ensure_ascii=False,
        sort_keys=True,
    )
    return exemption.kind, None, record
