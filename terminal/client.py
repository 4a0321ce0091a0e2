"""The settlement service's HTTP client (httpx), as published in ``docs/api.md``.

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
from datetime import date
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
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
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
    ) -> Any:
        """Send one logical request; retries keep the same idempotency key and body."""
        headers = {}
        if method.upper() != "GET":
            headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                time.sleep(self.retry.delay(attempt - 1))
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers
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


class SettlementClient(HttpClient):
    """The endpoints of ``docs/api.md`` a terminal uses; answers are the service's JSON."""

    # --- lookups ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/v1/health")

    def card(self, card_no: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/cards/{card_no}")

    def person(self, psn_no: str, *, on: date | None = None) -> dict[str, Any]:
        params = {"on": on.isoformat()} if on else None
        return self.request("GET", f"/v1/people/{psn_no}", params=params)

    def person_by_card(self, card_no: str, *, on: date | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"card_no": card_no}
        if on:
            params["on"] = on.isoformat()
        return self.request("GET", "/v1/people", params=params)

    def admission(self, mdtrt_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/admissions/{mdtrt_id}")

    def settlement(self, setl_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/settlements/{setl_id}")

    def pin_authority(self, card_no: str, pin: str, operation: str) -> dict[str, Any]:
        params = {"card_no": card_no, "pin": pin, "operation": operation}
        return self.request("GET", "/v1/pin-authority", params=params)

    def daily_report(self, day: date, institution: str | None = None) -> dict[str, Any]:
        params = {"date": day.isoformat()}
        if institution:
            params["institution"] = institution
        return self.request("GET", "/v1/reports/daily", params=params)

    # --- card-present proof and the inpatient flow -----------------------------------

    def challenge(self, card_no: str, purpose: str) -> dict[str, Any]:
        """Proof step 1: a single-use nonce bound to (card, purpose, this terminal)."""
        return self.request("POST", "/v1/challenges", json={"card_no": card_no, "purpose": purpose})

    def admit(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """2401 admission registration (``proof`` or ``exemption`` in the body)."""
        return self.request("POST", "/v1/admissions", json=body, idempotency_key=idempotency_key)

    def upload_fees(
        self, mdtrt_id: str, lines: list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2301 fee upload (each line idempotent by ``feedetl_sn``)."""
        return self.request(
            "POST",
            f"/v1/admissions/{mdtrt_id}/fees",
            json={"feedetail": lines},
            idempotency_key=idempotency_key,
        )

    def pre_settle(self, mdtrt_id: str, *, acct_used_flag: bool) -> dict[str, Any]:
        """2303 pre-settlement: the split as it would be now; writes nothing."""
        return self.request(
            "POST",
            f"/v1/admissions/{mdtrt_id}/pre-settlement",
            json={"acct_used_flag": acct_used_flag},
        )

    def settle(
        self, mdtrt_id: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2304 discharge settlement."""
        return self.request(
            "POST",
            f"/v1/admissions/{mdtrt_id}/settlement",
            json=body,
            idempotency_key=idempotency_key,
        )

    def reverse(
        self, setl_id: str, reason: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """2305 settlement reversal."""
        return self.request(
            "POST",
            f"/v1/settlements/{setl_id}/reversal",
            json={"reason": reason},
            idempotency_key=idempotency_key,
        )

    # --- cards, PINs and passwords ---------------------------------------------------

    def report_pin_operation(
        self,
        card_no: str | None,
        pin: str,
        operation: str,
        result: str,
        sw: int | None = None,
        *,
        card_id_code: bytes | None = None,
    ) -> dict[str, Any]:
        """Audit one PIN operation (``pin`` ssse|bank; refused → ``not_entitled``).

        ``card_id_code`` names the card instead of ``card_no`` when only its ATR was seen.
        """
        body: dict[str, Any] = {
            **({"card_no": card_no} if card_no is not None else {}),
            **({"card_id_code": card_id_code.hex().upper()} if card_id_code is not None else {}),
            "pin": pin,
            "operation": operation,
            "result": result,
        }
        if sw is not None:
            body["sw"] = f"{sw:04X}"
        return self.request("POST", "/v1/pin-operations", json=body)

    def report_loss(self, card_no: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else {}
        return self.request("POST", f"/v1/cards/{card_no}/loss", json=body)

    def query_password(
        self, psn_no: str, mode: str, new_password: str, old_password: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode, "new_password": new_password}
        if old_password is not None:
            body["old_password"] = old_password
        return self.request("POST", f"/v1/people/{psn_no}/query-password", json=body)
