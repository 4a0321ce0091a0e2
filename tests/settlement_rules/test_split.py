"""The bill split of settlement.md, table-driven, with the default policy 2026.1.

Expected figures are worked out by hand in the comments (fen; 1 yuan = 100 fen):
deductible 200/500/800 yuan by level, ratio employee 90/85/80 %, resident 80/70/60 %,
ceiling employee 300 000 yuan, resident 150 000 yuan, class B share 10 %, second admission
half the deductible, rounding half up to the fen on each computed amount. The lines arrive
split by the catalogue rules (settlement/rules/catalogue.py, rounded per line): ``bill``
builds them with the share of every 乙 line 10 %.
"""

from dataclasses import FrozenInstanceError, replace

import pytest

from settlement.rules import (
    FeeItem,
    Policy,
    Split,
    SplitError,
    SplitIdentityError,
    SplitRequest,
    check_identities,
    load_policy,
    split_bill,
)
from settlement.rules.catalogue import line_parts
from settlement.rules.split import identity_violations, round_half_up

POLICY = load_policy()
YUAN = 100
LEVELS = {"A": "01", "B": "02", "C": "03"}


def bill(*lines: tuple[str, int], share_bp: int = 1_000) -> list[FeeItem]:
    """Fee lines from (class, amount_fen) pairs, serials 1..n, each one unit at that price,
    split per line; a negative amount is the refund of such a line (its parts negated)."""
    items = []
    for n, (cls, amount) in enumerate(lines, 1):
        bp = {"A": 0, "B": share_bp, "C": 10_000}[cls]
        parts = line_parts(LEVELS[cls], bp, None, 10_000, abs(amount) * 10_000).as_dict()
        sign = -1 if amount < 0 else 1
        items.append(FeeItem(str(n), **{k: sign * v for k, v in parts.items()}))
    return items


def request(insutype="310", level=1, items=(), prior=0, used=0, balance=0, use_account=False):
    return SplitRequest(insutype, level, list(items), prior, used, balance, use_account)


FIELDS = [
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "ceiling_used_after_fen",
]

# (id, request, expected tuple in FIELDS order)
# fmt: off
CASES = [
    # -- deductible and ratio per scheme and level: 10 000 yuan of class A --------------
    ("310-L1", request("310", 1, bill(("A", 1_000_000))),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 0, 118_000, 882_000)),  # 980000×90%
    ("310-L2", request("310", 2, bill(("A", 1_000_000))),
     (1_000_000, 0, 0, 1_000_000, 50_000, 807_500, 192_500, 0, 192_500, 807_500)),  # 950000×85%
    ("310-L3", request("310", 3, bill(("A", 1_000_000))),
     (1_000_000, 0, 0, 1_000_000, 80_000, 736_000, 264_000, 0, 264_000, 736_000)),  # 920000×80%
    ("390-L1", request("390", 1, bill(("A", 1_000_000))),
     (1_000_000, 0, 0, 1_000_000, 20_000, 784_000, 216_000, 0, 216_000, 784_000)),  # 980000×80%
    ("390-L2", request("390", 2, bill(("A", 1_000_000))),
     (1_000_000, 0, 0, 1_000_000, 50_000, 665_000, 335_000, 0, 335_000, 665_000)),  # 950000×70%
    ("390-L3", request("390", 3, bill(("A", 1_000_000))),
     (1_000_000, 0, 0, 1_000_000, 80_000, 552_000, 448_000, 0, 448_000, 552_000)),  # 920000×60%
    # -- bill at or below the deductible: the fund pays nothing --------------------------
    ("below-deductible", request("310", 3, bill(("A", 50_000))),
     (50_000, 0, 0, 50_000, 50_000, 0, 50_000, 0, 50_000, 0)),
    ("exactly-deductible", request("310", 3, bill(("A", 80_000))),
     (80_000, 0, 0, 80_000, 80_000, 0, 80_000, 0, 80_000, 0)),
    ("one-fen-above", request("310", 1, bill(("A", 20_001))),
     (20_001, 0, 0, 20_001, 20_000, 1, 20_000, 0, 20_000, 1)),  # 0.9 fen → 1
    # -- second (and later) admission in the year: half the deductible ------------------
    ("second-310-L3", request("310", 3, bill(("A", 1_000_000)), prior=1),
     (1_000_000, 0, 0, 1_000_000, 40_000, 768_000, 232_000, 0, 232_000, 768_000)),
    ("third-310-L3", request("310", 3, bill(("A", 1_000_000)), prior=2),
     (1_000_000, 0, 0, 1_000_000, 40_000, 768_000, 232_000, 0, 232_000, 768_000)),
    ("second-390-L1", request("390", 1, bill(("A", 1_000_000)), prior=1),
     (1_000_000, 0, 0, 1_000_000, 10_000, 792_000, 208_000, 0, 208_000, 792_000)),
    ("second-below-half", request("390", 2, bill(("A", 20_000)), prior=1),
     (20_000, 0, 0, 20_000, 20_000, 0, 20_000, 0, 20_000, 0)),  # half is 25000 > bill
    # -- annual ceiling ------------------------------------------------------------------
    ("ceiling-partly-used", request("310", 1, bill(("A", 1_000_000)), used=29_500_000),
     (1_000_000, 0, 0, 1_000_000, 20_000, 500_000, 500_000, 0, 500_000, 30_000_000)),
    ("ceiling-exactly-enough", request("310", 1, bill(("A", 1_000_000)), used=29_118_000),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 0, 118_000, 30_000_000)),
    ("ceiling-fully-used", request("310", 1, bill(("A", 1_000_000)), used=30_000_000),
     (1_000_000, 0, 0, 1_000_000, 20_000, 0, 1_000_000, 0, 1_000_000, 30_000_000)),
    ("ceiling-over-used", request("310", 1, bill(("A", 1_000_000)), used=31_000_000),
     (1_000_000, 0, 0, 1_000_000, 20_000, 0, 1_000_000, 0, 1_000_000, 31_000_000)),
    ("ceiling-resident", request("390", 1, bill(("A", 1_000_000)), used=14_900_000),
     (1_000_000, 0, 0, 1_000_000, 20_000, 100_000, 900_000, 0, 900_000, 15_000_000)),
    ("ceiling-large-bill", request("390", 3, bill(("A", 30_000_000))),  # 29 920 000 × 60 %
     (30_000_000, 0, 0, 30_000_000, 80_000, 15_000_000, 15_000_000, 0, 15_000_000, 15_000_000)),
    # -- class B and C lines -------------------------------------------------------------
    ("A-B-C", request("310", 2, bill(("A", 500_000), ("B", 300_000), ("C", 100_000))),
     # B share 30000; in scope 900000−100000−30000 = 770000; (770000−50000)×85 % = 612000
     (900_000, 100_000, 30_000, 770_000, 50_000, 612_000, 288_000, 0, 288_000, 612_000)),
    ("only-C", request("310", 1, bill(("C", 200_000))),
     (200_000, 200_000, 0, 0, 0, 0, 200_000, 0, 200_000, 0)),
    ("only-B", request("390", 3, bill(("B", 1_000_000))),
     # share 100000; in scope 900000; (900000−80000)×60 % = 492000
     (1_000_000, 0, 100_000, 900_000, 80_000, 492_000, 508_000, 0, 508_000, 492_000)),
    # -- personal account (employee scheme only, with consent) ---------------------------
    ("account-smaller", request("310", 1, bill(("A", 1_000_000)), balance=50_000, use_account=True),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 50_000, 68_000, 882_000)),
    ("account-larger", request("310", 1, bill(("A", 1_000_000)), balance=500_000, use_account=True),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 118_000, 0, 882_000)),
    ("account-exact", request("310", 1, bill(("A", 1_000_000)), balance=118_000, use_account=True),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 118_000, 0, 882_000)),
    ("account-empty", request("310", 1, bill(("A", 1_000_000)), balance=0, use_account=True),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 0, 118_000, 882_000)),
    ("account-declined", request("310", 1, bill(("A", 1_000_000)), balance=500_000),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 0, 118_000, 882_000)),
    ("account-resident-none", request("390", 1, bill(("A", 1_000_000)), balance=500_000,
                                      use_account=True),
     (1_000_000, 0, 0, 1_000_000, 20_000, 784_000, 216_000, 0, 216_000, 784_000)),
    ("account-pays-class-C", request("310", 1, bill(("C", 30_000)), balance=500_000,
                                     use_account=True),
     (30_000, 30_000, 0, 0, 0, 0, 30_000, 30_000, 0, 0)),
    # -- refunds (negative lines offset their class) -------------------------------------
    ("refund-A", request("310", 1, bill(("A", 1_200_000), ("A", -200_000))),
     (1_000_000, 0, 0, 1_000_000, 20_000, 882_000, 118_000, 0, 118_000, 882_000)),
    ("refund-B", request("310", 2, bill(("A", 500_000), ("B", 400_000), ("B", -100_000),
                                        ("C", 100_000))),
     (900_000, 100_000, 30_000, 770_000, 50_000, 612_000, 288_000, 0, 288_000, 612_000)),
    ("refund-everything", request("310", 1, bill(("A", 500_000), ("A", -500_000), ("C", 7),
                                                 ("C", -7)), balance=100, use_account=True),
     (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    # -- zero bills ----------------------------------------------------------------------
    ("no-lines", request("310", 3, [], prior=1, used=1_000, balance=100, use_account=True),
     (0, 0, 0, 0, 0, 0, 0, 0, 0, 1_000)),
    ("zero-lines", request("390", 2, bill(("A", 0), ("B", 0), ("C", 0))),
     (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    # -- rounding: half up to the fen, the share per line, the fund on the bill ----------
    ("B-share-1.5", request("310", 1, bill(("B", 15))), (15, 0, 2, 13, 13, 0, 15, 0, 15, 0)),
    ("B-share-1.4", request("310", 1, bill(("B", 14))), (14, 0, 1, 13, 13, 0, 14, 0, 14, 0)),
    ("B-share-0.5", request("310", 1, bill(("B", 5))), (5, 0, 1, 4, 4, 0, 5, 0, 5, 0)),
    ("B-share-0.4", request("310", 1, bill(("B", 4))), (4, 0, 0, 4, 4, 0, 4, 0, 4, 0)),
    ("B-share-per-line", request("310", 1, bill(("B", 5), ("B", 5), ("B", 5))),
     (15, 0, 3, 12, 12, 0, 15, 0, 15, 0)),  # 0.5 → 1 on each line (on the total 1.5 → 2)
    ("fund-0.85", request("310", 2, bill(("A", 50_001))),
     (50_001, 0, 0, 50_001, 50_000, 1, 50_000, 0, 50_000, 1)),
    ("fund-8.5-half-up", request("310", 2, bill(("A", 50_010))),
     (50_010, 0, 0, 50_010, 50_000, 9, 50_001, 0, 50_001, 9)),  # banker's would give 8
    ("fund-10.5-half-up", request("390", 2, bill(("A", 50_015))),
     (50_015, 0, 0, 50_015, 50_000, 11, 50_004, 0, 50_004, 11)),  # banker's would give 10
    ("fund-3.6", request("390", 3, bill(("A", 80_000 + 5), ("A", 1))),  # 6 × 60 % = 3.6 → 4
     (80_006, 0, 0, 80_006, 80_000, 4, 80_002, 0, 80_002, 4)),
]
# fmt: on


@pytest.mark.parametrize(
    ("case_request", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_split_table(case_request, expected):
    split = split_bill(case_request, POLICY)
    assert tuple(getattr(split, name) for name in FIELDS) == expected
    assert split.policy_version == "2026.1"
    check_identities(split)


def test_second_admission_odd_deductible_rounds_half_up():
    odd = replace(
        POLICY,
        version="9.1",
        deductible_fen={s: {1: 20_001, 2: 50_000, 3: 80_000} for s in ("310", "390")},
    )
    first = split_bill(request("310", 1, bill(("A", 100_000))), odd)
    second = split_bill(request("310", 1, bill(("A", 100_000)), prior=1), odd)
    assert first.act_pay_dedc == 20_001
    assert second.act_pay_dedc == 10_001  # 10000.5 → 10001
    assert second.policy_version == "9.1"


def test_refund_bringing_a_class_below_zero_is_refused():
    with pytest.raises(SplitError) as caught:
        split_bill(request("310", 1, bill(("A", 1_000_000), ("C", 50_000), ("C", -80_000))), POLICY)
    assert caught.value.code == "refund_exceeds_charges"
    assert "fulamt_ownpay_amt: -30000 fen" in str(caught.value)


def test_net_negative_bill_is_refused():
    with pytest.raises(SplitError) as caught:
        split_bill(request("390", 2, bill(("A", -1))), POLICY)
    assert caught.value.code == "refund_exceeds_charges"


@pytest.mark.parametrize(
    "build",
    [
        lambda: FeeItem("1", 100, 0, 0, 0, 99),  # parts do not add up
        lambda: FeeItem("1", 100, 0, 0, 0, "100"),
        lambda: FeeItem("1", 1.5, 0, 0, 0, 1.5),
        lambda: FeeItem("1", True, 0, 0, 0, True),
        lambda: request("320", 1),
        lambda: request("310", 4),
        lambda: request("310", True),
        lambda: request("310", 1, prior=-1),
        lambda: request("310", 1, used=-1),
        lambda: request("310", 1, balance=-5),
        lambda: request("310", 1, balance=5.0),
        lambda: SplitRequest("310", 1, [("A", 1)], 0, 0, 0, False),
        lambda: SplitRequest("310", 1, [], 0, 0, 0, "yes"),
    ],
)
def test_malformed_requests_are_refused(build):
    with pytest.raises(SplitError) as caught:
        build()
    assert caught.value.code == "invalid_bill"


def test_split_is_frozen_and_serialisable():
    split = split_bill(request("310", 1, bill(("A", 1_000_000))), POLICY)
    with pytest.raises(FrozenInstanceError):
        split.fund_pay_sumamt = 0  # type: ignore[misc]
    data = split.as_dict()
    assert data["fund_pay_sumamt"] == 882_000 and data["policy_version"] == "2026.1"
    assert set(data) == set(FIELDS) | {"overlmt_selfpay", "policy_version"}


def test_split_uses_the_policy_it_is_given():
    generous = replace(
        POLICY,
        version="2027.1",
        fund_ratio_bp={s: {1: 10_000, 2: 10_000, 3: 10_000} for s in ("310", "390")},
        deductible_fen={s: {1: 0, 2: 0, 3: 0} for s in ("310", "390")},
    )
    split = split_bill(request("390", 3, bill(("A", 700), ("B", 300), share_bp=0)), generous)
    assert (split.fund_pay_sumamt, split.psn_part_amt, split.policy_version) == (1_000, 0, "2027.1")


def _consistent() -> Split:
    return split_bill(
        request("310", 1, bill(("A", 1_000_000)), balance=50_000, use_account=True), POLICY
    )


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"fund_pay_sumamt": 882_001}, "fund_pay_sumamt + psn_part_amt != medfee_sumamt"),
        ({"acct_pay": 50_001}, "acct_pay + psn_cash_pay != psn_part_amt"),
        ({"preselfpay_amt": 1}, "inscp_scp_amt != medfee_sumamt"),
        ({"psn_cash_pay": -1, "acct_pay": 118_001}, "psn_cash_pay is negative"),
        ({"act_pay_dedc": 1_000_001}, "act_pay_dedc 1000001 exceeds"),
        (
            {
                "fund_pay_sumamt": 990_000,
                "psn_part_amt": 10_000,
                "acct_pay": 0,
                "psn_cash_pay": 10_000,
            },
            "exceeds the in-scope amount above the deductible",
        ),
        ({"ceiling_used_after_fen": 1}, "ceiling_used_after_fen 1 is less than"),
        ({"acct_pay": 50_000.0}, "acct_pay is not an integer"),
    ],
)
def test_check_identities_catches_broken_splits(changes, fragment):
    good = _consistent()
    check_identities(good)
    assert identity_violations(good) == []
    broken = replace(good, **changes)
    with pytest.raises(SplitIdentityError) as caught:
        check_identities(broken)
    assert any(fragment in violation for violation in caught.value.violations), caught.value


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 10_000, 0),
        (4_999, 10_000, 0),
        (5_000, 10_000, 1),
        (15_000, 10_000, 2),
        (25_000, 10_000, 3),
        (10_000, 10_000, 1),
        (7, 2, 4),
    ],
)
def test_round_half_up(numerator, denominator, expected):
    assert round_half_up(numerator, denominator) == expected


def test_round_half_up_rejects_negative():
    with pytest.raises(ValueError):
        round_half_up(-1, 2)


def test_policy_type_is_what_split_expects():
    assert isinstance(POLICY, Policy)
