"""The service's front door: size limits, authentication before the body, a per-key rate limit.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: no extra task, no body copy
per request) that answers hostile or careless requests before the application
reads a byte of their body (docs/api.md §Limits):

- a header section over ``SSCARD_MAX_HEADER_BYTES`` → ``431 headers_too_large``;
- a ``Content-Length`` over ``SSCARD_MAX_BODY_BYTES`` → ``413 body_too_large``; a body
  sent without a length (chunked) is counted as it streams and refused the same way
  when it passes the limit (the gateway, ``/fsi/``, counts its own: its refusals carry
  the platform's envelope);
- every ``/v1`` path except the public ones (health, OpenAPI document, docs) is
  authenticated here, before the body is read: no key, a wrong or revoked key →
  ``401 unauthenticated`` without reading the body. The principal is left in the
  request scope for :func:`settlement.api.deps.principal_of`;
- with ``SSCARD_RATE_LIMIT`` set, each key gets a token bucket per worker process:
  ``429 rate_limited`` with ``Retry-After`` (seconds) when it is empty.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import anyio.to_thread
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from settlement.http_errors import database_problem, retry_after
from settlement.problems import Problem

#: Paths under /v1 that answer without an API key.
PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json", "/v1/docs", "/v1/docs/oauth2-redirect"})
#: The scope entry that carries the authenticated principal to the routes.
PRINCIPAL_SCOPE_KEY = "sscard.principal"
#: First bytes of a body in a byte-order-marked encoding (UTF-8 BOM, UTF-16/32 BOMs).
_NOT_UTF8_START = (b"\xef", b"\xff", b"\xfe")
_UNAUTHENTICATED = "send a valid API key: Authorization: Bearer sk_..."


def credential(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The presented API key: ``Authorization: Bearer <key>``, else ``X-Api-Key``."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    return api_key


async def send_problem(send: Any, problem: Problem, headers: dict[str, str] | None = None) -> None:
    """Answer ``problem`` as problem+json and close the exchange."""
    body = json.dumps(problem.body(), ensure_ascii=False).encode()
    raw = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: int, burst: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst or 2 * rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait_s(self, key_id: str, now: float | None = None) -> float:
        """0 when ``key_id`` may send a request now (a token is taken), else seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) / self.rate


class FrontDoor:
    """The middleware (module docstring); ``create_app`` installs it around the application."""

    def __init__(
        self,
        app: Any,
        max_body_bytes: int,
        max_header_bytes: int,
        rate_limit: int = 0,
        rate_burst: int = 0,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_header = max_header_bytes
        self.limiter = RateLimiter(rate_limit, rate_burst) if rate_limit else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        size = 0
        length = None
        media = b""
        for name, value in headers:
            size += len(name) + len(value) + 4
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                media = value
        if size > self.max_header:
            await send_problem(send, Problem(431, "headers_too_large", self._header_detail()))
            return
        path = scope["path"]
        gateway = path.startswith("/fsi/")
        if length is not None and not gateway:
            if not length.isdigit():
                await send_problem(send, Problem(400, "malformed_body", "invalid Content-Length"))
                return
            if int(length) > self.max_body:
                await send_problem(send, self._too_large())
                return
        if path.startswith("/v1/") and path not in PUBLIC_PATHS:
            refusal = await self._authenticate(scope, headers)
            if refusal is not None:
                await send_problem(send, *refusal)
                return
        if not gateway and scope["method"] in ("POST", "PUT", "PATCH"):
            # Only a JSON body must be UTF-8 without a BOM: a catalogue file (text/csv) may
            # start with the BOM Excel writes.
            text = not media or b"json" in media.lower()
            receive = self._checked(receive, counted=length is None, text=text)
        await self.app(scope, receive, send)

    async def _authenticate(
        self, scope: dict, headers: list
    ) -> tuple[Problem, dict[str, str] | None] | None:
        """Put the caller's principal in ``scope``; the refusal to send otherwise."""
        key = credential(headers)
        if not key:
            return Problem(401, "unauthenticated", _UNAUTHENTICATED), None
        service = scope["app"].state.service
        try:
            principal = service.authenticate_cached(key)
            if principal is None:
                principal = await anyio.to_thread.run_sync(service.authenticate, key)
        except Problem as problem:
            return problem, None
        except DBAPIError as error:  # busy, unreachable, failing over: 503 with Retry-After
            problem = database_problem(error)
            return problem, retry_after(problem)
        scope[PRINCIPAL_SCOPE_KEY] = principal
        if self.limiter is not None:
            wait = self.limiter.wait_s(principal.key_id)
            if wait:
                retry = str(max(1, math.ceil(wait)))
                problem = Problem(
                    429,
                    "rate_limited",
                    f"too many requests for this API key; retry after {retry} s",
                )
                return problem, {"Retry-After": retry}
        return None

    def _checked(self, receive: Any, counted: bool, text: bool = True) -> Any:
        """``receive`` that refuses, when ``text``, a body that is not UTF-8 JSON (a byte-order
        mark, or the NUL bytes of UTF-16/32, which Python's JSON parser would otherwise
        accept) and, when ``counted``, a streamed body once it passes the limit."""
        received = 0
        limit = self.max_body

        async def checking_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                first = received == 0 and text and body
                if first and (body[:1] in _NOT_UTF8_START or b"\0" in body[:4]):
                    raise HTTPException(400, "the request body is not JSON in UTF-8")
                received += len(body)
                if counted and received > limit:
                    raise HTTPException(413, f"the request body exceeds {limit} bytes")
            return message

        return checking_receive

    def _too_large(self) -> Problem:
        return Problem(413, "body_too_large", f"the request body exceeds {self.max_body} bytes")

    def _header_detail(self) -> str:
        return f"the request headers exceed {self.max_header} bytes"
