"""3201 reconciliation (对总账): the HIS's totals against the service's (nhsa.md §3201;
docs/gateway.md §3201). Pure: a period's totals in, ``stmt_rslt`` and its description out.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The compared totals, with the clerk's names.
FIELDS = {
    "medfee_sumamt": "医疗费总额",
    "fund_pay_sumamt": "基金支付总额",
    "acct_pay": "个人账户支付总额",
    "fixmedins_setl_cnt": "结算笔数",
}
BALANCED, UNBALANCED = "0", "1"


@dataclass(frozen=True)
class Totals:
    """A period's totals: money in fen, the count of settlements."""

    medfee_sumamt: int
    fund_pay_sumamt: int
    acct_pay: int
    fixmedins_setl_cnt: int


def _show(name: str, value: int) -> str:
    if name == "fixmedins_setl_cnt":
        return f"{value} 笔"
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d} 元"


def compare(his: Totals, ours: Totals) -> tuple[str, str]:
    """(``stmt_rslt``, ``stmt_rslt_dscr``): ``"0"`` balanced, ``"1"`` with each difference."""
    differences = [
        f"{label}：医院 {_show(name, getattr(his, name))}，中心 {_show(name, getattr(ours, name))}"
        for name, label in FIELDS.items()
        if getattr(his, name) != getattr(ours, name)
    ]
    if not differences:
        return BALANCED, "对账一致"
    return UNBALANCED, "对账不平：" + "；".join(differences)
