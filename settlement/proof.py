"""The card-present proof (settlement.md §Card-present proof, steps 1 and 4).

1. :func:`issue_challenge` — a nonce of one cipher block of the card's
   algorithm, bound to (card, purpose, terminal), single-use, short-lived.
2.–3. happen on the card: the holder's SSSE PIN is verified, then INTERNAL
   AUTHENTICATE with key 02 over the nonce answers ``ENC(K02_card, nonce)``.
4. :func:`verify_proof` — recompute the cryptogram with the card's key 02,
   diversified from the transaction master key in the service's key store
   (``KeyStore.card_key(alg, 0x02, region, card_factor)``), check the
   challenge is the caller's, unused and unexpired, and consume it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NoReturn

from sqlalchemy.engine import Connection, Row

from card.crypto import Algorithm, CryptoError, encrypt_ecb
from card.keystore import KEY_TRANSACTION, KeyStore, KeyStoreError
from settlement.problems import Problem
from settlement.service import Principal
from settlement.store import cards

CARD_ID_RID = bytes.fromhex("D156000005")
#: INTERNAL AUTHENTICATE with P2 00 (key 01 as real readers send it) answers the left 8 bytes
#: of the block (card.md §What real cards do); the card authentication accepts that answer.
SHORT_ANSWER = 8


def card_factor(card_id_code: str) -> bytes:
    """The 8 card-unique bytes at the end of the 16-byte card identification code."""
    return bytes.fromhex(card_id_code)[8:16]


def parse_card_id_code(card_id_code: str, region: str) -> bytes:
    """Check a card identification code (region BCD + RID ``D156000005`` + factor); the factor."""
    try:
        raw = bytes.fromhex(card_id_code)
    except ValueError:
        raise Problem(422, "validation_error", "card_id_code must be 32 hex digits") from None
    if len(raw) != 16:
        raise Problem(422, "validation_error", "card_id_code must be 16 bytes (32 hex digits)")
    if raw[:3].hex() != region:
        raise Problem(
            422,
            "validation_error",
            f"card_id_code starts with region {raw[:3].hex().upper()}, but region is {region}",
        )
    if raw[3:8] != CARD_ID_RID:
        raise Problem(422, "validation_error", "card_id_code bytes 4-8 must be D156000005")
    return raw[8:]


def refuse_unusable_card(card: Row, today: date, action: str) -> None:
    """Card states of settlement.md: lost, cancelled, replaced, expired are refused, saying why."""
    subject = card.card_no
    if card.status == "lost":
        raise Problem(
            403,
            "card_lost",
            f"card {card.card_no} was reported lost; use the replacement receipt exemption "
            "until the new card is collected",
            audit=(action, subject),
        )
    if card.status == "cancelled":
        raise Problem(
            403, "card_cancelled", f"card {card.card_no} is cancelled", audit=(action, subject)
        )
    if card.status == "replaced":
        raise Problem(
            403,
            "card_replaced",
            f"card {card.card_no} was replaced by card {card.replaced_by}; use the new card",
            audit=(action, subject),
        )
    if card.status == "issued":
        raise Problem(
            403,
            "card_not_active",
            f"card {card.card_no} has not been collected yet; it becomes usable when collected",
            audit=(action, subject),
        )
    if card.expiry < today:
        raise Problem(
            403,
            "card_expired",
            f"card {card.card_no} expired on {card.expiry.isoformat()}; the holder needs a new card",
            audit=(action, subject),
        )


def load_card(conn: Connection, card_no: str, *, lock: bool = False) -> Row:
    """Every column of the card, or ``404 card_unknown``."""
    card = cards.find(conn, card_no, lock=lock)
    if card is None:
        raise Problem(404, "card_unknown", f"card {card_no} is not registered")
    return card


def load_card_for_proof(conn: Connection, card_no: str):
    """The columns of a card the proof and the card-state checks need (hot path)."""
    card = cards.find_for_proof(conn, card_no)
    if card is None:
        raise Problem(404, "card_unknown", f"card {card_no} is not registered")
    return card


def issue_challenge(
    conn: Connection,
    principal: Principal,
    card_no: str,
    purpose: str,
    now: datetime,
    today: date,
    ttl_s: int,
) -> dict:
    """Proof step 1: a fresh nonce bound to (card, purpose, this terminal)."""
    card = load_card_for_proof(conn, card_no)
    refuse_unusable_card(card, today, f"challenge.{purpose}")
    alg = Algorithm(card.algorithm)
    nonce = secrets.token_bytes(alg.block_size)
    challenge_id = "c_" + secrets.token_hex(16)
    expires_at = now + timedelta(seconds=ttl_s)
    cards.insert_challenge(
        conn, challenge_id, card_no, purpose, principal.terminal_id, nonce.hex().upper(), expires_at
    )
    return {
        "challenge_id": challenge_id,
        "card_no": card_no,
        "purpose": purpose,
        "nonce": nonce.hex().upper(),
        "algorithm": alg.value,
        "expires_at": expires_at.isoformat(),
    }


@lru_cache(maxsize=4096)
def _card_key(keystore_id: int, alg: Algorithm, kid: int, region: str, factor: bytes) -> bytes:
    return _KEYSTORES[keystore_id].card_key(alg, kid, region, factor)


_KEYSTORES: dict[int, KeyStore] = {}


def expected_cryptogram(
    keystore: KeyStore, card: Row, nonce: bytes, kid: int = KEY_TRANSACTION
) -> bytes:
    """``ENC(K02_card, nonce)`` with the card's key 02 derived from the master key (or the
    card's key ``kid``: 01 for a networked card authentication, settlement.card_auth)."""
    _KEYSTORES[id(keystore)] = keystore
    alg = Algorithm(card.algorithm)
    key = _card_key(id(keystore), alg, kid, card.region, card_factor(card.card_id_code))
    return encrypt_ecb(alg, key, nonce)


@dataclass(frozen=True)
class ProofIn:
    card_no: str
    challenge_id: str
    cryptogram: str | None


def verify_proof(
    conn: Connection,
    keystore: KeyStore,
    principal: Principal,
    proof: ProofIn,
    purpose: str,
    now: datetime,
    today: date,
    action: str,
    kid: int = KEY_TRANSACTION,
) -> Row:
    """Proof step 4. Returns the card row; raises a :class:`Problem` saying why it is refused.

    ``kid`` 01 checks the card's INTERNAL AUTHENTICATE key-01 answer instead (the
    genuineness step of a networked card authentication, settlement.card_auth).

    Once the challenge is found to be this terminal's challenge for this card
    and purpose, it is consumed whatever happens next (single-use means one
    attempt: a forged cryptogram burns it).
    """
    cards.prefetch_for_proof(conn, proof.card_no)  # read with the claim: one round trip
    challenge = _consume_challenge(conn, principal, proof, purpose, now, action)
    burn = proof.challenge_id
    card = load_card_for_proof(conn, proof.card_no)
    try:
        refuse_unusable_card(card, today, action)
    except Problem as problem:
        problem.consume_challenge = burn
        raise
    _check_cryptogram(keystore, card, challenge.nonce, proof, action, kid)
    return card


def _consume_challenge(
    conn: Connection,
    principal: Principal,
    proof: ProofIn,
    purpose: str,
    now: datetime,
    action: str,
):
    """The challenge of the proof, consumed: this terminal's, for this card and purpose,
    unused and unexpired (an expired one is consumed too)."""
    challenge = cards.claim_challenge(
        conn, proof.challenge_id, proof.card_no, purpose, principal.terminal_id, now
    )
    if challenge is None:
        _refuse_challenge(conn, principal, proof, purpose, action)
    if challenge.expires_at < now:
        raise Problem(
            403,
            "proof_expired",
            "the challenge expired; ask for a new one",
            audit=(action, proof.card_no),
            consume_challenge=proof.challenge_id,
        )
    return challenge


def _refuse_challenge(
    conn: Connection, principal: Principal, proof: ProofIn, purpose: str, action: str
) -> NoReturn:
    """Why the proof's challenge could not be claimed (:func:`_consume_challenge`)."""
    challenge = cards.find_challenge(conn, proof.challenge_id)
    if challenge is None or challenge.terminal_id != principal.terminal_id:
        # Another terminal's challenge is answered as if there were none (issue 16: a
        # foreign object is a 404), and stays usable by its own terminal.
        raise Problem(
            404,
            "challenge_unknown",
            "no such challenge; ask for a new one",
            audit=(action, proof.card_no),
        )
    if challenge.card_no != proof.card_no or challenge.purpose != purpose:
        raise Problem(
            403,
            "proof_mismatch",
            f"the challenge was issued for card {challenge.card_no}, purpose "
            f"{challenge.purpose}, another or the same terminal; it does not fit this "
            f"{purpose} on this terminal with card {proof.card_no}",
            audit=(action, proof.card_no),
        )
    raise Problem(  # this terminal's, for this card and purpose, but used already
        403,
        "proof_replayed",
        "this challenge was already used; ask for a new one",
        audit=(action, proof.card_no),
    )


def _check_cryptogram(
    keystore: KeyStore, card, nonce_hex: str, proof: ProofIn, action: str, kid: int
) -> None:
    """The presented cryptogram is ``ENC(K02_card, nonce)``; else ``403`` (challenge burnt)."""
    burn = proof.challenge_id
    if not proof.cryptogram:
        raise Problem(
            403,
            "pin_not_verified",
            "no cryptogram: verify the holder's SSSE PIN on the card, then INTERNAL "
            "AUTHENTICATE with key 02 over the nonce",
            audit=(action, proof.card_no),
            consume_challenge=burn,
        )
    try:
        presented = bytes.fromhex(proof.cryptogram)
        expected = expected_cryptogram(keystore, card, bytes.fromhex(nonce_hex), kid)
    except (ValueError, CryptoError, KeyStoreError) as error:
        raise Problem(
            403,
            "proof_invalid",
            f"cryptogram cannot be checked: {error}",
            audit=(action, proof.card_no),
            consume_challenge=burn,
        ) from None
    if kid != KEY_TRANSACTION and len(presented) == SHORT_ANSWER < len(expected):
        expected = expected[:SHORT_ANSWER]  # INTERNAL AUTHENTICATE P2 00 on an SM4 card
    if not hmac.compare_digest(presented, expected):
        raise Problem(
            403,
            "proof_invalid",
            "the cryptogram does not match this card's key 02 (forged, another card, or the "
            "PIN was not verified on the card)"
            if kid == KEY_TRANSACTION
            else f"the cryptogram does not match this card's key {kid:02X} (forged or another card)",
            audit=(action, proof.card_no),
            consume_challenge=burn,
        )
