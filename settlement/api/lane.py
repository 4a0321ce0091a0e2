"""The lean dispatch of the hot writes: challenge, admission, fees, settlement (issue #14).

A complete inpatient cycle is five requests to four routes, and FastAPI's request
handling (route scan, dependency resolution, body parsing, response building) was a
large part of their CPU. :func:`install` puts one :class:`HotRoute` per hot write at the
head of the application's route list. A hot route matches exactly what its FastAPI route
matches (``POST`` on the same path template, through the route's own ``matches``), reads
the body, validates it with the route's own model as FastAPI does
(``model_validate(json.loads(body), from_attributes=True)``) and answers through the same
:class:`~settlement.api.deps.HotWrite` (same idempotency path, same operation, same
``JSONResponse``).

Everything else goes to the FastAPI route itself, with the body it has read replayed: a
body that is not ``application/json`` or does not validate, a body whose reading failed
(the front door's refusals), a caller the front door did not authenticate. So every
refusal is FastAPI's own answer, byte for byte. A refusal raised by the write itself
(:class:`~settlement.problems.Problem`, a database error) propagates to the application's
exception handlers exactly as from the route. The hot routes sit inside the middleware:
the front door (size limits, authentication before the body, rate limit) and the
observer (request id, log line, metrics, the route template) see every request as before,
and the OpenAPI document (FastAPI routes only) is unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

from settlement.api.deps import HotWrite
from settlement.api.limits import PRINCIPAL_SCOPE_KEY

_JSON = "application/json"


class HotRoute(BaseRoute):
    """The lean form of one FastAPI route marked with :func:`~settlement.api.deps.hot_write`."""

    def __init__(self, route: APIRoute, write: HotWrite) -> None:
        self.route = route
        self.write = write
        self.path = route.path
        self.path_format = route.path_format
        self.name = route.name

    def matches(self, scope: dict) -> tuple[Match, dict]:
        """The FastAPI route's own match, for ``POST`` only (any other method is its answer)."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return Match.NONE, {}
        match, child = self.route.matches(scope)
        return (match, child) if match is Match.FULL else (Match.NONE, {})

    async def handle(self, scope: dict, receive: Any, send: Any) -> None:
        messages, body, failure = await _read_body(receive)
        model = self._validated(scope, body)
        if model is None:
            await self.route.handle(scope, _replay(messages, failure, receive), send)
            return
        service = scope["app"].state.service
        key = _header(scope, b"idempotency-key")
        principal = scope[PRINCIPAL_SCOPE_KEY]
        response = await self.write.answer(service, scope, principal, key, model)
        await response(scope, receive, send)

    def _validated(self, scope: dict, body: bytes | None) -> Any:
        """The body as the route's model; None when the FastAPI route must answer."""
        if not body or scope.get(PRINCIPAL_SCOPE_KEY) is None or not _json_body(scope):
            return None
        try:
            return self.write.model.model_validate(json.loads(body), from_attributes=True)
        except Exception:  # noqa: BLE001 - the FastAPI route gives its own refusal
            return None


def install(app: FastAPI) -> None:
    """Put a :class:`HotRoute` in front of every route marked as a hot write."""
    hot = [
        HotRoute(route, route.endpoint.hot_write)
        for route in app.router.routes
        if isinstance(route, APIRoute) and hasattr(route.endpoint, "hot_write")
    ]
    app.router.routes[:0] = hot


async def _read_body(receive: Any) -> tuple[list[dict], bytes | None, Exception | None]:
    """The request's messages as received and the whole body (None if the client went
    away first or the reading failed), and the exception a failed reading raised (a
    front-door refusal)."""
    messages: list[dict] = []
    chunks: list[bytes] = []
    try:
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, None, None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return messages, b"".join(chunks), None
    except Exception as error:  # noqa: BLE001 - handed to the FastAPI route, which raises it
        return messages, None, error


def _replay(messages: list[dict], failure: Exception | None, receive: Any) -> Any:
    """A ``receive`` that gives ``messages`` again, then raises ``failure`` (if the reading
    ended with it), then reads on."""
    pending = list(messages)
    errors = [failure] if failure is not None else []

    async def replay() -> dict:
        if pending:
            return pending.pop(0)
        if errors:
            raise errors.pop()
        return await receive()

    return replay


def _header(scope: dict, name: bytes) -> str | None:
    """The first ``name`` header, decoded as Starlette decodes headers (latin-1)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _json_body(scope: dict) -> bool:
    """Whether the body is plain ``application/json`` (anything else: FastAPI decides)."""
    return _header(scope, b"content-type") == _JSON
