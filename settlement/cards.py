"""Cards: registration by the card centre, collection, loss, replacement, cancellation.

issuance.md / settlement.md §Card states: ``issued`` → ``active`` (collected)
→ ``lost`` (reported) → ``replaced`` (new card active) or ``cancelled``. A
duplicate issuance cancels the old card first. Reporting a loss blocks the
card at once and gives a replacement receipt number, which is the evidence of
the lost-card exemption while the replacement is pending.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime

from sqlalchemy.engine import Connection, Row

from settlement.authority import require_role
from settlement.people import load_person
from settlement.problems import Problem
from settlement.proof import load_card, parse_card_id_code
from settlement.rules.roles import ADMIN, BANK_BRANCH, CARD_CENTRE
from settlement.schemas import CardActionIn, CardIn
from settlement.service import Principal, audit
from settlement.store import audit as audit_log
from settlement.store import cards
from settlement.store.db import as_utc


def card_view(card: Row, today: date) -> dict:
    return {
        "card_no": card.card_no,
        "card_id_code": card.card_id_code,
        "algorithm": card.algorithm,
        "region": card.region,
        "psn_no": card.psn_no,
        "status": card.status,
        "expiry": card.expiry.isoformat(),
        "expired": card.expiry < today,
        "issue_date": card.issue_date.isoformat() if card.issue_date else None,
        "bank_code": card.bank_code,
        "replaces_card_no": card.replaces_card_no,
        "replaced_by": card.replaced_by,
        "lost_at": as_utc(card.lost_at).isoformat() if card.lost_at else None,
    }


def ssse_pin_state(conn: Connection, card_no: str) -> str:
    """``blocked`` or ``usable``: the SSSE PIN as the audited PIN operations last reported it.

    Terminals report every PIN operation (``POST /v1/pin-operations``); a VERIFY
    that ends with ``blocked`` (or a wrong PIN with no try left, ``63C0``) blocks,
    an ``ok`` verify, change, unblock or reset leaves it usable. A card never
    reported on is as issued: usable. (Added for the hospital simulation's
    card-image-versus-database invariant.)
    """
    rows = audit_log.last_accepted(conn, card_no, "pin.ssse.")
    if rows is None:
        return "usable"
    detail = json.loads(rows.detail) if rows.detail else {}
    result, sw = detail.get("result"), (detail.get("sw") or "").upper()
    if result == "blocked" or sw in ("63C0", "6983"):
        return "blocked"
    if result == "ok" or result == "wrong_pin":
        return "usable"
    return "blocked" if result == "failed" and rows.action == "pin.ssse.verify" else "usable"


def _insert_card(
    conn: Connection, body: CardIn, psn_no: str, now: datetime, replaces: str | None
) -> None:
    parse_card_id_code(body.card_id_code, body.region)
    inserted = cards.insert(
        conn,
        card_no=body.card_no,
        card_id_code=body.card_id_code.upper(),
        algorithm=body.algorithm,
        region=body.region,
        psn_no=psn_no,
        status=body.status,
        issue_date=body.issue_date,
        expiry=body.expiry,
        bank_code=body.bank_code,
        replaces_card_no=replaces,
        collected_at=now if body.status == "active" else None,
        created_at=now,
        updated_at=now,
    )
    if not inserted:
        raise Problem(
            409, "conflict", f"card {body.card_no} or its identification code is already registered"
        )


def register_card(conn: Connection, principal: Principal, body: CardIn, now: datetime) -> dict:
    """Register a card; a person's other issued / active card is cancelled first."""
    require_role(principal, CARD_CENTRE, ADMIN, action="card.register", subject=body.card_no)
    if not body.psn_no:
        raise Problem(422, "validation_error", "psn_no is required to register a card")
    load_person(conn, body.psn_no, lock=True)
    previous = cards.usable_of_person(conn, body.psn_no)
    for old in previous:
        cards.update(conn, old, status="cancelled", updated_at=now)
        audit(
            conn,
            principal,
            "card.cancel",
            old,
            detail={"reason": "duplicate issuance", "new_card": body.card_no},
            at=now,
        )
    # A card reported lost is being replaced by this one: the replacement is no longer
    # pending once the new card is collected (then the lost card becomes ``replaced``).
    lost = cards.lost_of_person(conn, body.psn_no)
    _insert_card(conn, body, body.psn_no, now, lost)
    if lost:
        values = {"replaced_by": body.card_no, "updated_at": now}
        if body.status == "active":
            values["status"] = "replaced"
        cards.update(conn, lost, **values)
    audit(conn, principal, "card.register", body.card_no, detail={"psn_no": body.psn_no}, at=now)
    view = card_view(load_card(conn, body.card_no), now.date())
    view["cancelled_card_no"] = previous[0] if previous else None
    return view


def _lock_card(conn: Connection, card_no: str) -> Row:
    return load_card(conn, card_no, lock=True)


def collect_card(
    conn: Connection, principal: Principal, card_no: str, body: CardActionIn, now: datetime
) -> dict:
    """Issuance step 7: the holder collects the card; a replaced lost card becomes ``replaced``."""
    require_role(principal, CARD_CENTRE, BANK_BRANCH, action="card.collect", subject=card_no)
    card = _lock_card(conn, card_no)
    if card.status != "issued":
        raise Problem(
            409, "card_state", f"card {card_no} is {card.status}, not waiting for collection"
        )
    cards.update(conn, card_no, status="active", collected_at=now, updated_at=now)
    if card.replaces_card_no:
        cards.update(
            conn,
            card.replaces_card_no,
            only_if_status="lost",
            status="replaced",
            replaced_by=card_no,
            updated_at=now,
        )
    audit(
        conn, principal, "card.collect", card_no, detail={"collected_by": body.collected_by}, at=now
    )
    return card_view(load_card(conn, card_no), now.date())


def report_loss(
    conn: Connection, principal: Principal, card_no: str, body: CardActionIn, now: datetime
) -> dict:
    """Block the card at once and issue the replacement receipt number."""
    require_role(principal, CARD_CENTRE, BANK_BRANCH, action="card.loss", subject=card_no)
    card = _lock_card(conn, card_no)
    if principal.role == BANK_BRANCH and card.bank_code and principal.bank_code != card.bank_code:
        raise Problem(
            403,
            "not_entitled",
            f"card {card_no} was issued by bank {card.bank_code}; report the loss there or at "
            "the card centre (issuance.md: loss is reported at the issuing bank)",
            audit=("card.loss", card_no),
        )
    if card.status not in ("issued", "active"):
        raise Problem(
            409,
            "card_state",
            f"card {card_no} is {card.status}; only a usable card can be reported lost",
        )
    receipt = f"RR{now:%Y%m%d}{secrets.token_hex(5).upper()}"
    cards.update(
        conn, card_no, status="lost", lost_at=now, replacement_receipt_no=receipt, updated_at=now
    )
    audit(
        conn,
        principal,
        "card.loss",
        card_no,
        detail={"receipt": receipt, "reason": body.reason},
        at=now,
    )
    return {
        "card_no": card_no,
        "status": "lost",
        "replacement_receipt_no": receipt,
        "lost_at": now.isoformat(),
    }


def replace_card(
    conn: Connection, principal: Principal, card_no: str, body: CardIn, now: datetime
) -> dict:
    """Register the replacement of a lost card (the old card becomes ``replaced`` when it is collected)."""
    require_role(principal, CARD_CENTRE, ADMIN, action="card.replace", subject=card_no)
    old = _lock_card(conn, card_no)
    if old.status != "lost":
        raise Problem(
            409, "card_state", f"card {card_no} is {old.status}; only a lost card is replaced"
        )
    if body.psn_no and body.psn_no != old.psn_no:
        raise Problem(422, "validation_error", "the replacement must belong to the same person")
    _insert_card(conn, body, old.psn_no, now, card_no)
    if body.status == "active":
        cards.update(conn, card_no, status="replaced", replaced_by=body.card_no, updated_at=now)
    else:
        cards.update(conn, card_no, replaced_by=body.card_no, updated_at=now)
    audit(conn, principal, "card.replace", card_no, detail={"new_card": body.card_no}, at=now)
    return card_view(load_card(conn, body.card_no), now.date())


def cancel_card(
    conn: Connection, principal: Principal, card_no: str, body: CardActionIn, now: datetime
) -> dict:
    require_role(principal, CARD_CENTRE, ADMIN, action="card.cancel", subject=card_no)
    card = _lock_card(conn, card_no)
    if card.status in ("cancelled", "replaced"):
        raise Problem(409, "card_state", f"card {card_no} is already {card.status}")
    cards.update(conn, card_no, status="cancelled", updated_at=now)
    audit(conn, principal, "card.cancel", card_no, detail={"reason": body.reason}, at=now)
    return card_view(load_card(conn, card_no), now.date())
