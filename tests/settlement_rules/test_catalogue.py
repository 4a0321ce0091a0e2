"""The catalogue decides each fee line (settlement/rules/catalogue.py, settlement.md "The
catalogue decides, line by line"): the per-line split from tables worked out by hand, and
the import file (settlement/rules/catalogue_file.py, harness.md "The catalogue").

Units: cnt_e4 = cnt × 10 000; pric_e6 = yuan × 1 000 000 (1 fen = 10 000); amounts in fen.
"""

from datetime import date

import pytest

from settlement.rules.catalogue import (
    CatalogueEntry,
    CatalogueError,
    LineParts,
    find_entry,
    line_parts,
    refund_parts,
    round_half_up_signed,
    scaled,
)
from settlement.rules.catalogue_file import parse
from settlement.rules.fees import FeeLine, plan_upload

U = 10_000  # one unit
YUAN = 1_000_000  # one yuan in micro-yuan

# (id, chrgitm_lv, selfpay_prop_bp, pric_uplmt_e6, cnt_e4, pric_e6,
#  (det_item_fee_sumamt, overlmt_amt, fulamt_ownpay_amt, preselfpay_amt, inscp_scp_amt))
# fmt: off
LINES = [
    # 甲: the whole line in scope. 2 × 12.34 yuan = 2468 fen
    ("A-whole", "01", 0, None, 2 * U, 12_340_000, (2468, 0, 0, 0, 2468)),
    # fractional quantity: 0.5 × 3.33 yuan = 166.5 fen → 167 (half up)
    ("A-half-unit", "01", 0, None, 5_000, 3_330_000, (167, 0, 0, 0, 167)),
    # 0.3333 × 3 yuan = 99.99 fen → 100
    ("A-0.3333", "01", 0, None, 3_333, 3 * YUAN, (100, 0, 0, 0, 100)),
    # sub-fen price: 3 × 0.123456 yuan = 37.0368 fen → 37
    ("A-sub-fen", "01", 0, None, 3 * U, 123_456, (37, 0, 0, 0, 37)),
    # sub-fen both: 1.5 × 0.001 yuan = 0.15 fen → 0
    ("A-tiny", "01", 0, None, 15_000, 1_000, (0, 0, 0, 0, 0)),
    # 乙 10 %: 105 fen, share 10.5 → 11, in scope 94
    ("B-10%", "02", 1_000, None, U, 1_050_000, (105, 0, 0, 11, 94)),
    # 乙 10 %: 104 fen, share 10.4 → 10
    ("B-10%-down", "02", 1_000, None, U, 1_040_000, (104, 0, 0, 10, 94)),
    # 乙 above its ceiling: 3 × 8.00 yuan, ceiling 6.50 → over 3 × 150 = 450; 1950 × 10 % = 195
    ("B-over-ceiling", "02", 1_000, 6_500_000, 3 * U, 8 * YUAN, (2400, 450, 0, 195, 1755)),
    # 乙 at its ceiling exactly: nothing over
    ("B-at-ceiling", "02", 2_000, 6_500_000, 2 * U, 6_500_000, (1300, 0, 0, 260, 1040)),
    # 甲 above its ceiling: 2 × 45 yuan, ceiling 40 → over 1000, the rest in scope
    ("A-over-ceiling", "01", 0, 40 * YUAN, 2 * U, 45 * YUAN, (9000, 1000, 0, 0, 8000)),
    # 丙 above its ceiling: the excess is overlmt, the rest fulamt
    ("C-over-ceiling", "03", 10_000, 8 * YUAN, U, 10 * YUAN, (1000, 200, 800, 0, 0)),
    ("C-plain", "03", 10_000, None, 4 * U, 2_500_000, (1000, 0, 1000, 0, 0)),
    # fractional over the ceiling: 0.3333 × 1.000001 yuan = 33.33003 → 33;
    # over 0.3333 × 0.000001 yuan = 0.00003 → 0; share 20 % of 33 = 6.6 → 7
    ("B-fraction-over", "02", 2_000, YUAN, 3_333, 1_000_001, (33, 0, 0, 7, 26)),
    # over rounds on its own: 2.5 × (1.003 − 1.000) yuan = 0.75 fen → 1; 2.5 × 1.003 = 250.75 → 251
    ("A-over-rounds", "01", 0, YUAN, 25_000, 1_003_000, (251, 1, 0, 0, 250)),
    # ceiling 0: everything over
    ("B-ceiling-zero", "02", 1_000, 0, U, 2 * YUAN, (200, 200, 0, 0, 0)),
]
# fmt: on


@pytest.mark.parametrize(("lv", "bp", "ceiling", "cnt", "pric", "parts"), [c[1:] for c in LINES],
                         ids=[c[0] for c in LINES])  # fmt: skip
def test_line_split_table(lv, bp, ceiling, cnt, pric, parts):
    got = line_parts(lv, bp, ceiling, cnt, pric)
    assert got == LineParts(*parts)
    assert sum(parts[1:]) == parts[0]


# (id, lv, bp, ceiling, charged cnt, pric, refund cnts in order, expected refund parts)
# fmt: off
REFUNDS = [
    # 甲: 2 × 12.34 yuan, one back
    ("A", "01", 0, None, 2 * U, 12_340_000, [-U], [(-1234, 0, 0, 0, -1234)]),
    # 乙 10 %, 3 × 5 fen: the charge holds 15 / share 1.5 → 2; each refund takes back the
    # difference: 15→10 (share 2→1), 10→5 (1→1: a refund with no share), 5→0 (1→0)
    ("B-thirds", "02", 1_000, None, 3 * U, 50_000, [-U, -U, -U],
     [(-5, 0, 0, -1, -4), (-5, 0, 0, 0, -5), (-5, 0, 0, -1, -4)]),
    # 乙 over its ceiling, half of 3 units back: parts(3) − parts(1.5)
    # parts(1.5) = det 1200, over 225, share 97.5 → 98, in scope 877
    ("B-over", "02", 1_000, 6_500_000, 3 * U, 8 * YUAN, [-15_000],
     [(-1200, -225, 0, -97, -878)]),
    # 丙 over its ceiling: one of two units back
    ("C-over", "03", 10_000, 8 * YUAN, 2 * U, 10 * YUAN, [-U], [(-1000, -200, -800, 0, 0)]),
    # fractional: 0.5 of 1.5 units at 3.33 yuan: parts(1.5) 499.5 → 500, parts(1.0) 333
    ("A-fraction", "01", 0, None, 15_000, 3_330_000, [-5_000, -U],
     [(-167, 0, 0, 0, -167), (-333, 0, 0, 0, -333)]),
]
# fmt: on


@pytest.mark.parametrize(("lv", "bp", "ceiling", "cnt", "pric", "backs", "expected"),
                         [c[1:] for c in REFUNDS], ids=[c[0] for c in REFUNDS])  # fmt: skip
def test_refunds_mirror_the_line_they_refund(lv, bp, ceiling, cnt, pric, backs, expected):
    charged = line_parts(lv, bp, ceiling, cnt, pric)
    left, total = cnt, [0] * 5
    for back, parts in zip(backs, expected, strict=True):
        got = refund_parts(lv, bp, ceiling, left, back, pric)
        assert got == LineParts(*parts)
        left += back
        total = [t + p for t, p in zip(total, parts, strict=True)]
    # what stays is exactly the split of the quantity left
    remaining = [c + t for c, t in zip(charged.as_dict().values(), total, strict=True)]
    assert LineParts(*remaining) == line_parts(lv, bp, ceiling, left, pric)


def test_per_line_and_per_bill_rounding_differ():
    """Three 乙 lines of 5 fen at 10 %: per line 0.5 → 1 each, 3 in all; on the bill's 15 fen
    it would be 1.5 → 2. The catalogue rounds per line, so the settlement's share is 3."""
    lines = [line_parts("02", 1_000, None, U, 50_000) for _ in range(3)]
    assert sum(p.preselfpay_amt for p in lines) == 3
    assert round_half_up_signed(15 * 1_000, 10_000) == 2
    # and one line of 3 units is a single rounding: 15 fen, share 2
    assert line_parts("02", 1_000, None, 3 * U, 50_000).preselfpay_amt == 2


def test_fractional_lines_round_per_line_not_per_bill():
    """Three lines of 0.5 × 0.01 yuan (0.5 fen each) are 1 fen each, 3 fen in all; the same
    quantity on one line (1.5 × 0.01 yuan = 1.5 fen) is 2 fen."""
    assert [line_parts("01", 0, None, 5_000, 10_000).det_item_fee_sumamt] * 3 == [1, 1, 1]
    assert line_parts("01", 0, None, 15_000, 10_000).det_item_fee_sumamt == 2


def test_upload_classes_lines_by_catalogue_and_names_unknown_codes():
    catalogue = {"XB": CatalogueEntry("XB", "", "02", "09", 1_000, 6_500_000)}
    day = date(2026, 11, 28)
    plan = plan_upload([FeeLine("1", "XB", "", None, 3 * U, 8 * YUAN)], [], catalogue, day, "V7")
    (item,) = plan.accepted
    assert (item.chrgitm_lv, item.selfpay_prop_bp, item.catalogue_version) == ("02", 1_000, "V7")
    assert item.answer()["preselfpay_amt"] == 195 and item.answer()["list_type"] == "B"
    with pytest.raises(CatalogueError) as caught:
        plan_upload([FeeLine("2", "NOPE", "", None, U, YUAN)], [], catalogue, day, "V7")
    assert caught.value.code == "catalogue_unknown_item" and "'NOPE'" in str(caught.value)
    with pytest.raises(CatalogueError) as caught:
        plan_upload([FeeLine("3", "XB", "", "A", U, YUAN)], [], catalogue, day, "V7")
    assert caught.value.code == "catalogue_class_mismatch"
    assert "list_type A" in str(caught.value) and "as B" in str(caught.value)


def test_validity_dates():
    entry = CatalogueEntry("X", "", "01", "09", 0, None, date(2026, 1, 1), date(2026, 6, 30))
    assert find_entry({"X": entry}, "X", date(2026, 6, 30), "1") is entry
    for day in (date(2025, 12, 31), date(2026, 7, 1)):
        with pytest.raises(CatalogueError, match="on 20"):
            find_entry({"X": entry}, "X", day, "1")


@pytest.mark.parametrize(
    ("text", "digits", "expected"),
    [("1", 4, 10_000), ("0.5", 4, 5_000), ("1.2345", 4, 12_345), ("0.000001", 6, 1),
     ("12.34", 6, 12_340_000), (" 7 ", 0, 7)],
)  # fmt: skip
def test_scaled(text, digits, expected):
    assert scaled(text, digits, "x") == expected


@pytest.mark.parametrize("text", ["1.23456", "-1", "abc", "", "nan", "inf"])
def test_scaled_refuses(text):
    with pytest.raises(ValueError):
        scaled(text, 4, "x")


# --- the import file ------------------------------------------------------------------

HEADER = "med_list_codg,med_list_name,chrgitm_lv,med_chrgitm_type,selfpay_prop,pric_uplmt_amt\n"
ROWS = (
    "XA1,阿莫西林,01,09,,\nXB1,头孢呋辛,02,09,0.15,6.5\nXB2,泮托拉唑,02,09,,\nC1,特需床位,03,02,,\n"
)


@pytest.mark.parametrize(
    "data",
    [
        (HEADER + ROWS).encode("utf-8"),
        (HEADER + ROWS).encode("utf-8-sig"),
        (HEADER + ROWS).encode("gb18030"),
        (HEADER + ROWS).replace("\n", "\r\n").encode("utf-8"),
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "crlf"],
)
def test_file_encodings_and_defaults(data):
    entries = parse(data, 1_000)
    assert [e.med_list_codg for e in entries] == ["XA1", "XB1", "XB2", "C1"]
    assert entries[0].med_list_name == "阿莫西林"
    assert [e.selfpay_prop_bp for e in entries] == [0, 1_500, 1_000, 10_000]
    assert [e.pric_uplmt_e6 for e in entries] == [None, 6_500_000, None, None]


def test_file_with_validity_dates():
    data = (HEADER.rstrip("\n") + ",begndate,enddate\nX,x,01,09,,,2026-01-01,\n").encode()
    (entry,) = parse(data, 1_000)
    assert (entry.begndate, entry.enddate) == (date(2026, 1, 1), None)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("XA1,a,04,09,,\n", "line 2: chrgitm_lv must be 01, 02 or 03"),
        ("XA1,a,01,09,,\nXB1,b,02,09,1.5,\n", "line 3: selfpay_prop must be between 0 and 1"),
        ("XA1,a,01,09,0.1,\n", "line 2: a 甲 (01) item has selfpay_prop 0"),
        ("XA1,a,03,09,0.5,\n", "line 2: a 丙 (03) item has selfpay_prop 1"),
        ("XA1,a,01,09,,\n\nXA1,b,01,09,,\n", "line 4: XA1 is already on line 2"),
        ("XA1,a,01,09,,1.1234567\n", "line 2: pric_uplmt_amt has more than 6 decimals"),
        ("XA1,a,01,09,,-1\n", "line 2: pric_uplmt_amt must be a non-negative"),
        ("XA1,a,01,09,,\nXA2,a,01\n", "line 3: expected 6 fields, got 3"),
        (",a,01,09,,\n", "line 2: med_list_codg must be 1 to 50"),
        ("XA1,a,02,09,0.12345,\n", "line 2: selfpay_prop has more than 4 decimals"),
        ("", "no entries"),
    ],
)
def test_bad_rows_are_named_by_line(body, fragment):
    with pytest.raises(CatalogueError) as caught:
        parse((HEADER + body).encode(), 1_000)
    assert caught.value.code == "catalogue_invalid"
    assert fragment in str(caught.value)


def test_bad_header_and_bad_encoding():
    with pytest.raises(CatalogueError, match="line 1: the header must be"):
        parse(b"code,name\nX,y\n", 1_000)
    with pytest.raises(CatalogueError, match="neither UTF-8 nor GB18030"):
        parse(HEADER.encode() + b"\xff\xff\xff,\x80,01,09,,\n", 1_000)
