"""PIN maintenance: unblock/reset the SSSE PIN, the holder's own PIN change.

Authority (settlement.md §PIN authority) is checked twice before a byte
goes to the card: the PSAM must hold key 03, and the service's
``GET /v1/pin-authority`` must allow it. The card operation is then audited
with ``POST /v1/pin-operations``.
"""

from __future__ import annotations

from dataclasses import dataclass

from card.sw import SW, tries_left
from terminal import apdu
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient
from terminal.flows.common import PinEntry, audit_pin, read_card, report_refused
from terminal.psam import NotEntitled
from terminal.session import CardSession, PinBlocked, WrongPin


@dataclass
class PinResult:
    card_no: str
    pin: str  # "ssse" | "bank"
    operation: str  # "change" | "reset" | "unblock"
    tries_left: int | None = None


def check_authority(client: SettlementClient, card_no: str, pin: str, operation: str) -> None:
    """Ask the service (nothing written) whether this institution may do the operation."""
    answer = client.pin_authority(card_no, pin, operation)
    if not answer.get("allowed"):
        reason = answer.get("reason") or "the service does not allow it"
        report_refused(client, pin, operation, card_no=card_no)  # audited by the service
        raise NotEntitled(f"{operation} the {pin} PIN", reason)


def new_pin_entry(pin_entry: PinEntry, label: str) -> str:
    """Ask for a new PIN twice; both must match."""
    first = pin_entry(f"new {label}: ")
    second = pin_entry(f"new {label} again: ")
    if first != second:
        raise ValueError("the two new PINs differ: nothing was changed")
    apdu.pin_block(first)  # validates the digits and length before the card sees it
    return first


def unblock_ssse_pin(
    session: CardSession,
    client: SettlementClient,
    *,
    new_pin: str | None = None,
) -> PinResult:
    """RESET RETRY COUNTER with the key-03 MAC: unblock, or set ``new_pin`` and unblock."""
    operation = "reset" if new_pin else "unblock"
    try:
        session.psam.require_pin_unblock(session.identity, new_pin)  # before any byte to the card
    except NotEntitled:
        report_refused(client, "ssse", operation, card_id_code=session.identity.identification_code)
        raise
    card = read_card(session, medical=False)
    card_no = card.issuance.card_number
    check_authority(client, card_no, "ssse", operation)
    try:
        session.reset_retry_counter(new_pin)
    except apdu.CardStatusError as exc:
        audit_pin(client, card_no, "ssse", operation, "failed", exc.sw)
        raise
    audit_pin(client, card_no, "ssse", operation, "ok", SW.OK)
    return PinResult(card_no, "ssse", operation, session.pin_tries_left())


def change_ssse_pin(
    session: CardSession, client: SettlementClient, old_pin: str, new_pin: str
) -> PinResult:
    """The holder changes the SSSE PIN with the old one (CHANGE PIN ``80 5E 01 00``)."""
    apdu.pin_block(new_pin)
    card = read_card(session, medical=False)
    card_no = card.issuance.card_number
    try:
        session.change_pin(old_pin, new_pin)
    except WrongPin as exc:
        result = "blocked" if exc.tries_left == 0 else "wrong_pin"
        audit_pin(client, card_no, "ssse", "change", result, tries_left(exc.tries_left))
        raise
    except PinBlocked:
        audit_pin(client, card_no, "ssse", "change", "blocked", SW.PIN_BLOCKED)
        raise
    audit_pin(client, card_no, "ssse", "change", "ok", SW.OK)
    return PinResult(card_no, "ssse", "change")


def refused_by_service(exc: ServiceRefused) -> bool:
    return exc.code == "not_entitled"
