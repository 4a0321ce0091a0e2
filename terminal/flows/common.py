"""Steps shared by every desk: read + authenticate the card, check it online, prove presence.

Order and meaning from ``docs/rules.md`` §Card-present proof and
``docs/api.md`` §Card-present proof / §PIN operations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from card.keystore import KEY_MEDICAL_READ
from card.sw import SW, tries_left
from terminal.client.http import ServiceError, ServiceRefused
from terminal.client.settlement import SettlementClient
from terminal.i18n import _, ngettext
from terminal.session import CardRead, CardSession, PinBlocked, WrongPin

log = logging.getLogger(__name__)

#: Asks the holder (or the operator) for a PIN or password; the argument is the prompt.
PinEntry = Callable[[str], str]

#: Card states the service reports, mapped to the refusal codes of docs/api.md.
REFUSED_STATES = {
    "lost": "card_lost",
    "cancelled": "card_cancelled",
    "replaced": "card_replaced",
    "issued": "card_not_active",
}


class CardRefused(Exception):
    """The card may not be used (lost, cancelled, replaced, expired, not collected)."""

    def __init__(self, code: str, card_no: str, reason: str) -> None:
        self.code = code
        self.card_no = card_no
        super().__init__(reason)


@dataclass
class PresentedCard:
    """A card read, authenticated and checked online."""

    read: CardRead
    record: dict[str, Any]  # the service's card record (GET /v1/cards/{card_no})

    @property
    def card_no(self) -> str:
        return self.read.issuance.card_number

    @property
    def psn_no(self) -> str:
        return self.record["psn_no"]


def read_card(session: CardSession, *, medical: bool | None = None) -> CardRead:
    """SELECT SSSE, EF05, card and terminal authentication, EF06, and DF04 if allowed.

    ``medical`` None reads DF04 when the PSAM holds key 07 (hospitals).
    """
    card = session.read_public()
    if medical is None:
        medical = session.psam.can(KEY_MEDICAL_READ)
    if medical:
        card.medical = session.read_medical()
    return card


def card_refusal(record: dict[str, Any], today: date | None = None) -> CardRefused | None:
    """Why the service's card record forbids using the card, or None."""
    card_no = record.get("card_no", "?")
    status = record.get("status")
    if status in REFUSED_STATES:
        code = REFUSED_STATES[status]
        reasons = {
            "card_lost": f"card {card_no} was reported lost"
            + (f" on {record['lost_at'][:10]}" if record.get("lost_at") else "")
            + ": use the replacement receipt exemption until the new card is collected",
            "card_cancelled": f"card {card_no} is cancelled",
            "card_replaced": f"card {card_no} was replaced by card {record.get('replaced_by')}",
            "card_not_active": f"card {card_no} has not been collected yet",
        }
        return CardRefused(code, card_no, reasons[code])
    expiry = record.get("expiry")
    expired = record.get("expired")
    if expired is None and expiry:
        expired = date.fromisoformat(expiry) < (today or date.today())
    if expired:
        return CardRefused("card_expired", card_no, f"card {card_no} expired on {expiry}")
    return None


def card_expired(card: CardRead, today: date | None = None) -> bool:
    """Past the expiry date of its EF05 (the card's own record): settlement.md "Expiry date from
    EF05 is enforced", whatever the service's record says."""
    return card.issuance.expiry_date < (today or date.today())


def expiry_refusal(card: CardRead, today: date | None = None) -> CardRefused | None:
    if card_expired(card, today):
        card_no = card.issuance.card_number
        return CardRefused(
            "card_expired", card_no, f"card {card_no} expired on {card.issuance.expiry_date} (EF05)"
        )
    return None


def present_card(
    session: CardSession, client: SettlementClient, *, medical: bool | None = None
) -> PresentedCard:
    """Read and authenticate the card, refuse it if its EF05 expiry date has passed, then check
    its status online; refuse with the reason (always before any PIN is asked)."""
    card = read_card(session, medical=medical)
    refusal = expiry_refusal(card)
    if refusal is not None:
        raise refusal
    record = client.card(card.issuance.card_number)
    if record.get("card_id_code", "").upper() != card.identity.identification_code.hex().upper():
        raise CardRefused(
            "card_mismatch",
            card.issuance.card_number,
            "the card's identification code differs from the registered card: do not accept it",
        )
    refusal = card_refusal(record)
    if refusal is not None:
        raise refusal
    return PresentedCard(card, record)


def audit_pin(
    client: SettlementClient,
    card_no: str,
    pin: str,
    operation: str,
    result: str,
    sw: int | None = None,
) -> None:
    """Report a PIN operation to the service's audit log (docs/api.md §PIN operations).

    The card has already acted; a failure to report is logged, never hidden by
    pretending the card did not act.
    """
    try:
        client.report_pin_operation(card_no, pin, operation, result, sw)
    except ServiceError as exc:
        log.warning("PIN %s %s on card %s not audited: %s", pin, operation, card_no, exc)
        raise


def report_refused(
    client: SettlementClient,
    pin: str,
    operation: str,
    *,
    card_no: str | None = None,
    card_id_code: bytes | None = None,
) -> None:
    """Report a PIN operation this terminal refused (its PSAM or the service's authority said
    no) as ``attempted``: the service refuses it again and writes the refusal to its audit log
    (settlement.md §PIN authority: "the service refuses and audits operations outside the role").

    The refusal itself is what the caller raises next; a failure to report is logged only.
    """
    try:
        client.report_pin_operation(card_no, pin, operation, "attempted", card_id_code=card_id_code)
    except ServiceRefused as exc:
        if exc.code != "not_entitled":
            log.warning("refused PIN %s %s not audited: %s", pin, operation, exc)
    except ServiceError as exc:
        log.warning("refused PIN %s %s not audited: %s", pin, operation, exc)


def verify_pin(
    session: CardSession,
    client: SettlementClient,
    card_no: str,
    pin_entry: PinEntry,
    *,
    attempts: int = 1,
) -> None:
    """SSSE VERIFY with the holder's PIN; each result is audited.

    Up to ``attempts`` PINs are asked while the card has tries left. Raises
    :class:`WrongPin` or :class:`PinBlocked` when the holder does not get it right.
    """
    prompt = _("social security PIN (社保密码): ")
    for attempt in range(1, attempts + 1):
        pin = pin_entry(prompt)
        try:
            session.verify_pin(pin)
        except WrongPin as exc:
            result = "blocked" if exc.tries_left == 0 else "wrong_pin"
            audit_pin(client, card_no, "ssse", "verify", result, tries_left(exc.tries_left))
            if exc.tries_left == 0 or attempt == attempts:
                raise
            n = exc.tries_left
            prompt = ngettext(
                "wrong PIN, {n} try left. Social security PIN (社保密码): ",
                "wrong PIN, {n} tries left. Social security PIN (社保密码): ",
                n,
            ).format(n=n)
            continue
        except PinBlocked:
            audit_pin(client, card_no, "ssse", "verify", "blocked", SW.PIN_BLOCKED)
            raise
        audit_pin(client, card_no, "ssse", "verify", "ok", SW.OK)
        return


def prove_card_present(
    session: CardSession,
    client: SettlementClient,
    card_no: str,
    purpose: str,
    pin_entry: PinEntry,
    *,
    attempts: int = 1,
) -> dict[str, str]:
    """The four proof steps: challenge → VERIFY → INTERNAL AUTHENTICATE 02 → the proof object."""
    challenge = client.challenge(card_no, purpose)
    nonce = bytes.fromhex(challenge["nonce"])
    verify_pin(session, client, card_no, pin_entry, attempts=attempts)
    cryptogram = session.card_present_proof(nonce)
    return {
        "card_no": card_no,
        "challenge_id": challenge["challenge_id"],
        "cryptogram": cryptogram.hex().upper(),
    }
