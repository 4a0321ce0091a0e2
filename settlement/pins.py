"""PIN operations a terminal reports, checked against the PIN authority table
(settlement.md §PIN authority; docs/api.md §PIN operations).

The card does the PIN work; the service decides whether the caller's
institution may do it (:func:`settlement.authority.pin_authority`) and keeps
an audit entry of every operation and every refusal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from settlement import proof
from settlement.authority import pin_authority
from settlement.problems import Problem
from settlement.schemas import PinOperationIn
from settlement.service import Principal, audit
from settlement.store import cards


def record_pin_operation(
    conn: Connection, principal: Principal, body: PinOperationIn, now: datetime
) -> dict:
    """Record one PIN operation on a card named by ``card_no`` or ``card_id_code``;
    ``404 card_unknown``, or ``403 not_entitled`` (audited) outside the table."""
    card = (
        cards.find(conn, body.card_no)
        if body.card_no is not None
        else cards.find_by_id_code(conn, body.card_id_code.upper())
    )
    if card is None:
        raise Problem(
            404, "card_unknown", f"card {body.card_no or body.card_id_code} is not registered"
        )
    action = f"pin.{body.pin}.{body.operation}"
    decision = pin_authority(principal, body.pin, body.operation, card.bank_code)
    if not decision.allowed:
        raise Problem(403, "not_entitled", decision.reason, audit=(action, card.card_no))
    audit_id = audit(
        conn,
        principal,
        action,
        card.card_no,
        outcome="ok",
        detail={"result": body.result, "sw": body.sw},
        at=now,
        with_id=True,
    )
    return {
        "audit_id": audit_id,
        "allowed": True,
        "card_no": card.card_no,
        "pin": body.pin,
        "operation": body.operation,
        "result": body.result,
    }


def authority_answer(
    conn: Connection, principal: Principal, card_no: str, pin: str, operation: str
) -> dict:
    """``GET /v1/pin-authority``: may the caller do ``operation`` on the card's ``pin``?"""
    card = proof.load_card(conn, card_no)
    decision = pin_authority(principal, pin, operation, card.bank_code)
    return {
        "allowed": decision.allowed,
        "code": None if decision.allowed else "not_entitled",
        "reason": decision.reason,
    }
