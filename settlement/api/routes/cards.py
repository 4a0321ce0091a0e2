"""Cards: registration, status, collection, loss, replacement, cancellation (docs/api.md §Cards)."""

from __future__ import annotations

from fastapi import APIRouter

from settlement import cards, proof
from settlement.api.deps import Caller, ServiceDep, WriteDep
from settlement.schemas import CardActionIn, CardIn
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.post("/cards", status_code=201)
def register_card(
    body: CardIn,
    write: WriteDep,
):
    return write(body, lambda conn: cards.register_card(conn, write.principal, body, utcnow()), 201)


@router.get("/cards/{card_no}")
def card_status(card_no: str, principal: Caller, svc: ServiceDep):
    with svc.db.read() as conn:
        card = proof.load_card(conn, card_no)
        view = cards.card_view(card, utcnow().astimezone(svc.settings.tz).date())
        view["ssse_pin_state"] = cards.ssse_pin_state(conn, card_no)
        return view


@router.post("/cards/{card_no}/collection")
def collect(
    card_no: str,
    write: WriteDep,
    body: CardActionIn | None = None,
):
    body = body or CardActionIn()
    return write(
        body, lambda conn: cards.collect_card(conn, write.principal, card_no, body, utcnow())
    )


@router.post("/cards/{card_no}/loss")
def loss(
    card_no: str,
    write: WriteDep,
    body: CardActionIn | None = None,
):
    body = body or CardActionIn()
    return write(
        body, lambda conn: cards.report_loss(conn, write.principal, card_no, body, utcnow())
    )


@router.post("/cards/{card_no}/replacement", status_code=201)
def replacement(
    card_no: str,
    body: CardIn,
    write: WriteDep,
):
    return write(
        body, lambda conn: cards.replace_card(conn, write.principal, card_no, body, utcnow()), 201
    )


@router.post("/cards/{card_no}/cancellation")
def cancellation(
    card_no: str,
    write: WriteDep,
    body: CardActionIn | None = None,
):
    body = body or CardActionIn()
    return write(
        body, lambda conn: cards.cancel_card(conn, write.principal, card_no, body, utcnow())
    )
