"""Networked card authentication (docs/api.md §Card authentication, issue 13).

``POST /v1/card-authentications`` (the card's key-01 answer → a token),
``POST /v1/card-authentications/{token}/pin-verification`` (the key-02 answer →
PIN-verified) and ``GET /v1/card-authentications/{token}``. The rules live in
:mod:`settlement.rules.card_auth`, the SQL in :mod:`settlement.store.card_auth`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement import card_auth
from settlement.api.deps import (
    IDEMPOTENCY_HEADER_DOC,
    Caller,
    ServiceDep,
    amutate,
    read_audited,
    service_of,
)
from settlement.schemas import CardAuthenticationIn, PinVerificationIn
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.post("/card-authentications", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def authenticate_card(body: CardAuthenticationIn, request: Request, principal: Caller):
    svc = service_of(request)
    keystore, settings = svc.keystore, svc.settings
    tz, window_s = settings.tz, settings.card_auth_window_s

    def op(conn):
        now = utcnow()
        return card_auth.authenticate(
            conn, keystore, principal, body, now, now.astimezone(tz).date(), window_s
        )

    return await amutate(request, principal, body.model_dump(mode="json"), op, 201)


@router.post("/card-authentications/{token}/pin-verification", openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def verify_pin(token: str, body: PinVerificationIn, request: Request, principal: Caller):
    svc = service_of(request)
    keystore, tz = svc.keystore, svc.settings.tz

    def op(conn):
        now = utcnow()
        return card_auth.verify_pin(
            conn, keystore, principal, token, body, now, now.astimezone(tz).date()
        )

    return await amutate(request, principal, body.model_dump(mode="json"), op)


@router.get("/card-authentications/{token}")
def read_card_authentication(token: str, principal: Caller, svc: ServiceDep):
    return read_audited(svc, principal, lambda conn: card_auth.read(conn, principal, token))
