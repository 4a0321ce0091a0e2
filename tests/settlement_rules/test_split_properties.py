"""Property tests: for random bills the split keeps settlement.md's identities, matches an
independent exact-fraction computation, and does not depend on how lines are grouped."""

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.rules import (
    FeeItem,
    SplitError,
    SplitRequest,
    check_identities,
    load_policy,
    split_bill,
)
from settlement.rules.split import class_totals

POLICY = load_policy()
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

amounts = st.integers(min_value=-500_000, max_value=5_000_000)
lines = st.lists(st.tuples(st.sampled_from("ABC"), amounts), min_size=0, max_size=25).map(
    lambda pairs: [FeeItem(str(i), c, a) for i, (c, a) in enumerate(pairs)]
)
non_negative_lines = st.lists(
    st.tuples(st.sampled_from("ABC"), st.integers(min_value=0, max_value=5_000_000)), max_size=25
).map(lambda pairs: [FeeItem(str(i), c, a) for i, (c, a) in enumerate(pairs)])


@st.composite
def requests(draw, items=lines):
    return SplitRequest(
        insutype=draw(st.sampled_from(["310", "390"])),
        hospital_level=draw(st.sampled_from([1, 2, 3])),
        items=draw(items),
        prior_admissions_this_year=draw(st.integers(0, 4)),
        ceiling_used_fen=draw(st.one_of(st.integers(0, 32_000_000), st.just(0))),
        account_balance_fen=draw(st.integers(0, 2_000_000)),
        use_account=draw(st.booleans()),
    )


def half_up(value: Fraction) -> int:
    """Exact round half up of a non-negative fraction (independent of the module's helper)."""
    floor = value.numerator // value.denominator
    return floor + 1 if value - floor >= Fraction(1, 2) else floor


def reference(req: SplitRequest) -> dict[str, int]:
    """settlement.md's formulas, written out again with exact fractions."""
    a = sum(i.amount_fen for i in req.items if i.catalogue_class == "A")
    b = sum(i.amount_fen for i in req.items if i.catalogue_class == "B")
    c = sum(i.amount_fen for i in req.items if i.catalogue_class == "C")
    total = a + b + c
    pre = half_up(Fraction(b) * Fraction(POLICY.class_b_preselfpay_bp, 10_000))
    inscope = total - c - pre
    full = POLICY.deductible_fen[req.insutype][req.hospital_level]
    deductible = full if req.prior_admissions_this_year == 0 else half_up(Fraction(full, 2))
    dedc = min(deductible, inscope)
    ratio = Fraction(POLICY.fund_ratio_bp[req.insutype][req.hospital_level], 10_000)
    left = max(0, POLICY.annual_ceiling_fen[req.insutype] - req.ceiling_used_fen)
    fund = min(half_up((inscope - dedc) * ratio), left)
    person = total - fund
    acct = min(req.account_balance_fen, person) if req.insutype == "310" and req.use_account else 0
    return {
        "medfee_sumamt": total,
        "fulamt_ownpay_amt": c,
        "preselfpay_amt": pre,
        "inscp_scp_amt": inscope,
        "act_pay_dedc": dedc,
        "fund_pay_sumamt": fund,
        "psn_part_amt": person,
        "acct_pay": acct,
        "psn_cash_pay": person - acct,
        "ceiling_used_after_fen": req.ceiling_used_fen + fund,
    }


@PROFILE
@given(requests())
def test_identities_hold_or_refund_is_refused(req):
    negative_class = any(total < 0 for total in class_totals(req.items).values())
    try:
        split = split_bill(req, POLICY)
    except SplitError as error:
        assert negative_class and error.code == "refund_exceeds_charges"
        return
    assert not negative_class
    check_identities(split)
    assert split.fund_pay_sumamt + split.psn_part_amt == split.medfee_sumamt
    assert split.acct_pay + split.psn_cash_pay == split.psn_part_amt
    assert all(v >= 0 for k, v in split.as_dict().items() if k != "policy_version")
    ceiling = POLICY.annual_ceiling_fen[req.insutype]
    assert split.fund_pay_sumamt <= max(0, ceiling - req.ceiling_used_fen)
    assert split.ceiling_used_after_fen <= max(ceiling, req.ceiling_used_fen)
    assert split.acct_pay <= req.account_balance_fen
    if req.insutype == "390" or not req.use_account:
        assert split.acct_pay == 0


@PROFILE
@given(requests(non_negative_lines))
def test_matches_exact_fraction_reference(req):
    split = split_bill(req, POLICY)
    got = {k: v for k, v in split.as_dict().items() if k != "policy_version"}
    assert got == reference(req)


@PROFILE
@given(requests(non_negative_lines), st.randoms(use_true_random=False))
def test_grouping_and_order_of_lines_do_not_matter(req, rnd):
    # The same charges as one line per class, and shuffled, split identically.
    merged = [FeeItem(f"sum-{cls}", cls, total) for cls, total in class_totals(req.items).items()]
    shuffled = list(req.items)
    rnd.shuffle(shuffled)
    base = split_bill(req, POLICY)
    for items in (merged, shuffled):
        other = SplitRequest(
            req.insutype, req.hospital_level, items, req.prior_admissions_this_year,
            req.ceiling_used_fen, req.account_balance_fen, req.use_account,
        )  # fmt: skip
        assert split_bill(other, POLICY) == base


@PROFILE
@given(requests(non_negative_lines), st.integers(1, 1_000_000))
def test_more_in_scope_charges_never_reduce_the_fund_or_raise_cash_unfairly(req, extra):
    more = SplitRequest(
        req.insutype, req.hospital_level, [*req.items, FeeItem("extra", "A", extra)],
        req.prior_admissions_this_year, req.ceiling_used_fen, req.account_balance_fen,
        req.use_account,
    )  # fmt: skip
    before, after = split_bill(req, POLICY), split_bill(more, POLICY)
    assert after.fund_pay_sumamt >= before.fund_pay_sumamt
    assert after.psn_part_amt >= before.psn_part_amt
    # Each extra fen is shared: the fund takes at most the ratio of it (plus one rounding fen).
    ratio = POLICY.fund_ratio_bp[req.insutype][req.hospital_level]
    assert after.fund_pay_sumamt - before.fund_pay_sumamt <= extra * ratio // 10_000 + 1


@PROFILE
@given(requests(non_negative_lines))
def test_refunding_every_line_gives_a_zero_bill(req):
    refunds = [FeeItem(f"r{i.serial}", i.catalogue_class, -i.amount_fen) for i in req.items]
    cancelled = SplitRequest(
        req.insutype, req.hospital_level, [*req.items, *refunds], req.prior_admissions_this_year,
        req.ceiling_used_fen, req.account_balance_fen, req.use_account,
    )  # fmt: skip
    split = split_bill(cancelled, POLICY)
    assert split.medfee_sumamt == split.fund_pay_sumamt == split.psn_part_amt == 0
    assert split.ceiling_used_after_fen == req.ceiling_used_fen
