"""Card-present proof: ``POST /v1/challenges`` (docs/api.md §Card proof; a hot route)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement import proof
from settlement.api.deps import IDEMPOTENCY_HEADER_DOC, Caller, amutate, service_of
from settlement.authority import require_role
from settlement.rules.roles import HOSPITAL
from settlement.schemas import ChallengeIn
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.post("/challenges", status_code=201, openapi_extra=IDEMPOTENCY_HEADER_DOC)
async def challenge(body: ChallengeIn, request: Request, principal: Caller):
    settings = service_of(request).settings
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

    # A challenge lost in a crash is harmless (the terminal asks again): no fsync wait.
    return await amutate(request, principal, body.model_dump(mode="json"), op, 201, durable=False)
