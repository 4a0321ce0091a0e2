"""Card-present proof: ``POST /v1/challenges`` (docs/api.md §Card proof; a hot route)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement import proof
from settlement.api.deps import IDEMPOTENCY_HEADER_DOC, Caller, HotWrite, hot_write
from settlement.authority import require_role
from settlement.rules.roles import HOSPITAL
from settlement.schemas import ChallengeIn
from settlement.service import Principal, Service
from settlement.store import cards
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


def _issue(svc: Service, principal: Principal, body: ChallengeIn, _params: dict):
    settings = svc.settings
    tz = settings.tz

    def op(conn):
        require_role(principal, HOSPITAL, action=f"challenge.{body.purpose}", subject=body.card_no)
        now = utcnow()
        return proof.issue_challenge(
            conn,
            principal,
            body.card_no,
            body.purpose,
            now,
            now.astimezone(tz).date(),
            settings.challenge_ttl_s,
        )

    return op


def _card_read(conn, body: ChallengeIn) -> None:
    cards.prefetch_for_proof(conn, body.card_no)


#: A challenge lost in a crash is harmless (the terminal asks again): no fsync wait.
CHALLENGE = HotWrite(ChallengeIn, _issue, 201, durable=False, first_read=_card_read)


@router.post("/challenges", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC)
@hot_write(CHALLENGE)
async def challenge(body: ChallengeIn, request: Request, principal: Caller):
    return await CHALLENGE.route(request, principal, body)
