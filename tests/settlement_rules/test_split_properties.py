"""Property tests: for random bills — fee lines classed and split by random catalogue entries,
with fractional quantities, sub-fen prices, ceilings and refunds — the sum of the lines'
parts equals the settlement's totals, every identity of settlement.md holds to the fen, each
line matches an independent exact-fraction computation, and line order does not matter."""

from dataclasses import replace
from datetime import date
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
from settlement.rules.catalogue import CatalogueEntry
from settlement.rules.fees import FeeLine, plan_upload
from settlement.rules.split import ITEM_PARTS, part_totals

POLICY = load_policy()
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY = date(2026, 11, 28)


@st.composite
def entries(draw):
    """A small catalogue: codes E0..En with random class, share and ceiling."""
    catalogue = {}
    for n in range(draw(st.integers(1, 6))):
        lv = draw(st.sampled_from(["01", "02", "03"]))
        bp = {"01": 0, "03": 10_000}.get(lv) if lv != "02" else draw(st.integers(0, 10_000))
        ceiling = draw(st.one_of(st.none(), st.integers(0, 50_000_000)))
        catalogue[f"E{n}"] = CatalogueEntry(f"E{n}", "", lv, "09", bp, ceiling)
    return catalogue


@st.composite
def uploads(draw):
    """(catalogue, lines): charges and, for some, refunds of part or all of them."""
    catalogue = draw(entries())
    lines: list[FeeLine] = []
    for n in range(draw(st.integers(0, 20))):
        code = draw(st.sampled_from(sorted(catalogue)))
        cnt = draw(st.integers(1, 50_000_000))  # up to 5 000 units, 4 decimals
        pric = draw(st.integers(0, 100_000_000))  # up to 100 yuan, 6 decimals
        lines.append(FeeLine(f"C{n}", code, "", None, cnt, pric))
        left = cnt
        while left and draw(st.integers(0, 3)) == 0:
            back = draw(st.integers(1, left))
            lines.append(FeeLine(f"R{n}-{left}", code, "", None, -back, pric, f"C{n}"))
            left -= back
    return catalogue, lines


def half_up(value: Fraction) -> int:
    """Exact round half away from zero (independent of the module's helpers)."""
    sign = -1 if value < 0 else 1
    value = abs(value)
    floor = value.numerator // value.denominator
    return sign * (floor + 1 if value - floor >= Fraction(1, 2) else floor)


def reference_parts(entry: CatalogueEntry, cnt_e4: int, pric_e6: int) -> dict[str, int]:
    """settlement.md's per-line formulas again, with exact fractions (a charged line)."""
    cnt, pric = Fraction(cnt_e4, 10_000), Fraction(pric_e6, 10_000)  # pric in fen
    det = half_up(cnt * pric)
    ceiling = None if entry.pric_uplmt_e6 is None else Fraction(entry.pric_uplmt_e6, 10_000)
    over = 0 if ceiling is None else half_up(cnt * max(Fraction(0), pric - ceiling))
    if entry.chrgitm_lv == "03":
        return {"det": det, "over": over, "ful": det - over, "pre": 0, "inscp": 0}
    pre = half_up((det - over) * Fraction(entry.selfpay_prop_bp, 10_000))
    return {"det": det, "over": over, "ful": 0, "pre": pre, "inscp": det - over - pre}


def items_of(plan) -> list[FeeItem]:
    return [FeeItem(item.feedetl_sn, **item.parts.as_dict()) for item in plan.accepted]


@st.composite
def requests(draw):
    catalogue, lines = draw(uploads())
    plan = plan_upload(lines, [], catalogue, DAY, "V1")
    request = SplitRequest(
        insutype=draw(st.sampled_from(["310", "390"])),
        hospital_level=draw(st.sampled_from([1, 2, 3])),
        items=items_of(plan),
        prior_admissions_this_year=draw(st.integers(0, 4)),
        ceiling_used_fen=draw(st.one_of(st.integers(0, 32_000_000), st.just(0))),
        account_balance_fen=draw(st.integers(0, 2_000_000)),
        use_account=draw(st.booleans()),
    )
    return catalogue, plan, request


@PROFILE
@given(requests())
def test_line_parts_sum_to_the_settlement_totals_and_identities_hold(case):
    _, plan, req = case
    split = split_bill(req, POLICY)  # never refused: refunds never exceed their line
    totals = {name: sum(getattr(item.parts, name) for item in plan.accepted) for name in ITEM_PARTS}
    assert split.medfee_sumamt == totals["det_item_fee_sumamt"]
    assert split.fulamt_ownpay_amt == totals["fulamt_ownpay_amt"]
    assert split.overlmt_selfpay == totals["overlmt_amt"]
    assert split.preselfpay_amt == totals["preselfpay_amt"]
    assert split.inscp_scp_amt == totals["inscp_scp_amt"]
    check_identities(split)
    assert split.fund_pay_sumamt + split.psn_part_amt == split.medfee_sumamt
    assert split.acct_pay + split.psn_cash_pay == split.psn_part_amt
    assert all(v >= 0 for k, v in split.as_dict().items() if k != "policy_version")
    ceiling = POLICY.annual_ceiling_fen[req.insutype]
    assert split.fund_pay_sumamt <= max(0, ceiling - req.ceiling_used_fen)
    assert split.acct_pay <= req.account_balance_fen
    if req.insutype == "390" or not req.use_account:
        assert split.acct_pay == 0


@PROFILE
@given(requests())
def test_every_line_matches_the_exact_fraction_reference(case):
    catalogue, plan, _ = case
    net: dict[str, dict[str, int]] = {}
    for item in plan.accepted:
        parts = item.parts
        assert (
            parts.overlmt_amt + parts.fulamt_ownpay_amt + parts.preselfpay_amt
            + parts.inscp_scp_amt == parts.det_item_fee_sumamt
        )  # fmt: skip
        line = item.line
        entry = catalogue[line.med_list_codg]
        assert item.chrgitm_lv == entry.chrgitm_lv
        if line.cnt_e4 > 0:
            ref = reference_parts(entry, line.cnt_e4, line.pric_e6)
            got = parts
            assert (got.det_item_fee_sumamt, got.overlmt_amt, got.fulamt_ownpay_amt) == (
                ref["det"], ref["over"], ref["ful"],
            )  # fmt: skip
            assert (got.preselfpay_amt, got.inscp_scp_amt) == (ref["pre"], ref["inscp"])
            net[line.feedetl_sn] = {"cnt": line.cnt_e4, **parts.as_dict()}
        else:  # after a refund, the line and its refunds hold the parts of what is left
            held = net[line.init_feedetl_sn]
            held["cnt"] += line.cnt_e4
            for name, value in parts.as_dict().items():
                held[name] += value
            ref = reference_parts(entry, held["cnt"], line.pric_e6)
            assert [held[name] for name in ITEM_PARTS] == list(ref.values())


@PROFILE
@given(requests(), st.randoms(use_true_random=False))
def test_order_of_lines_does_not_matter(case, rnd):
    _, _, req = case
    shuffled = list(req.items)
    rnd.shuffle(shuffled)
    assert split_bill(replace(req, items=shuffled), POLICY) == split_bill(req, POLICY)


@PROFILE
@given(uploads())
def test_refunding_every_line_gives_a_zero_bill(case):
    catalogue, lines = case
    charges = [line for line in lines if line.cnt_e4 > 0]
    plan = plan_upload(charges, [], catalogue, DAY, "V1")
    refunds = [
        FeeLine(f"X{line.feedetl_sn}", line.med_list_codg, "", None, -line.cnt_e4,
                line.pric_e6, line.feedetl_sn)
        for line in charges
    ]  # fmt: skip
    back = plan_upload(refunds, plan.accepted, catalogue, DAY, "V1")
    items = items_of(plan) + items_of(back)
    assert all(total == 0 for total in part_totals(items).values())
    split = split_bill(SplitRequest("310", 3, items, 0, 5, 10, True), POLICY)
    assert split.medfee_sumamt == split.fund_pay_sumamt == split.psn_part_amt == 0


@PROFILE
@given(requests())
def test_a_refund_beyond_its_class_is_refused(case):
    _, _, req = case
    totals = part_totals(req.items)
    extra = FeeItem("neg", -(totals["det_item_fee_sumamt"] + 1), 0, 0, 0,
                    -(totals["det_item_fee_sumamt"] + 1))  # fmt: skip
    try:
        split_bill(replace(req, items=[*req.items, extra]), POLICY)
    except SplitError as error:
        assert error.code == "refund_exceeds_charges"
    else:
        raise AssertionError("a bill below zero was split")
