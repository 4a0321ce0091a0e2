"""Every error answer is problem+json with a stable ``code`` (docs/api.md §Errors).

FastAPI/Starlette answer their own errors (unknown route, wrong method,
unparseable body) with ``{"detail": ...}``; these handlers turn them, request
validation errors, a busy database and unexpected exceptions into problems,
and send the domain's refusals (:class:`Problem`) as they are.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from settlement import metrics
from settlement.problems import Problem
from settlement.schemas import EvidenceConflict
from settlement.service import is_busy

log = logging.getLogger("settlement")
PROBLEM_JSON = "application/problem+json"
#: Seconds a client waits before it retries a 503 (the database busy, restarting or failing
#: over to its standby: docs/deploy.md §High availability), sent as ``Retry-After``.
RETRY_AFTER_S = 1

#: Starlette's own HTTP errors by status: (code, detail).
HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("malformed_body", "the request body is not valid JSON in UTF-8"),
    404: ("not_found", "no such endpoint"),
    405: ("method_not_allowed", "this endpoint does not accept that method"),
    413: ("body_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "send the body as application/json"),
}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def retry_after(problem: Problem) -> dict[str, str] | None:
    """``Retry-After`` for a 503 (the client retries with the same Idempotency-Key), else None."""
    return {"Retry-After": str(RETRY_AFTER_S)} if problem.status == 503 else None


def validation_problem(error: RequestValidationError) -> Problem:
    """422 ``validation_error`` (``evidence_conflict`` for contradicting evidence aliases,
    400 ``malformed_body`` for a body that is not JSON)."""
    errors = error.errors()
    for item in errors:
        if isinstance((item.get("ctx") or {}).get("error"), EvidenceConflict):
            return Problem(422, "evidence_conflict", str(item["ctx"]["error"]))
        if item.get("type") == "json_invalid":
            return Problem(400, "malformed_body", "the request body is not valid JSON")
    listed = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in errors]
    return Problem(
        422,
        "validation_error",
        "the request body or parameters are invalid",
        extra={"errors": listed},
    )


def database_problem(error: DBAPIError) -> Problem:
    """A database error as the client sees it (docs/api.md §Errors), logged on one line
    without the statement's parameters (personal data): busy or unreachable → ``503``
    (retry with the same Idempotency-Key; the first request after a PostgreSQL restart
    finds its pooled connection dead), a constraint → ``409 conflict``, else ``500``."""
    reason = type(error.orig).__name__ if error.orig is not None else type(error).__name__
    if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
        metrics.DATABASE_BUSY.inc()
    if isinstance(error, OperationalError) and is_busy(error):
        return Problem(503, "busy", "the database is busy; retry with the same Idempotency-Key")
    if error.connection_invalidated or isinstance(error, OperationalError | InterfaceError):
        log.warning("database unavailable (%s)", reason)
        return Problem(
            503, "busy", "the database is unavailable; retry with the same Idempotency-Key"
        )
    if isinstance(error, IntegrityError):
        log.warning("database constraint refused a write (%s)", reason)
        return Problem(409, "conflict", "the request conflicts with stored data")
    log.error("database error (%s)", reason)
    return Problem(500, "internal_error", "database error")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(Problem)
    async def _on_problem(_request: Request, problem: Problem) -> JSONResponse:
        return problem_response(problem, headers=retry_after(problem))

    @app.exception_handler(DBAPIError)
    async def _on_db(_request: Request, error: DBAPIError) -> JSONResponse:
        problem = database_problem(error)
        return problem_response(problem, headers=retry_after(problem))

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(error))

    @app.exception_handler(HTTPException)
    async def _on_http(_request: Request, error: HTTPException) -> JSONResponse:
        code, detail = HTTP_CODES.get(
            error.status_code, (f"http_{error.status_code}", str(error.detail))
        )
        return problem_response(
            Problem(error.status_code, code, detail), headers=dict(error.headers or {})
        )

    @app.exception_handler(Exception)
    async def _on_unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=error)
        return problem_response(Problem(500, "internal_error", "internal error"))
