"""Success answers of contributions (docs/api.md §Contributions)."""

from __future__ import annotations

from typing import Any, Literal

from settlement.api.responses.models import Day, Fen, Out, Time


class EnrolmentRecord(Out):
    psn_no: str
    category: Literal["resident", "flexible_worker"]
    applied_on: Day
    coverage_start: Day
    entered_on: Day
    payable_from: Day
    correctable_until: Day


class ContributionStatus(Out):
    psn_no: str
    category: str | None = None
    year: int
    state: str
    reason: str | None = None
    payable_from: Day | None = None
    covered_from: Day | None = None
    covered_to: Day | None = None
    on: Day


class PaymentOrder(Out):
    order_no: str
    channel: str
    channel_order_id: str
    psn_no: str
    category: str
    year: int
    medical_fen: Fen
    pension_fen: Fen
    amount_fen: Fen
    rates_version: str
    status: str
    expires_at: Time
    channel_txn_id: str | None = None
    confirmed_on: Day | None = None


class MigratedPayment(Out):
    psn_no: str
    year: int
    amount_fen: Fen
    source: str
    covered_from: Day
    covered_to: Day


class ChannelReconciliation(Out):
    channel: str
    day: Day
    count: int
    amount_fen: Fen
    internal_balanced: bool
    created: dict[str, int]
    balanced: bool | None = None
    count_difference: int | None = None
    amount_difference_fen: int | None = None
    orders: list[dict[str, Any]] | None = None
