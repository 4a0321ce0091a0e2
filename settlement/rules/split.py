"""The split of an inpatient bill between the fund and the person — a pure function.

settlement.md, "The bill and its split" and "The catalogue decides, line by line".  Each fee
line arrives already split by the catalogue (:mod:`settlement.rules.catalogue`, rounded per
line); for one admission:

- ``medfee_sumamt``      = sum of the lines' ``det_item_fee_sumamt`` (医疗费总额)
- ``fulamt_ownpay_amt``  = sum of the lines' 全自费金额 (丙 lines)
- ``overlmt_selfpay``    = sum of the lines' ``overlmt_amt`` (超限价自付金额)
- ``preselfpay_amt``     = sum of the lines' 先行自付金额 (乙 lines × their share)
- ``inscp_scp_amt``      = sum of the lines' 符合政策范围金额
                         = medfee_sumamt − fulamt_ownpay_amt − overlmt_selfpay − preselfpay_amt
- ``act_pay_dedc``       = the deductible actually applied (实际支付起付线): the scheme/level
  deductible, halved for a second or later admission in the same year, but never more than
  the in-scope amount
- ``fund_pay_sumamt``    = (inscp_scp_amt − act_pay_dedc) × ratio, capped by the person's
  remaining annual ceiling (基金支付总额)
- ``psn_part_amt``       = medfee_sumamt − fund_pay_sumamt (个人负担总金额)
- ``acct_pay``           = from the employee (310) personal account, only when the holder
  agrees, at most the balance and at most the personal part (个人账户支出)
- ``psn_cash_pay``       = psn_part_amt − acct_pay (个人现金支出)

Rounding rule: the lines' parts are whole fen already (rounded half up per line by the
catalogue rules); here only the reduced deductible of a later admission and the fund payment
are computed, each rounded **half up to the whole fen** once on the bill.  All other amounts
are sums and differences of integers, so the identities hold exactly.

Refunds: a refund line carries negative parts mirroring the line it refunds.  A bill whose
refunds bring any part's total below zero cannot be split — it would make the fund or the
person pay a negative amount for something never charged — and :func:`split_bill` raises
:class:`SplitError` with code ``refund_exceeds_charges``; the fee lines must be corrected
first.  A bill that nets to zero (including an empty bill) splits into all zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from settlement.rules.policy import BASIS_POINTS, HOSPITAL_LEVELS, INSUTYPES, Policy

ACCOUNT_INSUTYPE = "310"
"""Only the employee scheme has a personal account (个人账户)."""


class SplitError(ValueError):
    """The bill or request cannot be split; ``code`` is stable for problem+json responses.

    Codes: ``invalid_bill`` (a malformed request or line), ``refund_exceeds_charges``
    (refunds bring a catalogue class below zero).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SplitIdentityError(ValueError):
    """A :class:`Split` breaks an identity of settlement.md; ``violations`` lists which."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__("settlement identities broken: " + "; ".join(violations))
        self.violations = violations


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up to an integer (both non-negative)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


ITEM_PARTS: tuple[str, ...] = (
    "det_item_fee_sumamt",
    "overlmt_amt",
    "fulamt_ownpay_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
)


@dataclass(frozen=True)
class FeeItem:
    """One fee line's parts in fen as the catalogue split it (negative for a refund);
    ``det_item_fee_sumamt`` = the sum of the four others."""

    serial: str
    det_item_fee_sumamt: int
    overlmt_amt: int
    fulamt_ownpay_amt: int
    preselfpay_amt: int
    inscp_scp_amt: int

    def __post_init__(self) -> None:
        for name in ITEM_PARTS:
            if not _is_int(getattr(self, name)):
                raise SplitError(
                    "invalid_bill",
                    f"fee line {self.serial!r}: {name} must be an integer number of fen, "
                    f"got {getattr(self, name)!r}",
                )
        rest = self.overlmt_amt + self.fulamt_ownpay_amt + self.preselfpay_amt
        if rest + self.inscp_scp_amt != self.det_item_fee_sumamt:
            raise SplitError(
                "invalid_bill",
                f"fee line {self.serial!r}: its parts do not add up to det_item_fee_sumamt",
            )


@dataclass(frozen=True)
class SplitRequest:
    """Everything the split needs about one admission, the person and their year so far
    (the year as :func:`settlement.rules.coverage.benefit_year` defines it).

    ``prior_admissions_this_year`` — settled admissions earlier in the same year (0 for the
    first); ``ceiling_used_fen`` — fund payments already counted against this year's ceiling;
    ``account_balance_fen`` — the personal account balance; ``use_account`` — the holder
    agrees to pay from the account.
    """

    insutype: str
    hospital_level: int
    items: Sequence[FeeItem]
    prior_admissions_this_year: int = 0
    ceiling_used_fen: int = 0
    account_balance_fen: int = 0
    use_account: bool = False

    def __post_init__(self) -> None:
        if self.insutype not in INSUTYPES:
            raise SplitError(
                "invalid_bill",
                f"insutype (insurance scheme) must be one of {INSUTYPES}, got {self.insutype!r}",
            )
        if not _is_int(self.hospital_level) or self.hospital_level not in HOSPITAL_LEVELS:
            raise SplitError(
                "invalid_bill",
                f"hospital level must be one of {HOSPITAL_LEVELS}, got {self.hospital_level!r}",
            )
        for name in ("prior_admissions_this_year", "ceiling_used_fen", "account_balance_fen"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise SplitError(
                    "invalid_bill", f"{name} must be a non-negative integer, got {value!r}"
                )
        if not isinstance(self.use_account, bool):
            raise SplitError(
                "invalid_bill", f"use_account must be a bool, got {self.use_account!r}"
            )
        for item in self.items:
            if not isinstance(item, FeeItem):
                raise SplitError(
                    "invalid_bill", f"items must be FeeItem, got {type(item).__name__}"
                )


@dataclass(frozen=True)
class Split:
    """The result of one split, national field names, all integer fen.

    ``ceiling_used_after_fen`` — the year's ceiling use after this settlement (store it; a
    reversal restores the value before); ``policy_version`` — the policy used (record it).
    """

    medfee_sumamt: int
    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int
    act_pay_dedc: int
    fund_pay_sumamt: int
    psn_part_amt: int
    acct_pay: int
    psn_cash_pay: int
    ceiling_used_after_fen: int
    policy_version: str

    def as_dict(self) -> dict[str, int | str]:
        """The split as a JSON-ready dict with the national field names."""
        return asdict(self)


SPLIT_AMOUNTS: tuple[str, ...] = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)
"""The ten amounts of a :class:`Split` (in fen), in the order of settlement.md: the money
columns of a stored settlement and of every settlement answer and report."""


def part_totals(items: Sequence[FeeItem]) -> dict[str, int]:
    """Net amount in fen per part over the lines (refunds offset what they refund)."""
    totals = dict.fromkeys(ITEM_PARTS, 0)
    for item in items:
        for name in ITEM_PARTS:
            totals[name] += getattr(item, name)
    return totals


def deductible_due(
    policy: Policy, insutype: str, hospital_level: int, prior_admissions_this_year: int
) -> int:
    """The deductible (起付线) for this admission: full for the first admission of the year,
    the policy's share (half by default, rounded half up) for the second and every later one."""
    full = policy.deductible_for(insutype, hospital_level)
    if prior_admissions_this_year <= 0:
        return full
    return round_half_up(full * policy.second_admission_deductible_bp, BASIS_POINTS)


def split_bill(request: SplitRequest, policy: Policy) -> Split:
    """Split one admission's bill under ``policy`` (pure: no I/O, no clock, no floats).

    Raises :class:`SplitError` (``refund_exceeds_charges``) when refunds bring a catalogue
    class below zero.  The result always satisfies :func:`check_identities`.
    """
    totals = part_totals(request.items)
    negative = {name: amount for name, amount in totals.items() if amount < 0}
    if negative:
        detail = ", ".join(f"{name}: {amount} fen" for name, amount in sorted(negative.items()))
        raise SplitError(
            "refund_exceeds_charges",
            f"refunds exceed the charges they refund ({detail}); "
            "correct the fee lines before settling",
        )

    medfee_sumamt = totals["det_item_fee_sumamt"]
    fulamt_ownpay_amt = totals["fulamt_ownpay_amt"]
    overlmt_selfpay = totals["overlmt_amt"]
    preselfpay_amt = totals["preselfpay_amt"]
    inscp_scp_amt = totals["inscp_scp_amt"]

    deductible = deductible_due(
        policy, request.insutype, request.hospital_level, request.prior_admissions_this_year
    )
    act_pay_dedc = min(deductible, inscp_scp_amt)

    ratio_bp = policy.ratio_bp_for(request.insutype, request.hospital_level)
    fund_before_ceiling = round_half_up((inscp_scp_amt - act_pay_dedc) * ratio_bp, BASIS_POINTS)
    ceiling_left = max(0, policy.ceiling_for(request.insutype) - request.ceiling_used_fen)
    fund_pay_sumamt = min(fund_before_ceiling, ceiling_left)

    psn_part_amt = medfee_sumamt - fund_pay_sumamt
    if request.insutype == ACCOUNT_INSUTYPE and request.use_account:
        acct_pay = min(request.account_balance_fen, psn_part_amt)
    else:
        acct_pay = 0
    psn_cash_pay = psn_part_amt - acct_pay

    split = Split(
        medfee_sumamt=medfee_sumamt,
        fulamt_ownpay_amt=fulamt_ownpay_amt,
        overlmt_selfpay=overlmt_selfpay,
        preselfpay_amt=preselfpay_amt,
        inscp_scp_amt=inscp_scp_amt,
        act_pay_dedc=act_pay_dedc,
        fund_pay_sumamt=fund_pay_sumamt,
        psn_part_amt=psn_part_amt,
        acct_pay=acct_pay,
        psn_cash_pay=psn_cash_pay,
        ceiling_used_after_fen=request.ceiling_used_fen + fund_pay_sumamt,
        policy_version=policy.version,
    )
    check_identities(split)
    return split


_MONEY_FIELDS = tuple(f.name for f in fields(Split) if f.name != "policy_version")


def identity_violations(split: Split) -> list[str]:
    """Every identity of settlement.md the split breaks (empty when it is consistent)."""
    broken: list[str] = []
    for name in _MONEY_FIELDS:
        value = getattr(split, name)
        if not _is_int(value):
            broken.append(f"{name} is not an integer number of fen ({value!r})")
    if broken:
        return broken
    for name in _MONEY_FIELDS:
        if getattr(split, name) < 0:
            broken.append(f"{name} is negative ({getattr(split, name)})")
    s = split
    if s.fund_pay_sumamt + s.psn_part_amt != s.medfee_sumamt:
        broken.append(
            f"fund_pay_sumamt + psn_part_amt != medfee_sumamt "
            f"({s.fund_pay_sumamt} + {s.psn_part_amt} != {s.medfee_sumamt})"
        )
    if s.acct_pay + s.psn_cash_pay != s.psn_part_amt:
        broken.append(
            f"acct_pay + psn_cash_pay != psn_part_amt "
            f"({s.acct_pay} + {s.psn_cash_pay} != {s.psn_part_amt})"
        )
    self_paid = s.fulamt_ownpay_amt + s.overlmt_selfpay + s.preselfpay_amt
    if s.medfee_sumamt - self_paid != s.inscp_scp_amt:
        broken.append(
            f"inscp_scp_amt != medfee_sumamt - fulamt_ownpay_amt - overlmt_selfpay - "
            f"preselfpay_amt ({s.inscp_scp_amt} != {s.medfee_sumamt} - {s.fulamt_ownpay_amt} - "
            f"{s.overlmt_selfpay} - {s.preselfpay_amt})"
        )
    if s.act_pay_dedc > s.inscp_scp_amt:
        broken.append(f"act_pay_dedc {s.act_pay_dedc} exceeds inscp_scp_amt {s.inscp_scp_amt}")
    if s.fund_pay_sumamt > s.inscp_scp_amt - s.act_pay_dedc:
        broken.append(
            f"fund_pay_sumamt {s.fund_pay_sumamt} exceeds the in-scope amount above the "
            f"deductible {s.inscp_scp_amt - s.act_pay_dedc}"
        )
    if s.ceiling_used_after_fen < s.fund_pay_sumamt:
        broken.append(
            f"ceiling_used_after_fen {s.ceiling_used_after_fen} is less than this "
            f"settlement's fund_pay_sumamt {s.fund_pay_sumamt}"
        )
    return broken


def check_identities(split: Split) -> None:
    """Raise :class:`SplitIdentityError` unless ``split`` satisfies settlement.md's identities:
    fund + personal part = total, account + cash = personal part, in-scope = total − C −
    over-ceiling − B share, nothing negative, deductible and fund within the in-scope amount."""
    broken = identity_violations(split)
    if broken:
        raise SplitIdentityError(broken)
