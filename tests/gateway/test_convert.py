"""The gateway's boundary conversions (nhsa.md §Numbers, times, codes; settlement/gateway/
convert.py) as a table: what a field may hold, and the clerk's message naming it when not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from settlement.gateway.convert import GatewayError, decimal, fen, text


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        ("12.345", 3, Decimal("12.345")),
        (" 3.5 ", 4, Decimal("3.5")),
        (7, 2, Decimal(7)),
        (2.5, 2, Decimal("2.5")),
        ("1.50", 1, Decimal("1.50")),  # trailing zeros are not extra decimals
        ("-0.0001", 4, Decimal("-0.0001")),
        ("999999999999.99", 2, Decimal("999999999999.99")),
        ("", 2, None),
        (None, 2, None),
        ("12.3456789", 4, "最多 4 位小数"),
        ("1e30", 6, "超出范围"),  # refused by name (quantizing it would overflow)
        ("-1000000000000", 2, "超出范围"),
        ("x", 2, "应为数字"),
        ("NaN", 2, "应为数字"),
        ("Infinity", 2, "应为数字"),
        (True, 2, "应为数字"),
        ([1], 2, "应为数字"),
    ],
)
def test_decimal(value, places, expected):
    if isinstance(expected, str):
        with pytest.raises(GatewayError) as refused:
            decimal({"cnt": value}, "cnt", required=False, places=places)
        assert expected in refused.value.err_msg and "cnt" in refused.value.err_msg
    else:
        assert decimal({"cnt": value}, "cnt", required=False, places=places) == expected


def test_a_required_number_and_fen():
    with pytest.raises(GatewayError) as missing:
        decimal({"pric": "  "}, "pric")
    assert missing.value.code == "field_missing" and "pric" in missing.value.err_msg
    assert fen({"medfee_sumamt": "123.45"}, "medfee_sumamt") == 12345
    assert fen({"medfee_sumamt": 0.1}, "medfee_sumamt") == 10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  a ", "a"),
        ("", ""),
        ("   ", ""),
        (None, ""),
        (5, "5"),
        (1.5, "1.5"),
        ("张三", "张三"),
        (True, "应为字符串"),
        ([1], "应为字符串"),
        ({"a": 1}, "应为字符串"),
        ("x" * 201, "超长"),
    ],
)
def test_text(value, expected):
    if expected in ("应为字符串", "超长"):
        with pytest.raises(GatewayError) as refused:
            text({"psn_no": value}, "psn_no")
        assert expected in refused.value.err_msg and "psn_no" in refused.value.err_msg
    else:
        assert text({"psn_no": value}, "psn_no") == expected
    if expected == "":
        with pytest.raises(GatewayError) as missing:
            text({"psn_no": value}, "psn_no", required=True)
        assert missing.value.code == "field_missing"
