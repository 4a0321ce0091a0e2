"""Fee upload (2301): which lines of an upload are new, which are repeats, and the refund rules.

Pure functions (no web, no database), tested from tables in
``tests/settlement_rules/test_fees.py``. docs/api.md §Fees, settlement.md "a fee line may be
negative (a refund)":

- an upload is idempotent per ``feedetl_sn``: a line already stored (or earlier in the same
  upload) with the same content is a *duplicate* and is skipped; with other content it is a
  conflict (``fee_line_conflict``) — a correction is a new line, never an overwrite;
- a refund is a new line with a negative ``cnt`` that names, in ``init_feedetl_sn``, the
  charged line (``cnt`` > 0) it refunds, stored or earlier in the same upload; it has that
  line's item, class and price; and the refunds of a line never exceed what it charged (its
  ``cnt`` plus the ``cnt`` of every refund naming it stays ≥ 0). Otherwise ``refund_invalid``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class FeeLineError(ValueError):
    """An upload breaks a fee-line rule; ``code`` is stable for problem+json responses.

    Codes: ``fee_line_conflict`` (a known ``feedetl_sn`` with other content),
    ``refund_invalid`` (a refund that names no charged line, another item or price, or refunds
    more than was charged).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One fee line (费用明细): ``cnt`` × ``pric`` fen of catalogue item ``med_list_codg``."""

    feedetl_sn: str
    med_list_codg: str
    med_list_name: str
    list_type: str  # catalogue class A / B / C
    cnt: int  # negative: a refund of line init_feedetl_sn
    pric: int  # unit price in fen
    init_feedetl_sn: str | None = None

    @property
    def det_item_fee_sumamt(self) -> int:
        """The line's amount in fen (明细项目费用总额)."""
        return self.cnt * self.pric

    @property
    def content(self) -> tuple:
        """Everything but the serial number: what a repeat of the line must match."""
        return (
            self.med_list_codg,
            self.med_list_name,
            self.list_type,
            self.cnt,
            self.pric,
            self.init_feedetl_sn,
        )


@dataclass(frozen=True)
class FeeUploadPlan:
    """The outcome of an upload: the lines to store (in upload order) and the repeats skipped."""

    accepted: list[FeeLine]
    duplicates: list[str]


def refunded_counts(stored: Iterable[FeeLine]) -> dict[str, int]:
    """Per charged line, the sum of the ``cnt`` of the stored lines naming it (its refunds)."""
    refunded: dict[str, int] = {}
    for line in stored:
        if line.init_feedetl_sn:
            refunded[line.init_feedetl_sn] = refunded.get(line.init_feedetl_sn, 0) + line.cnt
    return refunded


def check_refund(refund: FeeLine, original: FeeLine | None, refunded_so_far: int) -> None:
    """The refund rules for one refund line (``cnt`` < 0); :class:`FeeLineError` if broken.

    ``original`` is the line named by ``refund.init_feedetl_sn`` (None if there is none);
    ``refunded_so_far`` the sum of the ``cnt`` of its earlier refunds (≤ 0).
    """
    if original is None or original.cnt <= 0:
        raise FeeLineError(
            "refund_invalid",
            f"refund line {refund.feedetl_sn} must name the charged line it refunds in "
            "init_feedetl_sn",
        )
    if (original.med_list_codg, original.list_type, original.pric) != (
        refund.med_list_codg,
        refund.list_type,
        refund.pric,
    ):
        raise FeeLineError(
            "refund_invalid",
            f"refund line {refund.feedetl_sn} must have the item, class and price of "
            f"line {refund.init_feedetl_sn}",
        )
    if original.cnt + refunded_so_far + refund.cnt < 0:
        raise FeeLineError(
            "refund_invalid",
            f"refund line {refund.feedetl_sn} refunds more than line "
            f"{refund.init_feedetl_sn} charged",
        )


def plan_upload(lines: Sequence[FeeLine], stored: Sequence[FeeLine]) -> FeeUploadPlan:
    """Check an upload against the admission's ``stored`` lines, line by line in order.

    Raises :class:`FeeLineError` at the first line that breaks a rule (nothing of the upload
    is then stored); otherwise the new lines to store and the ``feedetl_sn`` of the repeats.
    """
    known = {line.feedetl_sn: line for line in stored}
    refunded = refunded_counts(stored)
    accepted: list[FeeLine] = []
    duplicates: list[str] = []
    for line in lines:
        earlier = known.get(line.feedetl_sn)
        if earlier is not None:
            if earlier.content != line.content:
                raise FeeLineError(
                    "fee_line_conflict",
                    f"fee line {line.feedetl_sn} was already uploaded with different content; "
                    "use a new feedetl_sn (a refund is a new line with a negative cnt)",
                )
            duplicates.append(line.feedetl_sn)
            continue
        if line.cnt < 0:
            original = known.get(line.init_feedetl_sn) if line.init_feedetl_sn else None
            check_refund(line, original, refunded.get(line.init_feedetl_sn or "", 0))
            refunded[line.init_feedetl_sn] = refunded.get(line.init_feedetl_sn, 0) + line.cnt
        known[line.feedetl_sn] = line
        accepted.append(line)
    return FeeUploadPlan(accepted, duplicates)
