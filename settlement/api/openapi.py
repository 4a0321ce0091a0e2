"""The OpenAPI document as the service answers (docs/api.md §Authentication, §Idempotency,
§Error codes; issue 16).

FastAPI derives paths, parameters and request bodies from the routes; this module adds, in
one place, what the routes do not say themselves:

- the two ways to present an API key (``Authorization: Bearer`` and ``X-Api-Key``) as
  security schemes, required on every ``/v1`` operation but the public ones;
- ``Idempotency-Key`` as a *required* header wherever a route takes one (the service
  answers ``428 idempotency_key_required`` without it), with ``409
  idempotency_in_progress`` and ``422 idempotency_key_reused``;
- every refusal the front door (``settlement.api.limits``), the error handlers
  (``settlement.http_errors``) and the domain can answer, as ``application/problem+json``
  with a :data:`Problem <PROBLEM_SCHEMA>` schema whose ``code`` is the enum of the codes of
  that status (:data:`PROBLEM_CODES`) and an example;
- each operation's 2xx answer: the model of :data:`settlement.api.responses.SUCCESS`
  with a real answer of the service as its example (``settlement/api/responses/examples.json``).
  The models are declared, not applied: the routes (the hot ones above all) send their
  answers as they are, so the document costs no time per request; Schemathesis and
  ``tests/settlement/test_openapi.py`` check the answers against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from settlement.api.limits import PUBLIC_PATHS
from settlement.api.responses import ALSO, EXAMPLES, SUCCESS
from settlement.problems import PROBLEM_BASE, TITLES

TITLE = "sscard settlement service"
OPENAPI_URL = "/v1/openapi.json"
PROBLEM_JSON = "application/problem+json"
IDEMPOTENCY_HEADER = "Idempotency-Key"

#: Every ``code`` the service answers, by HTTP status (docs/api.md §Error codes).
#: ``tests/settlement/test_openapi.py`` checks that each ``Problem(status, "code")`` written
#: in ``settlement/`` is listed here.
PROBLEM_CODES: dict[int, tuple[str, ...]] = {
    400: ("malformed_body",),
    401: ("unauthenticated",),
    403: (
        "not_entitled",
        "card_lost",
        "card_expired",
        "card_cancelled",
        "card_replaced",
        "card_not_active",
        "card_not_holder",
        "card_required",
        "pin_not_verified",
        "proof_invalid",
        "proof_replayed",
        "proof_expired",
        "proof_mismatch",
        "card_auth_foreign",
        "card_auth_expired",
        "card_auth_pin_done",
        "exemption_refused",
        "not_covered",
        "password_invalid",
    ),
    404: (
        "not_found",
        "card_unknown",
        "person_unknown",
        "challenge_unknown",
        "card_auth_unknown",
        "fee_line_unknown",
    ),
    408: ("request_timeout", "body_timeout"),
    409: (
        "conflict",
        "idempotency_in_progress",
        "already_settled",
        "already_reversed",
        "fee_line_conflict",
        "card_state",
        "key_revoked",
        "stay_cancelled",
        "stay_discharged",
        "stay_not_discharged",
        "fees_standing",
        "refund_standing",
        "ipt_no_taken",
        "account_not_opened",
        "replacement_data_fixed",
        "already_issued",
        "awaiting_correction",
        "not_returned",
        "reason_not_for_step",
        "step_out_of_order",
        "withdrawn",
        "already_enrolled",
        "correction_window_closed",
        "not_enrolled",
        "not_enrolled_for_year",
        "enrolment_processing",
        "outside_payment_window",
        "rates_unpublished",
        "already_paid",
        "order_id_reused",
        "order_already_confirmed",
        "order_expired",
        "paid_by_payment_only",
        "already_covered",
        "migrate_contribution_year",
    ),
    413: ("body_too_large", "validation_error"),
    415: ("unsupported_media_type",),
    422: (
        "validation_error",
        "evidence_conflict",
        "idempotency_key_reused",
        "amount_out_of_range",
        "admission_time_invalid",
        "discharge_time_invalid",
        "bank_unknown",
        "refund_invalid",
        "catalogue_unknown_item",
        "catalogue_class_mismatch",
        "catalogue_invalid",
        "bill_negative",
        "refund_exceeds_charges",
        "enrolment_refused",
        "amount_mismatch",
        "migration_file_invalid",
    ),
    428: ("idempotency_key_required",),
    429: ("rate_limited", "too_many_attempts"),
    431: ("headers_too_large",),
    500: ("internal_error",),
    503: ("busy",),
}

#: What each status means, as the document's response descriptions.
_DESCRIPTIONS = {
    400: "The body is not JSON in UTF-8 (or its Content-Length is not a number).",
    401: "No API key, or an unknown, revoked or expired one.",
    403: "The caller's role, the card's state or its proof does not allow this (audited).",
    404: "Unknown id, or another institution's object.",
    408: (
        "The request line and headers did not arrive within SSCARD_HEADER_TIMEOUT, or the body"
        " not within SSCARD_BODY_TIMEOUT of them."
    ),
    409: "The request conflicts with the stored state (or its Idempotency-Key is in use).",
    413: "The body exceeds SSCARD_MAX_BODY_BYTES.",
    415: "The body is not sent as application/json.",
    422: "The body or a parameter is invalid (`errors` lists the fields).",
    428: "A mutating request without an Idempotency-Key header.",
    429: "Too many requests for this key (see Retry-After) or too many password attempts.",
    431: "The request headers exceed SSCARD_MAX_HEADER_BYTES.",
    500: "Unexpected failure (logged without personal data).",
    503: "The database is busy or unreachable: retry with the same Idempotency-Key.",
}

#: RFC 9457 problem details with the service's stable ``code`` (docs/api.md §Errors).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable machine-readable reason"},
        "errors": {
            "type": "array",
            "description": "validation_error: the invalid fields",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer sk_...` (docs/api.md §Authentication)",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "The same API key in `X-Api-Key` (terminals that cannot set Authorization)",
    },
}
_SECURITY = [{"bearerAuth": []}, {"apiKeyHeader": []}]
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
#: Every answer names its request (settlement.api.observe): the client's sane X-Request-ID or a
#: new one. Not required: the server's own 408/431 for a head that never completes go out
#: before a request exists.
_REQUEST_ID = {
    "X-Request-ID": {
        "description": "the request's id (the client's when it sent a sane one), also in the log",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
    }
}
#: A stored answer sent again for the same Idempotency-Key and request (docs/api.md §Idempotency).
_REPLAY = {
    "Idempotent-Replay": {
        "description": "`true` when this is the stored answer of an earlier request with this key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def problem_response(status: int) -> dict[str, Any]:
    """The document's answer for ``status``: problem+json, ``code`` one of its codes."""
    codes = PROBLEM_CODES[status]
    schema = {
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {"properties": {"status": {"const": status}, "code": {"enum": list(codes)}}},
        ]
    }
    code = codes[0]
    example = {
        "type": PROBLEM_BASE + code,
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": _DESCRIPTIONS[status],
        "code": code,
    }
    answer: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "headers": {**_REQUEST_ID, **(_RETRY_AFTER if status == 429 else {})},
        "content": {PROBLEM_JSON: {"schema": schema, "example": example}},
    }
    return answer


def refusals(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The statuses an operation can refuse with, by what it is: any request 408/431 (the
    server and front door), 500/503; an authenticated one 401/403/429; one with parameters
    or a body 404/422 (an unknown id, a bad value); a write 400/409/413/415 (a body that is
    not JSON, a conflict, too large, not JSON); one taking an Idempotency-Key 428. The codes
    per status are :data:`PROBLEM_CODES` (all of that status, not only this route's)."""
    statuses = {408, 431, 500, 503}
    if path in PUBLIC_PATHS or not path.startswith("/v1/"):
        return statuses
    statuses |= {401, 403, 429}
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses |= {404, 422}
    if method in ("post", "put", "patch", "delete"):
        statuses |= {400, 409, 413, 415, 422}
    if any(p.get("name") == IDEMPOTENCY_HEADER for p in parameters):
        statuses.add(428)
    return statuses


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """Complete FastAPI's document ``schema`` in place (module docstring); returns it."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    components["responses"] = {f"Problem{s}": problem_response(s) for s in PROBLEM_CODES}
    schemas.update(_success_schemas())
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _describe_operation(path, method, operation)
            _describe_success(path, method, operation)
    return schema


def _success_schemas() -> dict[str, Any]:
    """The components of every model of :data:`SUCCESS` (names are the models' own)."""
    models = sorted(set(SUCCESS.values()), key=lambda model: model.__name__)
    _, top = models_json_schema(
        [(model, "serialization") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    return top.get("$defs", {})


def _describe_success(path: str, method: str, operation: dict[str, Any]) -> None:
    """Point the operation's 2xx answer at its model, with its example."""
    model = SUCCESS.get((method.upper(), path))
    if model is None:
        return
    responses = operation["responses"]
    for status in ALSO.get((method.upper(), path), ()):
        responses[status] = {"description": "Successful Response"}
    idempotent = any(p.get("name") == IDEMPOTENCY_HEADER for p in operation.get("parameters", []))
    for status, answer in responses.items():
        if status.startswith("2"):
            answer["headers"] = {**_REQUEST_ID, **(_REPLAY if idempotent else {})}
            media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            example = EXAMPLES.get(f"{method.upper()} {path}")
            if example is not None:
                media["example"] = example
            answer["content"] = {"application/json": media}
    operation["responses"] = dict(sorted(responses.items()))


def _describe_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    public = path in PUBLIC_PATHS or not path.startswith("/v1/")
    operation["security"] = [] if public else _SECURITY
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_HEADER:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "pattern": "^[!-~]([ -~]{0,126}[!-~])?$"}
            parameter["description"] = (
                "any unique string (1-128 printable characters, e.g. a UUID); reuse it when "
                "retrying"
            )
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status in sorted(refusals(path, method, operation)):
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}


def install(app: FastAPI) -> None:
    """Serve the completed document at ``app.openapi_url`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = describe(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
