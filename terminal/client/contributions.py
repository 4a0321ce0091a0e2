"""Resident enrolment and contribution payment as methods (docs/api.md §Contributions,
issue 20): the card centre's enrolment records, and a payment channel's orders, callbacks and
daily reconciliation. Every /v1 path of these lives here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from terminal.client.http import HttpClient


class EnrolmentClient(HttpClient):
    """The card centre's (community office's) calls: enrolment records and their state."""

    def enter(
        self,
        psn_no: str,
        *,
        category: str = "resident",
        applied_on: date | None = None,
        entered_on: date | None = None,
    ) -> dict[str, Any]:
        """Enter the person's enrolment record (``entered_on``: admin only, a record migrated
        from an earlier system)."""
        body: dict[str, Any] = {"psn_no": psn_no, "category": category}
        if applied_on is not None:
            body["applied_on"] = applied_on.isoformat()
        if entered_on is not None:
            body["entered_on"] = entered_on.isoformat()
        return self.request("POST", "/v1/enrolments", json=body)

    def correct(self, psn_no: str, **changes: Any) -> dict[str, Any]:
        """Correct the record (``category``, ``applied_on``) within its correction window."""
        body = {k: v.isoformat() if isinstance(v, date) else v for k, v in changes.items()}
        return self.request("POST", f"/v1/enrolments/{psn_no}/correction", json=body)

    def status(self, psn_no: str, *, year: int | None = None, on: date | None = None) -> dict:
        """The person's state for an insurance year and why."""
        params: dict[str, Any] = {}
        if year is not None:
            params["year"] = year
        if on is not None:
            params["on"] = on.isoformat()
        return self.request("GET", f"/v1/people/{psn_no}/contributions", params=params)


class PaymentChannelClient(EnrolmentClient):
    """A payment channel's calls (institution kind ``payment_channel``)."""

    def create_order(self, channel_order_id: str, psn_no: str, year: int) -> dict[str, Any]:
        """A payment order for one person-year; the same ``channel_order_id`` answers the same
        order (so a retry after a lost answer never makes a second one)."""
        body = {"channel_order_id": channel_order_id, "psn_no": psn_no, "year": year}
        return self.request(
            "POST", "/v1/payment-orders", json=body, idempotency_key=f"po-{channel_order_id}"
        )

    def order(self, order_no: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/payment-orders/{order_no}")

    def confirm(self, order_no: str, channel_txn_id: str, amount_fen: int) -> dict[str, Any]:
        """The channel's callback once the person has paid ``amount_fen``."""
        return self.request(
            "POST",
            f"/v1/payment-orders/{order_no}/confirmation",
            json={"channel_txn_id": channel_txn_id, "amount_fen": amount_fen},
            idempotency_key=f"pc-{order_no}-{channel_txn_id}",
        )

    def reconciliation(
        self,
        channel: str,
        day: date,
        *,
        count: int | None = None,
        amount_fen: int | None = None,
        detail: bool = False,
    ) -> dict[str, Any]:
        """The service's totals of ``day`` for ``channel``; with the channel's own figures,
        whether they balance."""
        params: dict[str, Any] = {"day": day.isoformat()}
        if count is not None:
            params["count"] = count
        if amount_fen is not None:
            params["amount_fen"] = amount_fen
        if detail:
            params["detail"] = "true"
        return self.request("GET", f"/v1/payment-channels/{channel}/reconciliation", params=params)
