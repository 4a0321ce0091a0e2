"""``GET /v1/health`` (no auth) and ``POST /v1/probe``, the benchmark's baseline (docs/api.md §Setup)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from settlement.api.deps import Caller, ServiceDep, service_of
from settlement.store import health as liveness
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")


@router.get("/health")
def health(svc: ServiceDep) -> dict:
    liveness.check_database(svc.db)
    return {
        "status": "ok",
        "database": svc.db.dialect,
        "policy_version": svc.policy.version,
        # SSCARD_TODAY (simulation and tests only) is never silent: docs/api.md §Setup.
        "business_date": svc.settings.business_date(utcnow()).isoformat(),
        "business_date_fixed": svc.settings.fixed_today is not None,
    }


@router.post("/probe", status_code=201)
async def probe(request: Request, principal: Caller) -> JSONResponse:
    # The same write path as every mutation (on SQLite: the group committer).
    new_id = await service_of(request).db.run_write_async(
        lambda conn: liveness.insert_probe(conn, principal.key_id, utcnow())
    )
    return JSONResponse({"id": new_id}, status_code=201)
