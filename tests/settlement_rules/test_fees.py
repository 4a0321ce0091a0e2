"""Fee-upload rules (settlement/rules/fees.py): repeats, conflicts and refunds (docs/api.md
§Fees), from tables. Whole units and fen prices here (the per-line split under the catalogue:
test_catalogue.py)."""

from datetime import date

import pytest

from settlement.rules import fees
from settlement.rules.catalogue import CatalogueEntry, CatalogueError
from settlement.rules.fees import FeeLine, FeeLineError, check_refund, refunded_counts

CATALOGUE = {
    "X01": CatalogueEntry("X01", "drug", "01", "09", 0),
    "X02": CatalogueEntry("X02", "other drug", "01", "09", 0),
}
DAY = date(2026, 11, 28)


def charge(sn, cnt=2, pric=500, codg="X01", list_type="A", name="drug"):
    return FeeLine(sn, codg, name, list_type, cnt * 10_000, pric * 10_000)


def refund(sn, of, cnt=-1, pric=500, codg="X01", list_type="A", name="drug"):
    return FeeLine(sn, codg, name, list_type, cnt * 10_000, pric * 10_000, of)


def plan_upload(upload, stored):
    """The rules' plan_upload with ``stored`` lines uploaded (and classed) first."""
    classed = fees.plan_upload(stored, [], CATALOGUE, DAY, "V1").accepted
    return fees.plan_upload(upload, classed, CATALOGUE, DAY, "V1")


def test_line_content():
    line = refund("R1", "C1", cnt=-3, pric=250)
    assert line.content == ("X01", "drug", -30_000, 2_500_000, "C1")


@pytest.mark.parametrize(
    ("stored", "upload", "accepted", "duplicates"),
    [
        ([], [charge("C1"), charge("C2")], ["C1", "C2"], []),
        ([charge("C1")], [charge("C1"), charge("C2")], ["C2"], ["C1"]),  # a retry
        ([], [charge("C1"), charge("C1")], ["C1"], ["C1"]),  # twice in one upload
        ([charge("C1", cnt=3)], [refund("R1", "C1", cnt=-3)], ["R1"], []),  # all of it
        ([], [charge("C1", cnt=2), refund("R1", "C1", cnt=-2)], ["C1", "R1"], []),
        (
            [charge("C1", cnt=3), refund("R1", "C1", cnt=-1)],
            [refund("R1", "C1", cnt=-1), refund("R2", "C1", cnt=-2)],
            ["R2"],
            ["R1"],
        ),
    ],
)
def test_accepted_lines(stored, upload, accepted, duplicates):
    plan = plan_upload(upload, stored)
    assert [line.feedetl_sn for line in plan.accepted] == accepted
    assert [line.feedetl_sn for line in plan.duplicates] == duplicates


@pytest.mark.parametrize(
    ("stored", "upload", "code", "message"),
    [
        ([charge("C1")], [charge("C1", cnt=3)], "fee_line_conflict", "different content"),
        ([], [charge("C1"), charge("C1", pric=1)], "fee_line_conflict", "different content"),
        ([charge("C1")], [charge("C1", name="other")], "fee_line_conflict", "C1"),
        ([], [refund("R1", None)], "refund_invalid", "must name the charged line"),
        ([], [refund("R1", "C9")], "refund_invalid", "must name the charged line"),
        (  # a refund of a refund
            [charge("C1"), refund("R1", "C1")],
            [refund("R2", "R1")],
            "refund_invalid",
            "must name the charged line",
        ),
        ([charge("C1")], [refund("R1", "C1", pric=400)], "refund_invalid", "item and price"),
        ([charge("C1")], [refund("R1", "C1", codg="X02")], "refund_invalid", "of line C1"),
        ([charge("C1", cnt=2)], [refund("R1", "C1", cnt=-3)], "refund_invalid", "more than"),
        (  # earlier refunds count
            [charge("C1", cnt=2), refund("R1", "C1", cnt=-1)],
            [refund("R2", "C1", cnt=-2)],
            "refund_invalid",
            "refunds more than line C1 charged",
        ),
        (  # refunds earlier in the same upload count
            [charge("C1", cnt=2)],
            [refund("R1", "C1", cnt=-1), refund("R2", "C1", cnt=-2)],
            "refund_invalid",
            "R2 refunds more",
        ),
    ],
)
def test_refused_uploads(stored, upload, code, message):
    with pytest.raises(FeeLineError, match=message) as caught:
        plan_upload(upload, stored)
    assert caught.value.code == code


def test_first_broken_line_decides():
    upload = [charge("C2"), refund("R1", "C9"), charge("C1", cnt=9)]
    with pytest.raises(FeeLineError) as caught:
        plan_upload(upload, [charge("C1")])
    assert caught.value.code == "refund_invalid"


def test_a_refund_naming_another_class_is_refused():
    with pytest.raises(CatalogueError) as caught:
        plan_upload([refund("R1", "C1", list_type="B")], [charge("C1")])
    assert caught.value.code == "catalogue_class_mismatch"
    assert "line C1's class A" in str(caught.value)


def test_refunded_counts():
    stored = [charge("C1", cnt=5), refund("R1", "C1", cnt=-1), refund("R2", "C1", cnt=-2)]
    assert refunded_counts(stored) == {"C1": -30_000}
    assert refunded_counts([charge("C1")]) == {}


@pytest.mark.parametrize(
    ("original", "so_far", "cnt", "ok"),
    [
        (charge("C1", cnt=4), 0, -4, True),
        (charge("C1", cnt=4), -30_000, -1, True),
        (charge("C1", cnt=4), -30_000, -2, False),
        (None, 0, -1, False),
        (refund("R0", "C0"), 0, -1, False),  # the original must be a charge
    ],
)
def test_check_refund(original, so_far, cnt, ok):
    line = refund("R1", "C1", cnt=cnt)
    if ok:
        check_refund(line, original, so_far)
    else:
        with pytest.raises(FeeLineError):
            check_refund(line, original, so_far)
