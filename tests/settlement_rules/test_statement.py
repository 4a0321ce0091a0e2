"""3201 reconciliation's comparison (settlement/rules/statement.py)."""

from __future__ import annotations

import pytest

from settlement.rules.statement import Totals, compare

OURS = Totals(medfee_sumamt=123_456, fund_pay_sumamt=100_000, acct_pay=3_456, fixmedins_setl_cnt=2)


@pytest.mark.parametrize(
    ("his", "result", "mentions"),
    [
        (OURS, "0", ["对账一致"]),
        (Totals(123_457, 100_000, 3_456, 2), "1", ["医疗费总额", "1234.57 元", "1234.56 元"]),
        (Totals(123_456, 100_000, 3_456, 3), "1", ["结算笔数", "3 笔", "2 笔"]),
        (Totals(0, 0, 0, 0), "1", ["医疗费总额", "基金支付总额", "个人账户支付总额", "结算笔数"]),
        (Totals(-5, 100_000, 3_456, 2), "1", ["-0.05 元"]),
    ],
)
def test_compare(his, result, mentions):
    rslt, dscr = compare(his, OURS)
    assert rslt == result
    for text in mentions:
        assert text in dscr
