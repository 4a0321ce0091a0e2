"""The split of an inpatient bill between the fund and the person — a pure function.

settlement.md, "The bill and its split (amounts in fen, integers only)".  For one admission:

- ``medfee_sumamt``      = sum of all fee lines (医疗费总额)
- ``fulamt_ownpay_amt``  = class C lines (全自费金额)
- ``preselfpay_amt``     = class B lines × the class-B share (先行自付金额)
- ``inscp_scp_amt``      = medfee_sumamt − fulamt_ownpay_amt − preselfpay_amt (符合政策范围金额)
- ``act_pay_dedc``       = the deductible actually applied (实际支付起付线): the scheme/level
  deductible, halved for a second or later admission in the same year, but never more than
  the in-scope amount
- ``fund_pay_sumamt``    = (inscp_scp_amt − act_pay_dedc) × ratio, capped by the person's
  remaining annual ceiling (基金支付总额)
- ``psn_part_amt``       = medfee_sumamt − fund_pay_sumamt (个人负担总金额)
- ``acct_pay``           = from the employee (310) personal account, only when the holder
  agrees, at most the balance and at most the personal part (个人账户支出)
- ``psn_cash_pay``       = psn_part_amt − acct_pay (个人现金支出)

Rounding rule (the only place fractions of a fen appear): each *computed* amount — the
class-B pre-self-pay, the reduced deductible of a later admission, and the fund payment — is
rounded **half up to the whole fen**, once, on the class or bill total (never per line, so a
bill split into many lines rounds the same as one line).  All other amounts are sums and
differences of integers, so the identities hold exactly.

Refunds: a fee line may be negative (a refund, quantity × unit price < 0).  Refunds offset
charges *within their catalogue class*.  A bill whose refunds bring any class total below zero
cannot be split — it would make the fund or the person pay a negative amount for something
never charged — and :func:`split_bill` raises :class:`SplitError` with code
``refund_exceeds_charges``; the fee lines must be corrected first.  A bill that nets to zero
(including an empty bill) splits into all zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

from settlement.rules.policy import BASIS_POINTS, HOSPITAL_LEVELS, INSUTYPES, Policy

CatalogueClass = Literal["A", "B", "C"]
CATALOGUE_CLASSES: tuple[str, ...] = ("A", "B", "C")
"""甲类 (fully in scope), 乙类 (pre-self-pay share, then in scope), 丙类 (self-pay)."""

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


@dataclass(frozen=True)
class FeeItem:
    """One fee line (费用明细): ``amount_fen`` = quantity × unit price, negative for a refund."""

    serial: str
    catalogue_class: CatalogueClass
    amount_fen: int

    def __post_init__(self) -> None:
        if self.catalogue_class not in CATALOGUE_CLASSES:
            raise SplitError(
                "invalid_bill",
                f"fee line {self.serial!r}: catalogue class must be one of "
                f"{CATALOGUE_CLASSES}, got {self.catalogue_class!r}",
            )
        if not _is_int(self.amount_fen):
            raise SplitError(
                "invalid_bill",
                f"fee line {self.serial!r}: amount must be an integer number of fen, "
                f"got {self.amount_fen!r}",
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
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)
"""The nine amounts of a :class:`Split` (in fen), in the order of settlement.md: the money
columns of a stored settlement and of every settlement answer and report."""


def class_totals(items: Sequence[FeeItem]) -> dict[str, int]:
    """Net amount in fen per catalogue class (refunds offset charges of their class)."""
    totals = dict.fromkeys(CATALOGUE_CLASSES, 0)
    for item in items:
        totals[item.catalogue_class] += item.amount_fen
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
    totals = class_totals(request.items)
    negative = {cls: amount for cls, amount in totals.items() if amount < 0}
    if negative:
        detail = ", ".join(f"class {cls}: {amount} fen" for cls, amount in sorted(negative.items()))
        raise SplitError(
            "refund_exceeds_charges",
            f"refunds exceed the charges of their catalogue class ({detail}); "
            "correct the fee lines before settling",
        )

    medfee_sumamt = totals["A"] + totals["B"] + totals["C"]
    fulamt_ownpay_amt = totals["C"]
    preselfpay_amt = round_half_up(totals["B"] * policy.class_b_preselfpay_bp, BASIS_POINTS)
    inscp_scp_amt = medfee_sumamt - fulamt_ownpay_amt - preselfpay_amt

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
    if s.medfee_sumamt - s.fulamt_ownpay_amt - s.preselfpay_amt != s.inscp_scp_amt:
        broken.append(
            f"inscp_scp_amt != medfee_sumamt - fulamt_ownpay_amt - preselfpay_amt "
            f"({s.inscp_scp_amt} != {s.medfee_sumamt} - {s.fulamt_ownpay_amt} - {s.preselfpay_amt})"
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
    fund + personal part = total, account + cash = personal part, in-scope = total − C − B
    share, nothing negative, deductible and fund within the in-scope amount."""
    broken = identity_violations(split)
    if broken:
        raise SplitIdentityError(broken)
