"""The national-platform gateway's HTTP face (docs/gateway.md §URL): ``POST
/fsi/api/rsfComIfsService/callService`` (``infno`` in the body) and ``POST /fsi/api/{infno}``.

Always HTTP 200 with the response envelope (``infcode`` 0 or −1), except for transport
failures: a body over :data:`MAX_BODY` bytes is ``413`` (with a −1 envelope too).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from settlement.api.deps import service_of
from settlement.gateway import pipeline
from settlement.gateway.convert import GatewayError
from settlement.gateway.credentials import secret_key
from settlement.gateway.envelope import answer, parse
from settlement.gateway.transactions import TRANSACTIONS
from settlement.problems import Problem
from settlement.store.db import utcnow

router = APIRouter(prefix="/fsi/api", include_in_schema=False)
#: Largest envelope accepted (a 2301 of 1000 lines is about 700 kB).
MAX_BODY = 1_000_000


def _reply(body: dict | str, status: int = 200) -> Response:
    text = body if isinstance(body, str) else pipeline.render(body)
    return Response(text.encode(), status_code=status, media_type="application/json;charset=UTF-8")


async def _body(request: Request) -> bytes | None:
    """The body, or None when it exceeds :data:`MAX_BODY`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _gateway_key(request: Request) -> bytes:
    state = request.app.state
    key = getattr(state, "gateway_key", None)
    if key is None:
        key = state.gateway_key = secret_key(service_of(request).keystore)
    return key


async def _handle(request: Request, infno: str | None) -> Response:
    received = utcnow()
    svc = service_of(request)
    tz = svc.settings.tz
    raw = await _body(request)
    if raw is None:
        message = f"报文过大（超过 {MAX_BODY} 字节），请分批上传"
        return _reply(answer(received, utcnow(), tz, "000000", err_msg=message), 413)
    region = "000000"
    try:
        envelope = parse(raw, infno)
        region = envelope.mdtrtarea_admvs[:6] or region
        if envelope.infno not in TRANSACTIONS:
            raise GatewayError(f"不支持的交易编号 infno={envelope.infno}", "infno_unknown")
        handler = TRANSACTIONS[envelope.infno][0]
        job = pipeline.Request(envelope, request.headers, received)
        key = _gateway_key(request)
        reply = await svc.db.run_write_async(
            lambda conn: pipeline.run(conn, svc, key, job, handler)
        )
    except (GatewayError, Problem) as error:
        reply = answer(received, utcnow(), tz, region, err_msg=pipeline.refusal(error))
    return _reply(reply)


@router.post("/rsfComIfsService/callService")
async def call_service(request: Request) -> Response:
    """One endpoint, ``infno`` in the body."""
    return await _handle(request, None)


@router.post("/{infno}")
async def call_infno(infno: str, request: Request) -> Response:
    """Base + infno (``…/2401``)."""
    return await _handle(request, infno)
