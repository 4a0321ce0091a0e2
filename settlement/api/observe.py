"""Every request's log line, metrics and request id (docs/operations.md §Logs, §Metrics).

The outermost middleware (pure ASGI, like the front door): it sees every answer,
also the front door's refusals, and after the answer's last byte

- logs one line (logger ``settlement.access``, ``info``; ``error`` for a 5xx) with the
  request id, method, route template, status, problem code, institution, terminal and
  latency — built only when that level is enabled (``settlement.logs``);
- counts it in ``settlement.metrics`` (requests, latency, refusals by code, settlements).

The request id is the client's ``X-Request-ID`` when it is a sane token (1-128 of
``A-Z a-z 0-9 . _ : -``), else a new random one; it is sent back in ``X-Request-ID``
and is on every line logged while the request is answered.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from starlette.routing import Match

from settlement import metrics
from settlement.api.limits import PRINCIPAL_SCOPE_KEY
from settlement.logs import REQUEST_ID, log_fields

ACCESS = logging.getLogger("settlement.access")
_ID_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
_PROBLEM = b"application/problem+json"


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's ``X-Request-ID`` if it is a sane token, else a new one (module docstring)."""
    for name, value in headers:
        if name == b"x-request-id":
            if 0 < len(value) <= 128 and _ID_CHARS.issuperset(value):
                return value
            break
    return os.urandom(12).hex().encode()


def route_of(scope: dict) -> str:
    """The template of the route that answered (or would have: the front door refuses some
    requests before routing), ``unmatched`` when none matches."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", "unmatched")
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:
            return getattr(candidate, "path", "unmatched")
    return "unmatched"


class Observer:
    """The middleware (module docstring); ``create_app`` installs it outside the front door."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        token = REQUEST_ID.set(rid.decode())
        answer: dict[str, Any] = {"status": 500, "problem": False, "code": None, "replay": False}

        async def observed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = message.setdefault("headers", [])
                if message["status"] >= 400 or message["status"] == 201:
                    for name, value in headers:
                        if name == b"content-type" and value.startswith(_PROBLEM):
                            answer["problem"] = True
                        elif name == b"idempotent-replay":
                            answer["replay"] = True
                message["headers"] = [*headers, (b"x-request-id", rid)]
            elif answer["problem"] and answer["code"] is None:
                answer["code"] = _problem_code(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            answer["code"] = answer["code"] or "internal_error"  # answered by Starlette's 500
            raise
        finally:
            REQUEST_ID.reset(token)
            self._record(scope, rid, answer, time.perf_counter() - started)

    def _record(self, scope: dict, rid: bytes, answer: dict, elapsed: float) -> None:
        """Count the answer and log its line."""
        route = route_of(scope)
        status = answer["status"]
        code = answer["code"]
        key = (scope["method"], route, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = metrics.REQUESTS.labels(key[0], route, str(status))
        counter.inc()
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = metrics.LATENCY.labels(route)
        latency.observe(elapsed)
        if code is not None:
            metrics.REFUSALS.labels(code).inc()
        elif status == 201 and not answer["replay"] and route in metrics.SETTLEMENT_ROUTES:
            metrics.SETTLEMENTS.labels(metrics.SETTLEMENT_ROUTES[route]).inc()
        level = logging.ERROR if status >= 500 else logging.INFO
        if ACCESS.isEnabledFor(level):
            principal = scope.get(PRINCIPAL_SCOPE_KEY)
            fields = {
                "request_id": rid.decode(),
                "method": scope["method"],
                "route": route,
                "status": status,
                "code": code,
                "institution": getattr(principal, "institution_code", None),
                "terminal": getattr(principal, "terminal_id", None),
                "latency_ms": round(elapsed * 1000, 2),
            }
            log_fields(ACCESS, level, f"{scope['method']} {route} {status}", fields)


def _problem_code(body: bytes) -> str | None:
    """The ``code`` of a problem+json body (None if it has none)."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None
