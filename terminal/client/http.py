"""JSON over HTTP to the settlement service (httpx), as published in ``docs/api.md``.

* Every mutating request carries an ``Idempotency-Key``; a retry (network
  error, timeout, 5xx, or 409 "still in progress") reuses the same key and
  body, so the service returns the first result instead of acting twice
  (settlement.md §Never lose, never double).
* Errors from the service are problem+json; :class:`ServiceRefused` carries
  its stable ``code`` (``card_lost``, ``pin_not_verified``...) and the detail.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Self

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
#: Answers worth retrying with the same idempotency key: the first attempt is still
#: running (409 ``idempotency_in_progress``), the database was busy, a proxy failed.
RETRY_STATUS = {429, 502, 503, 504}
RETRY_CODES = {"idempotency_in_progress", "busy"}


class ServiceError(Exception):
    """Any failure talking to the settlement service."""


class ServiceUnavailable(ServiceError):
    """The service could not be reached (or kept failing) after the retries."""


class ServiceRefused(ServiceError):
    """The service answered with a problem: ``code`` is its stable machine-readable reason."""

    def __init__(self, status: int, code: str, title: str, detail: str, body: dict[str, Any]):
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.body = body
        text = detail or title or "refused"
        super().__init__(f"service refused ({code}): {text}")


@dataclass
class RetryPolicy:
    attempts: int = 4
    backoff_s: float = 0.05
    max_backoff_s: float = 1.0

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * (2**attempt))


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _problem(response: httpx.Response) -> ServiceRefused:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"detail": body}
    detail = body.get("detail", "")
    if not isinstance(detail, str):  # e.g. FastAPI validation errors
        detail = str(detail)
    errors = body.get("errors")
    if errors:  # validation errors: say which fields
        detail = f"{detail}: {json.dumps(errors, ensure_ascii=False)[:500]}"
    code = body.get("code") or f"http_{response.status_code}"
    return ServiceRefused(response.status_code, code, body.get("title", ""), detail, body)


class HttpClient:
    """Low-level JSON over HTTP with API-key auth, timeouts, retries and problem errors."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._transport = transport
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def like(cls, other: HttpClient) -> Self:
        """A client of this kind to the same service with the same key, timeout and
        retries (e.g. card production for a terminal that settles too); close it."""
        return cls(
            other.base_url,
            other.api_key,
            timeout=other.timeout,
            retry=other.retry,
            transport=other._transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        """Send one logical request; retries keep the same idempotency key and body
        (``json``, or raw ``content`` of ``content_type``)."""
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if method.upper() != "GET":
            headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                time.sleep(self.retry.delay(attempt - 1))
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers, content=content
                )
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = ServiceUnavailable(f"cannot reach the settlement service: {exc}")
                continue
            if response.status_code >= 400:
                problem = _problem(response)
                if (
                    response.status_code in RETRY_STATUS
                    or response.status_code >= 500
                    or problem.code in RETRY_CODES
                ):
                    last = problem
                    continue
                raise problem
            if response.status_code == 204 or not response.content:
                return None
            return response.json()
        if isinstance(last, ServiceRefused) and last.status < 500 and last.status != 429:
            raise last
        raise ServiceUnavailable(
            f"the settlement service did not answer {method} {path} after "
            f"{self.retry.attempts} attempts: {last}"
        ) from last
