"""The insurance catalogue over HTTP (docs/api.md §Catalogue; harness.md "The catalogue"):
an admin loads a catalogue file as a new version and anyone with a key lists what is loaded."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request

from settlement import catalogue
from settlement.api.deps import IDEMPOTENCY_HEADER_DOC, Caller, ServiceDep, amutate, guard
from settlement.authority import require_role
from settlement.problems import Problem
from settlement.rules.roles import ADMIN, HOSPITAL
from settlement.store.db import utcnow

router = APIRouter(prefix="/v1")

#: Largest catalogue file accepted over HTTP (the CLI reads any size).
CATALOGUE_MAX_BYTES = 32 * 1024 * 1024

_FILE_DOC = {
    **IDEMPOTENCY_HEADER_DOC,
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.post("/catalogue", status_code=201, openapi_extra=_FILE_DOC)
async def import_catalogue(
    request: Request, principal: Caller, svc: ServiceDep, source: str = "upload.csv"
):
    """The request body is the CSV file itself (UTF-8 with or without BOM, or GB18030)."""
    require_role(principal, ADMIN, action="catalogue.import")
    data = await request.body()
    if len(data) > CATALOGUE_MAX_BYTES:
        raise Problem(
            413,
            "validation_error",
            f"a catalogue file over HTTP is at most {CATALOGUE_MAX_BYTES} bytes; "
            "load larger files with python -m settlement catalogue import",
        )
    payload = {"source": source, "sha256": hashlib.sha256(data).hexdigest()}
    policy = svc.policy
    return await amutate(
        request,
        principal,
        payload,
        lambda conn: catalogue.import_catalogue(conn, data, source[:200], policy, utcnow()),
        201,
    )


@router.get("/catalogue")
def list_catalogue(principal: Caller, svc: ServiceDep):
    guard(svc, principal, ADMIN, HOSPITAL, action="catalogue.read")
    with svc.db.read() as conn:
        return catalogue.list_catalogue(conn)
