"""Typed dependencies of the routes: the service, the caller, the Idempotency-Key (docs/api.md).

As the FastAPI full-stack template's ``api/deps.py``: a route declares what it
needs (``svc: ServiceDep``, ``principal: Caller``, ``key: IdemKey``) and these
functions provide it. The helpers below turn a domain call into the HTTP answer:
:func:`mutate` (thread-pool routes) and :func:`amutate` (the hot coroutine
routes) run it under :meth:`Service.mutate`'s idempotency rules, :func:`guard`
checks a read's role and audits a refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from settlement.api.limits import PRINCIPAL_SCOPE_KEY
from settlement.applications.registers import Registers
from settlement.authority import require_role
from settlement.http_errors import PROBLEM_JSON
from settlement.problems import Problem
from settlement.security import keystore_fingerprint_key
from settlement.service import Outcome, Principal, Service

#: A domain call on the open write transaction; its answer becomes the response body.
Operation = Callable[[Connection], dict[str, Any]]


async def get_service(request: Request) -> Service:
    """The one :class:`Service` of the application (built by ``settlement.bootstrap``)."""
    return request.app.state.service


def service_of(request: Request) -> Service:
    """:func:`get_service` without a dependency resolution (for the hot coroutine routes)."""
    return request.app.state.service


async def principal_of(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or ``X-Api-Key`` (docs/api.md §Authentication).

    The headers are read straight from the request (declaring them as FastAPI
    header parameters costs a dependency resolution per request). A key seen in
    the last few seconds is checked on the event loop (a hash and a dictionary
    look-up); otherwise the database look-up runs in the thread pool. On /v1 the front
    door (``settlement.api.limits``) has authenticated the caller before the body was read.
    """
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if principal is not None:
        return principal
    headers = request.headers
    authorization = headers.get("authorization")
    key = headers.get("x-api-key")
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    service = service_of(request)
    principal = service.authenticate_cached(key)
    if principal is None:
        principal = await anyio.to_thread.run_sync(service.authenticate, key)
    return principal


async def get_registers(request: Request) -> Registers:
    """The calendar, police register and bank records card production consults."""
    return service_of(request).registers


ServiceDep = Annotated[Service, Depends(get_service)]
Caller = Annotated[Principal, Depends(principal_of)]
RegistersDep = Annotated[Registers, Depends(get_registers)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]

#: The hot coroutine routes read the Idempotency-Key header themselves; the schema still
#: documents it.
IDEMPOTENCY_HEADER_DOC = {
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
    ]
}


def request_path(request: Request) -> str:
    """``request.url.path`` without building the whole URL (the same string; part of the
    request hash of docs/api.md §Idempotency)."""
    return scope_path(request.scope)


def scope_path(scope: dict) -> str:
    """:func:`request_path` from the ASGI scope (the lean dispatch has no Request)."""
    return scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def respond(outcome: Outcome) -> Response:
    """A mutation's outcome as sent: replays carry ``Idempotent-Replay: true``, refusals
    are problem+json. A body encoded already (the idempotency record's text) is sent as it
    is: the same bytes the JSON response would render."""
    headers = {"Idempotent-Replay": "true"} if outcome.replay else None
    media = PROBLEM_JSON if outcome.status >= 400 else "application/json"
    if outcome.text is not None:
        body = outcome.text.encode()
        return Response(body, status_code=outcome.status, headers=headers, media_type=media)
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers, media_type=media)


def mutate(
    request: Request,
    svc: Service,
    principal: Principal,
    key: str | None,
    payload: Any,
    operation: Operation,
    status: int = 200,
) -> Response:
    """Run ``operation`` in one idempotent write transaction (a thread-pool route)."""

    def run(conn: Connection) -> tuple[int, dict[str, Any]]:
        return status, operation(conn)

    return respond(svc.mutate(principal, key, request.method, request_path(request), payload, run))


@dataclass(frozen=True)
class Write:
    """One idempotent write of a thread-pool route: what :func:`mutate` needs besides the
    payload and the operation (the request, its caller, the service, the Idempotency-Key)."""

    request: Request
    svc: Service
    principal: Principal
    key: str | None

    def __call__(self, payload: Any, operation: Operation, status: int = 200) -> Response:
        """:func:`mutate` with ``payload`` (a request model is hashed as its JSON form)."""
        if isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        return mutate(self.request, self.svc, self.principal, self.key, payload, operation, status)


async def _write(
    request: Request, principal: Caller, svc: ServiceDep, key: IdemKey = None
) -> Write:
    return Write(request, svc, principal, key)


#: A route's idempotent write (``write(body, lambda conn: ..., 201)``).
WriteDep = Annotated[Write, Depends(_write)]


async def amutate(
    request: Request,
    principal: Principal,
    payload: Any,
    operation: Operation,
    status: int = 200,
    durable: bool = True,
) -> Response:
    """:func:`mutate` for the hot coroutine routes (the write path without a pool thread).

    The Idempotency-Key is read from the request's headers (documented in the
    OpenAPI schema by :data:`IDEMPOTENCY_HEADER_DOC`).
    """
    key = request.headers.get("idempotency-key")
    service = service_of(request)
    return await amutate_on(
        service, request.scope, principal, key, payload, operation, status, durable
    )


async def amutate_on(
    service: Service,
    scope: dict,
    principal: Principal,
    key: str | None,
    payload: Any,
    operation: Operation,
    status: int,
    durable: bool,
    first_read: Callable[[Connection], None] | None = None,
) -> Response:
    """:func:`amutate` from the ASGI scope: the one idempotent write path of the hot routes,
    also taken by the lean dispatch (``settlement.api.lane``)."""

    def run(conn: Connection) -> tuple[int, dict[str, Any]]:
        return status, operation(conn)

    outcome = await service.mutate_async(
        principal,
        key,
        scope["method"],
        scope_path(scope),
        payload,
        run,
        durable=durable,
        first_read=first_read,
    )
    return respond(outcome)


#: Builds a hot write's operation from the service, the caller, the validated body and the
#: path parameters.
OperationFactory = Callable[[Service, Principal, Any, dict[str, str]], Operation]


@dataclass(frozen=True)
class HotWrite:
    """One hot idempotent write (challenge, admission, fees, settlement): its body model, its
    operation, its status and durability, and the read its operation starts with if that read
    takes no row lock (prefetched with the idempotency lock: :meth:`Service.mutate_async`).
    The FastAPI route and the lean dispatch (``settlement.api.lane``) both answer through
    :meth:`answer`, so both run the same code."""

    model: type[BaseModel]
    operation: OperationFactory
    status: int = 200
    durable: bool = True
    first_read: Callable[[Connection, Any], None] | None = None

    async def answer(
        self,
        service: Service,
        scope: dict,
        principal: Principal,
        key: str | None,
        body: BaseModel,
    ) -> Response:
        """Run the write for ``body`` under the idempotency rules; the response to send."""
        operation = self.operation(service, principal, body, scope.get("path_params", {}))
        payload = body.model_dump(mode="json")
        first_read = self.first_read
        return await amutate_on(
            service,
            scope,
            principal,
            key,
            payload,
            operation,
            self.status,
            self.durable,
            None if first_read is None else lambda conn: first_read(conn, body),
        )

    async def route(self, request: Request, principal: Principal, body: BaseModel) -> Response:
        """The FastAPI route's answer (the Idempotency-Key from the request's headers)."""
        key = request.headers.get("idempotency-key")
        return await self.answer(service_of(request), request.scope, principal, key, body)


def hot_write(write: HotWrite) -> Callable[[Callable], Callable]:
    """Mark a route's endpoint as the FastAPI form of ``write`` (the lean dispatch finds it)."""

    def mark(endpoint: Callable) -> Callable:
        endpoint.hot_write = write  # type: ignore[attr-defined]
        return endpoint

    return mark


def guard(
    svc: Service, principal: Principal, *roles: str, action: str, subject: str | None = None
) -> None:
    """Role check for reads (settlement.md §Roles): refusals are audited too."""
    try:
        require_role(principal, *roles, action=action, subject=subject)
    except Problem as problem:
        svc.audit_refusal(principal, problem)
        raise


async def get_fingerprint_key(request: Request) -> bytes:
    """The HMAC key for secret request fields in the idempotency record (docs/api.md
    §Secrets in the idempotency record), derived from the key store on first use."""
    state = request.app.state
    key = getattr(state, "fingerprint_key", None)
    if key is None:
        keystore = await anyio.to_thread.run_sync(lambda: service_of(request).keystore)
        key = state.fingerprint_key = keystore_fingerprint_key(keystore)
    return key


FingerprintKey = Annotated[bytes, Depends(get_fingerprint_key)]


def read_audited(svc: Service, principal: Principal, read: Callable[[Connection], Any]) -> Any:
    """Run ``read`` in a read transaction; a refusal it raises is audited, then answered."""
    try:
        with svc.db.read() as conn:
            return read(conn)
    except Problem as problem:
        svc.audit_refusal(principal, problem)
        raise
