"""Networked card authentication (联网认证): docs/api.md §Card authentication, issue 13.

The reader library's ``ReadCardBas`` proves the card to the service and its
``VerifyPIN`` proves the holder (reader-library.md §pBusiCardInfo):

1. ``POST /v1/challenges`` with purpose ``card_authentication`` gives a nonce;
   the card answers INTERNAL AUTHENTICATE with key 01 (is it genuine?);
   :func:`authenticate` checks the answer and the card's state (lost, cancelled,
   expired... are refused saying why), records an authentication bound to the
   card, the institution and the terminal, audits it and returns its token.
2. ``POST /v1/challenges`` with purpose ``pin_verification`` gives a fresh
   nonce; once the holder verified the SSSE PIN on the card, the card answers
   INTERNAL AUTHENTICATE with key 02; :func:`verify_pin` checks it and marks the
   authentication PIN-verified.
3. An admission or a settlement may present the token instead of a proof
   (:func:`card_for_use`, rules in :mod:`settlement.rules.card_auth`).
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime

from sqlalchemy.engine import Connection

from card.keystore import KEY_INTERNAL_AUTH, KeyStore
from settlement.authority import require_role
from settlement.problems import Problem
from settlement.proof import ProofIn, load_card_for_proof, refuse_unusable_card, verify_proof
from settlement.rules.card_auth import (
    CardAuthFacts,
    CardAuthRefused,
    check_pin_upgrade,
    check_use,
    expiry,
)
from settlement.rules.roles import HOSPITAL
from settlement.schemas import CardAuthenticationIn, PinVerificationIn
from settlement.service import Principal, audit
from settlement.store import card_auth as store
from settlement.store.card_auth import CardAuthRecord

PURPOSE_CARD = "card_authentication"
PURPOSE_PIN = "pin_verification"


def view(record: CardAuthRecord) -> dict:
    """The authentication as the API shows it."""
    return {
        "token": record.token,
        "card_no": record.card_no,
        "card_sn": record.card_id_code,
        "psn_no": record.psn_no,
        "fixmedins_code": record.institution_code,
        "terminal_id": record.terminal_id,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "pin_verified": record.pin_verified,
        "pin_verified_at": record.pin_verified_at.isoformat() if record.pin_verified else None,
    }


def _facts(record: CardAuthRecord) -> CardAuthFacts:
    return CardAuthFacts(
        institution_code=record.institution_code,
        terminal_id=record.terminal_id,
        psn_no=record.psn_no,
        expires_at=record.expires_at,
        pin_verified=record.pin_verified,
    )


def authenticate(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    body: CardAuthenticationIn,
    now: datetime,
    today: date,
    window_s: int,
) -> dict:
    """Step 1: the card's key-01 answer over the nonce → a new authentication (audited)."""
    action = PURPOSE_CARD
    require_role(principal, HOSPITAL, action=action, subject=body.card_no)
    card = verify_proof(
        conn,
        keystore,
        principal,
        ProofIn(body.card_no, body.challenge_id, body.cryptogram),
        PURPOSE_CARD,
        now,
        today,
        action,
        kid=KEY_INTERNAL_AUTH,
    )
    record = CardAuthRecord(
        token="ca_" + secrets.token_hex(16),
        card_no=card.card_no,
        card_id_code=card.card_id_code.upper(),
        psn_no=card.psn_no,
        institution_code=principal.institution_code or "",
        terminal_id=principal.terminal_id or "",
        key_id=principal.key_id,
        challenge_id=body.challenge_id,
        created_at=now,
        expires_at=expiry(now, window_s),
        pin_challenge_id=None,
        pin_verified_at=None,
    )
    store.insert(conn, record)
    audit(conn, principal, action, card.card_no, detail={"token": record.token}, at=now)
    return view(record)


def _load(conn: Connection, token: str, action: str, *, lock: bool = False) -> CardAuthRecord:
    record = store.find(conn, token, lock=lock)
    if record is None:
        raise Problem(
            404,
            "card_auth_unknown",
            "no such card authentication; read the card (ReadCardBas) for a new one",
            audit=(action, token[:40]),
        )
    return record


def verify_pin(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    token: str,
    body: PinVerificationIn,
    now: datetime,
    today: date,
) -> dict:
    """Step 2: the card's key-02 answer (PIN verified on the card) upgrades the authentication."""
    action = "card_authentication.pin"
    require_role(principal, HOSPITAL, action=action, subject=token[:40])
    record = _load(conn, token, action, lock=True)
    try:
        check_pin_upgrade(
            _facts(record),
            institution_code=principal.institution_code,
            terminal_id=principal.terminal_id,
            now=now,
        )
    except CardAuthRefused as refused:
        raise Problem(403, refused.code, refused.message, audit=(action, record.card_no)) from None
    verify_proof(
        conn,
        keystore,
        principal,
        ProofIn(record.card_no, body.challenge_id, body.cryptogram),
        PURPOSE_PIN,
        now,
        today,
        action,
    )
    store.mark_pin_verified(conn, token, body.challenge_id, now)
    audit(conn, principal, action, record.card_no, detail={"token": token}, at=now)
    return view(store.find(conn, token))


def read(conn: Connection, principal: Principal, token: str) -> dict:
    """``GET /v1/card-authentications/{token}``: the caller's institution's own only (404)."""
    record = store.find(conn, token)
    if record is None or record.institution_code != principal.institution_code:
        raise Problem(404, "card_auth_unknown", "no such card authentication")
    return view(record)


def card_for_use(
    conn: Connection,
    principal: Principal,
    token: str,
    psn_no: str,
    *,
    need_pin: bool,
    now: datetime,
    today: date,
    action: str,
) -> tuple[str, str]:
    """An admission's or a settlement's card authentication: (card_no, evidence JSON).

    Refused (403, audited) at another institution, after the window, for another
    person, without a verified PIN when ``need_pin``, and when the card is no
    longer usable (reported lost since, expired...)."""
    record = _load(conn, token, action)
    try:
        check_use(
            _facts(record),
            institution_code=principal.institution_code,
            psn_no=psn_no,
            now=now,
            need_pin=need_pin,
        )
    except CardAuthRefused as refused:
        raise Problem(403, refused.code, refused.message, audit=(action, record.card_no)) from None
    card = load_card_for_proof(conn, record.card_no)
    refuse_unusable_card(card, today, action)
    evidence = json.dumps(
        {"card_authentication": token, "pin_verified": record.pin_verified}, sort_keys=True
    )
    return record.card_no, evidence
