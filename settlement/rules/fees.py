"""Fee upload (2301): which lines of an upload are new, which are repeats, the refund rules,
and each new line's split under the insurance catalogue.

Pure functions (no web, no database), tested from tables in
``tests/settlement_rules/test_fees.py``. docs/api.md §Fees, settlement.md "a fee line may be
negative (a refund)" and "The catalogue decides, line by line":

- an upload is idempotent per ``feedetl_sn``: a line already stored (or earlier in the same
  upload) with the same content is a *duplicate* and is skipped; with other content it is a
  conflict (``fee_line_conflict``) — a correction is a new line, never an overwrite;
- a charged line is classed by the catalogue entry of its ``med_list_codg``
  (``catalogue_unknown_item`` without one; a ``list_type`` still sent must agree,
  ``catalogue_class_mismatch``) and split per line (:func:`settlement.rules.catalogue.line_parts`);
- a refund is a new line with a negative ``cnt`` that names, in ``init_feedetl_sn``, the
  charged line (``cnt`` > 0) it refunds, stored or earlier in the same upload; it has that
  line's item and price; and the refunds of a line never exceed what it charged (its
  ``cnt`` plus the ``cnt`` of every refund naming it stays ≥ 0). Otherwise ``refund_invalid``.
  It keeps the charged line's catalogue terms and mirrors its parts
  (:func:`settlement.rules.catalogue.refund_parts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from settlement.rules.catalogue import (
    CHRGITM_LVS,
    CatalogueEntry,
    CatalogueError,
    LineParts,
    check_list_type,
    find_entry,
    line_parts,
    refund_parts,
)


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
    """One fee line (费用明细) as sent: ``cnt_e4`` / 10 000 units of catalogue item
    ``med_list_codg`` at ``pric_e6`` micro-yuan each (exact scaled integers, never floats).
    ``list_type`` (deprecated /v1 field) None when not sent."""

    feedetl_sn: str
    med_list_codg: str
    med_list_name: str
    list_type: str | None
    cnt_e4: int  # negative: a refund of line init_feedetl_sn
    pric_e6: int
    init_feedetl_sn: str | None = None

    @property
    def content(self) -> tuple:
        """Everything but the serial number and the class the catalogue decides: what a
        repeat of the line must match."""
        return (
            self.med_list_codg,
            self.med_list_name,
            self.cnt_e4,
            self.pric_e6,
            self.init_feedetl_sn,
        )


@dataclass(frozen=True, slots=True)
class ClassedLine:
    """A fee line with the catalogue terms it was classed under and its parts in fen."""

    line: FeeLine
    chrgitm_lv: str
    med_chrgitm_type: str
    selfpay_prop_bp: int
    pric_uplmt_e6: int | None
    catalogue_version: str | None
    parts: LineParts

    @property
    def feedetl_sn(self) -> str:
        return self.line.feedetl_sn

    def answer(self) -> dict:
        """The line as 2301's ``result[]`` answers it (money in fen, shares in 1/10 000)."""
        return {
            "feedetl_sn": self.line.feedetl_sn,
            "med_list_codg": self.line.med_list_codg,
            "cnt_e4": self.line.cnt_e4,
            "pric_e6": self.line.pric_e6,
            **self.parts.as_dict(),
            "chrgitm_lv": self.chrgitm_lv,
            "list_type": CHRGITM_LVS[self.chrgitm_lv],
            "med_chrgitm_type": self.med_chrgitm_type,
            "selfpay_prop_bp": self.selfpay_prop_bp,
            "pric_uplmt_e6": self.pric_uplmt_e6,
            "catalogue_version": self.catalogue_version,
        }


@dataclass(frozen=True)
class FeeUploadPlan:
    """The outcome of an upload: the lines to store (in upload order) and the repeats skipped."""

    accepted: list[ClassedLine]
    duplicates: list[ClassedLine]
    lines: list[ClassedLine]  # every line of the upload, in upload order


def refunded_counts(stored: Iterable[FeeLine]) -> dict[str, int]:
    """Per charged line, the sum of the ``cnt_e4`` of the stored lines naming it (its refunds)."""
    refunded: dict[str, int] = {}
    for line in stored:
        if line.init_feedetl_sn:
            refunded[line.init_feedetl_sn] = refunded.get(line.init_feedetl_sn, 0) + line.cnt_e4
    return refunded


def check_refund(refund: FeeLine, original: FeeLine | None, refunded_so_far: int) -> None:
    """The refund rules for one refund line (``cnt`` < 0); :class:`FeeLineError` if broken.

    ``original`` is the line named by ``refund.init_feedetl_sn`` (None if there is none);
    ``refunded_so_far`` the sum of the ``cnt`` of its earlier refunds (≤ 0).
    """
    if original is None or original.cnt_e4 <= 0:
        raise FeeLineError(
            "refund_invalid",
            f"refund line {refund.feedetl_sn} must name the charged line it refunds in "
            "init_feedetl_sn",
        )
    if (original.med_list_codg, original.pric_e6) != (refund.med_list_codg, refund.pric_e6):
        raise FeeLineError(
            "refund_invalid",
            f"refund line {refund.feedetl_sn} must have the item and price of "
            f"line {refund.init_feedetl_sn}",
        )
    if original.cnt_e4 + refunded_so_far + refund.cnt_e4 < 0:
        raise FeeLineError(
            "refund_invalid",
            f"refund line {refund.feedetl_sn} refunds more than line "
            f"{refund.init_feedetl_sn} charged",
        )


def classify(
    line: FeeLine, entries: Mapping[str, CatalogueEntry], day: date, version: str | None
) -> ClassedLine:
    """A charged line classed by its catalogue entry valid on ``day`` and split."""
    entry = find_entry(entries, line.med_list_codg, day, line.feedetl_sn)
    check_list_type(entry, line.list_type, line.feedetl_sn)
    terms = (entry.chrgitm_lv, entry.selfpay_prop_bp, entry.pric_uplmt_e6)
    return ClassedLine(
        line,
        entry.chrgitm_lv,
        entry.med_chrgitm_type,
        entry.selfpay_prop_bp,
        entry.pric_uplmt_e6,
        version,
        line_parts(*terms, line.cnt_e4, line.pric_e6),
    )


def mirror(refund: FeeLine, original: ClassedLine, refunded_so_far: int) -> ClassedLine:
    """A refund line with its charged line's terms and the parts it takes back."""
    if refund.list_type is not None and CHRGITM_LVS[original.chrgitm_lv] != refund.list_type:
        raise CatalogueError(
            "catalogue_class_mismatch",
            f"refund line {refund.feedetl_sn}: list_type {refund.list_type} disagrees with "
            f"line {original.feedetl_sn}'s class {CHRGITM_LVS[original.chrgitm_lv]} "
            f"(chrgitm_lv {original.chrgitm_lv})",
        )
    parts = refund_parts(
        original.chrgitm_lv,
        original.selfpay_prop_bp,
        original.pric_uplmt_e6,
        original.line.cnt_e4 + refunded_so_far,
        refund.cnt_e4,
        refund.pric_e6,
    )
    return replace(original, line=refund, parts=parts)


def plan_upload(
    lines: Sequence[FeeLine],
    stored: Sequence[ClassedLine],
    entries: Mapping[str, CatalogueEntry],
    day: date,
    version: str | None,
) -> FeeUploadPlan:
    """Check an upload against the admission's ``stored`` lines, line by line in order, and
    class each new charged line under the catalogue ``entries`` (of ``version``) valid on
    ``day``.

    Raises :class:`FeeLineError` or :class:`~settlement.rules.catalogue.CatalogueError` at
    the first line that breaks a rule (nothing of the upload is then stored); otherwise the
    new lines to store and the repeats, each with its parts.
    """
    known = {item.feedetl_sn: item for item in stored}
    refunded = refunded_counts(item.line for item in stored)
    accepted: list[ClassedLine] = []
    duplicates: list[ClassedLine] = []
    ordered: list[ClassedLine] = []
    for line in lines:
        earlier = known.get(line.feedetl_sn)
        if earlier is not None:
            if earlier.line.content != line.content:
                raise FeeLineError(
                    "fee_line_conflict",
                    f"fee line {line.feedetl_sn} was already uploaded with different content; "
                    "use a new feedetl_sn (a refund is a new line with a negative cnt)",
                )
            duplicates.append(earlier)
            ordered.append(earlier)
            continue
        if line.cnt_e4 < 0:
            original = known.get(line.init_feedetl_sn) if line.init_feedetl_sn else None
            so_far = refunded.get(line.init_feedetl_sn or "", 0)
            check_refund(line, None if original is None else original.line, so_far)
            item = mirror(line, original, so_far)  # type: ignore[arg-type]  # checked above
            refunded[line.init_feedetl_sn or ""] = so_far + line.cnt_e4
        else:
            item = classify(line, entries, day, version)
        known[line.feedetl_sn] = item
        accepted.append(item)
        ordered.append(item)
    return FeeUploadPlan(accepted, duplicates, ordered)
