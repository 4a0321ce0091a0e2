"""PIN maintenance: unblock/reset the SSSE PIN, the holder's own PIN change.

Authority (settlement.md §PIN authority) is checked twice before a byte
goes to the card: the PSAM must hold key 03, and the service's
``GET /v1/pin-authority`` must allow it. The card operation is then audited
with ``POST /v1/pin-operations``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from card.sw import SW, tries_left
from terminal import apdu
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient
from terminal.flows.common import PinEntry, audit_pin, read_card, report_refused
from terminal.i18n import _
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


#: How many times a counter asks for a new PIN (and its confirmation) before giving up.
NEW_PIN_ROUNDS = 3


def weak_pin_reason(pin: str) -> str | None:
    """Why ``pin`` may not be a new PIN (card.md §PINs: 4 to 12 digits), or None.

    The digits all the same (111111) and straight runs up or down (123456,
    654321) are refused: they are the first a thief tries.
    """
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        return _("a PIN is 4 to 12 digits")
    if len(set(pin)) == 1:
        return _("all digits the same")
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if steps in ({1}, {9}):
        return _("digits in sequence")
    return None


def new_pin_entry(
    pin_entry: PinEntry, label: str, *, tell: Callable[[str], None] | None = None
) -> str:
    """Ask for a new PIN and its confirmation; a weak PIN or a mismatched confirmation is
    said (``tell``) and asked again, up to :data:`NEW_PIN_ROUNDS` times."""
    tell = tell or (lambda text: None)
    for _round in range(NEW_PIN_ROUNDS):
        first = pin_entry(_("new {label}: ").format(label=label))
        reason = weak_pin_reason(first)
        if reason:
            tell(
                _("not accepted as a new PIN: {reason}. Please choose another.").format(
                    reason=reason
                )
            )
            continue
        if pin_entry(_("new {label} again: ").format(label=label)) != first:
            tell(_("the two new PINs differ; please enter them again."))
            continue
        return first
    raise ValueError(
        _("no acceptable new PIN after {n} tries: nothing was changed").format(n=NEW_PIN_ROUNDS)
    )


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
