"""Errors as RFC 9457 problem+json with a stable ``code`` (docs/api.md §Error codes)."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://sscard.example/problems/"

TITLES: dict[str, str] = {
    "unauthenticated": "Authentication required",
    "not_entitled": "Not entitled",
    "not_found": "Not found",
    "card_unknown": "Card not registered",
    "person_unknown": "Person not registered",
    "conflict": "Already exists",
    "idempotency_key_required": "Idempotency-Key header required",
    "idempotency_key_reused": "Idempotency-Key reused with a different request",
    "idempotency_in_progress": "Request with this Idempotency-Key still in progress",
    "validation_error": "Invalid request",
    "card_lost": "Card reported lost",
    "card_expired": "Card expired",
    "card_cancelled": "Card cancelled",
    "card_replaced": "Card replaced",
    "card_not_active": "Card not collected yet",
    "card_not_holder": "Card belongs to another person",
    "card_required": "Card authentication required",
    "pin_not_verified": "PIN not verified",
    "proof_invalid": "Card proof invalid",
    "proof_replayed": "Card proof replayed",
    "proof_expired": "Card proof expired",
    "proof_mismatch": "Card proof for another card, purpose or terminal",
    "challenge_unknown": "Challenge unknown",
    "card_auth_unknown": "Card authentication unknown",
    "card_auth_foreign": "Card authentication of another institution or terminal",
    "card_auth_expired": "Card authentication expired",
    "card_auth_pin_done": "Card authentication already PIN-verified",
    "exemption_refused": "Exemption refused",
    "not_covered": "Not covered",
    "already_settled": "Already settled",
    "already_reversed": "Already reversed",
    "reversal_not_undoable": "Reversal cannot be undone",
    "fee_line_conflict": "Fee line conflict",
    "refund_invalid": "Refund invalid",
    "catalogue_unknown_item": "Item not in the insurance catalogue",
    "catalogue_class_mismatch": "list_type disagrees with the insurance catalogue",
    "catalogue_invalid": "Catalogue file invalid",
    "refund_exceeds_charges": "Refunds exceed charges",
    "bill_negative": "Bill negative",
    "enrolment_refused": "Enrolment refused",
    "password_invalid": "Password invalid",
    "card_state": "Card state does not allow this",
    "busy": "Database busy",
    "body_too_large": "Request body too large",
    "headers_too_large": "Request headers too large",
    "malformed_body": "Malformed request body",
    "rate_limited": "Too many requests",
    "key_revoked": "API key revoked",
    "internal_error": "Internal error",
}


class Problem(Exception):
    """A refusal with an HTTP status and a stable code.

    ``audit``: write an audit entry for this refusal (action, subject).
    ``consume_challenge``: a proof challenge that stays used even though the
    request was refused (single-use means single *attempt*).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        audit: tuple[str, str | None] | None = None,
        consume_challenge: str | None = None,
        replayable: bool = True,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra or {}
        self.audit = audit
        self.consume_challenge = consume_challenge
        self.replayable = replayable

    def body(self) -> dict[str, Any]:
        body = {
            "type": PROBLEM_BASE + self.code,
            "title": TITLES.get(self.code, self.code.replace("_", " ").capitalize()),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


def not_found(what: str) -> Problem:
    return Problem(404, "not_found", f"{what} not found")


def not_entitled(detail: str, action: str | None = None, subject: str | None = None) -> Problem:
    return Problem(403, "not_entitled", detail, audit=(action, subject) if action else None)
