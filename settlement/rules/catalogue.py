"""The insurance catalogue (医保目录) decides each fee line — pure rules, no I/O.

settlement.md "The catalogue decides, line by line"; nhsa.md 2301. A catalogue entry gives
an item's class (``chrgitm_lv`` 01 甲 / 02 乙 / 03 丙), its self-pay share (``selfpay_prop``)
and optionally a unit-price ceiling (``pric_uplmt_amt``). A fee line is split when it is
uploaded, in fen, each part rounded half up **per line**:

- ``det_item_fee_sumamt`` = cnt × pric;
- ``overlmt_amt``         = cnt × max(0, pric − pric_uplmt_amt)  (self-paid);
- ``fulamt_ownpay_amt``   = the rest of a 丙 line;
- ``preselfpay_amt``      = (det_item_fee_sumamt − overlmt_amt) × selfpay_prop for 乙;
- ``inscp_scp_amt``       = det_item_fee_sumamt − overlmt_amt − fulamt_ownpay_amt − preselfpay_amt.

Exact values only: a quantity is a scaled integer ``cnt_e4`` = cnt × 10 000 (up to 4
decimals), a unit price ``pric_e6`` = pric in micro-yuan (yuan × 1 000 000, up to 6 decimals
of a yuan; one fen is 10 000 micro-yuan), a share ``selfpay_prop_bp`` in 1/10 000. Refund
lines mirror the line they refund: a refund's parts are the line's parts for the quantity
left before it minus those for the quantity left after it (:func:`refund_parts`), so the
refunds of a line add up exactly to the line's parts whatever the rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

CNT_SCALE = 10_000
"""``cnt_e4`` = cnt × CNT_SCALE (up to 4 decimals, nhsa.md §Numbers)."""
PRIC_SCALE = 1_000_000
"""``pric_e6`` = pric in yuan × PRIC_SCALE (up to 6 decimals of a yuan)."""
FEN_PER_YUAN = 100
PROP_SCALE = 10_000
"""``selfpay_prop_bp`` = selfpay_prop × PROP_SCALE."""
_LINE_DENOMINATOR = CNT_SCALE * PRIC_SCALE // FEN_PER_YUAN
"""cnt_e4 × pric_e6 / _LINE_DENOMINATOR = fen."""

CHRGITM_LVS = {"01": "A", "02": "B", "03": "C"}
"""``chrgitm_lv`` → the project's class letter (甲 A, 乙 B, 丙 C)."""
CLASS_NAMES = {"01": "甲", "02": "乙", "03": "丙"}
LINE_PARTS = (
    "det_item_fee_sumamt",
    "overlmt_amt",
    "fulamt_ownpay_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
)
"""The five per-line amounts (fen) of nhsa.md 2301's ``result[]``."""


class CatalogueError(ValueError):
    """A catalogue entry, file or lookup is refused; ``code`` is stable for problem+json.

    Codes: ``catalogue_invalid`` (a bad file or row; the message names the line),
    ``catalogue_unknown_item`` (no entry for a code, the code named),
    ``catalogue_class_mismatch`` (a sent ``list_type`` disagrees with the catalogue).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def round_half_up_signed(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (a refund mirrors a charge)."""
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One catalogue item. ``pric_uplmt_e6`` None: no ceiling. Valid from ``begndate`` to
    ``enddate`` inclusive (None: open)."""

    med_list_codg: str
    med_list_name: str
    chrgitm_lv: str
    med_chrgitm_type: str
    selfpay_prop_bp: int
    pric_uplmt_e6: int | None = None
    begndate: date | None = None
    enddate: date | None = None

    def valid_on(self, day: date) -> bool:
        """Whether the entry applies to a fee of ``day``."""
        if self.begndate is not None and day < self.begndate:
            return False
        return self.enddate is None or day <= self.enddate


@dataclass(frozen=True, slots=True)
class LineParts:
    """A fee line's split in fen (nhsa.md 2301 ``result[]``), with the class and share used."""

    det_item_fee_sumamt: int
    overlmt_amt: int
    fulamt_ownpay_amt: int
    preselfpay_amt: int
    inscp_scp_amt: int

    def minus(self, other: LineParts) -> LineParts:
        return LineParts(*(getattr(self, n) - getattr(other, n) for n in LINE_PARTS))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in LINE_PARTS}


ZERO_PARTS = LineParts(0, 0, 0, 0, 0)


def line_amount(cnt_e4: int, pric_e6: int) -> int:
    """``det_item_fee_sumamt``: cnt × pric in fen, rounded half up (away from zero)."""
    return round_half_up_signed(cnt_e4 * pric_e6, _LINE_DENOMINATOR)


def line_parts(
    chrgitm_lv: str,
    selfpay_prop_bp: int,
    pric_uplmt_e6: int | None,
    cnt_e4: int,
    pric_e6: int,
) -> LineParts:
    """The split of a charged line (``cnt_e4`` ≥ 0) under its catalogue entry's terms."""
    if cnt_e4 < 0 or pric_e6 < 0:
        raise ValueError("line_parts takes a charged line (cnt ≥ 0, pric ≥ 0)")
    det = line_amount(cnt_e4, pric_e6)
    over_unit = 0 if pric_uplmt_e6 is None else max(0, pric_e6 - pric_uplmt_e6)
    overlmt = line_amount(cnt_e4, over_unit)
    rest = det - overlmt
    if chrgitm_lv == "03":
        return LineParts(det, overlmt, rest, 0, 0)
    preselfpay = round_half_up_signed(rest * selfpay_prop_bp, PROP_SCALE)
    return LineParts(det, overlmt, 0, preselfpay, rest - preselfpay)


def refund_parts(
    chrgitm_lv: str,
    selfpay_prop_bp: int,
    pric_uplmt_e6: int | None,
    left_before_e4: int,
    refund_cnt_e4: int,
    pric_e6: int,
) -> LineParts:
    """A refund line's parts (all ≤ 0): the charged line's parts for the quantity left after
    the refund minus those for the quantity left before it (``left_before_e4`` ≥ −refund)."""
    terms = (chrgitm_lv, selfpay_prop_bp, pric_uplmt_e6)
    after = line_parts(*terms, left_before_e4 + refund_cnt_e4, pric_e6)
    return after.minus(line_parts(*terms, left_before_e4, pric_e6))


def check_list_type(entry: CatalogueEntry, list_type: str | None, feedetl_sn: str) -> None:
    """A ``list_type`` the caller still sends (/v1, deprecated) must agree with the catalogue."""
    if list_type is not None and CHRGITM_LVS[entry.chrgitm_lv] != list_type:
        raise CatalogueError(
            "catalogue_class_mismatch",
            f"fee line {feedetl_sn}: list_type {list_type} disagrees with the catalogue, which "
            f"classes {entry.med_list_codg} as {CHRGITM_LVS[entry.chrgitm_lv]} "
            f"(chrgitm_lv {entry.chrgitm_lv}); leave list_type out, the catalogue decides",
        )


def find_entry(
    entries: dict[str, CatalogueEntry], med_list_codg: str, day: date, feedetl_sn: str
) -> CatalogueEntry:
    """The entry for a code valid on ``day``; ``catalogue_unknown_item`` naming the code."""
    entry = entries.get(med_list_codg)
    if entry is None or not entry.valid_on(day):
        raise CatalogueError(
            "catalogue_unknown_item",
            f"fee line {feedetl_sn}: med_list_codg {med_list_codg!r} is not in the insurance "
            f"catalogue{'' if entry is None else f' on {day.isoformat()}'} (目录中无此项目)",
        )
    return entry


def scaled(text: str, scale_digits: int, what: str) -> int:
    """A non-negative decimal string with at most ``scale_digits`` decimals, × 10^digits."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a decimal number, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a non-negative decimal number, got {text!r}")
    result = value.scaleb(scale_digits)
    if result != result.to_integral_value():
        raise ValueError(f"{what} has more than {scale_digits} decimals: {text!r}")
    return int(result)
