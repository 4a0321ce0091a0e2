"""3201 reconciliation (对总账; nhsa.md §Transactions, docs/gateway.md §3201).

``data{insutype, clr_type, setl_optins, stmt_begndate, stmt_enddate, medfee_sumamt,
fund_pay_sumamt, acct_pay, fixmedins_setl_cnt, refd_setl_flag}`` →
``stmtinfo{setl_optins, stmt_rslt, stmt_rslt_dscr}``. ``refd_setl_flag`` ``"0"``: the
settlements made in the period (each once, reversed since or not); ``"1"``: the reversals
made in the period, with the negated amounts 2305 answered (project choice). ``clr_type``
``21`` (inpatient) is all the service settles: another clearing type has totals 0.
"""

from __future__ import annotations

from settlement.gateway.convert import GatewayError, fen, flag, insutype, local_date, node, text
from settlement.gateway.messages import Act
from settlement.rules.statement import Totals, compare
from settlement.store import gateway as store


def reconcile(act: Act) -> tuple[dict, str | None]:
    data = node(act.envelope.input, "data")
    kind = insutype(data)
    first = local_date(data, "stmt_begndate")
    last = local_date(data, "stmt_enddate")
    if last < first:
        raise GatewayError("对账结束日期 stmt_enddate 早于开始日期 stmt_begndate", "field_invalid")
    count = text(data, "fixmedins_setl_cnt", required=True, max_len=12)
    if not count.lstrip("-").isdigit():
        raise GatewayError(f"fixmedins_setl_cnt 应为整数，收到 {count!r}", "field_invalid")
    his = Totals(
        medfee_sumamt=fen(data, "medfee_sumamt"),
        fund_pay_sumamt=fen(data, "fund_pay_sumamt"),
        acct_pay=fen(data, "acct_pay"),
        fixmedins_setl_cnt=int(count),
    )
    reversals = flag(data, "refd_setl_flag")
    ours = Totals(0, 0, 0, 0)
    if text(data, "clr_type", max_len=6) in ("", "21"):
        institution = act.principal.institution_code
        if reversals:
            n, medfee, fund, acct = store.reversal_totals(act.conn, institution, kind, first, last)
            ours = Totals(-medfee, -fund, -acct, n)
        else:
            n, medfee, fund, acct = store.settlement_totals(
                act.conn, institution, kind, first, last
            )
            ours = Totals(medfee, fund, acct, n)
    result, description = compare(his, ours)
    setl_optins = text(data, "setl_optins", max_len=12) or (act.principal.region or "")
    output = {
        "stmtinfo": {
            "setl_optins": setl_optins,
            "stmt_rslt": result,
            "stmt_rslt_dscr": description,
        }
    }
    return output, None
