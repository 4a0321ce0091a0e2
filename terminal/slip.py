"""The settlement slip (结算单) a desk prints for the patient, as text and as an HTML page
(settlement.md §Inpatient flow: the split; docs/api.md: the settlement and admission).

Times are the business time zone's to the minute (``SSCARD_TIMEZONE``, default
Asia/Shanghai, as the service's), money is yuan with two decimals, schemes are
named in words. Every label goes through the counter's language (terminal/i18n.py).
"""

from __future__ import annotations

import html
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from terminal.i18n import _

#: The business time zone unless ``SSCARD_TIMEZONE`` says otherwise (the service's default).
DEFAULT_TIMEZONE = "Asia/Shanghai"


def business_zone() -> ZoneInfo:
    """The business time zone (``SSCARD_TIMEZONE``, default Asia/Shanghai)."""
    return ZoneInfo(os.environ.get("SSCARD_TIMEZONE") or DEFAULT_TIMEZONE)


def local_minute(value: str | datetime | None) -> str:
    """An ISO time (or datetime) as the business zone's ``YYYY-MM-DD HH:MM``; "" for none."""
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(business_zone()).strftime("%Y-%m-%d %H:%M")


def scheme_name(insutype: str | None) -> str:
    """An insurance type (险种) in words: 310 职工基本医疗保险, 390 城乡居民基本医疗保险."""
    names = {
        "310": _("employee basic medical insurance (职工基本医疗保险)"),
        "390": _("urban and rural resident basic medical insurance (城乡居民基本医疗保险)"),
    }
    return names.get(insutype or "", insutype or "")


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def stay_days(begntime: str | None, endtime: str | None) -> int | None:
    """Inpatient days: discharge date minus admission date in the business zone, at least 1."""
    if not begntime or not endtime:
        return None
    zone = business_zone()
    begin = datetime.fromisoformat(begntime).astimezone(zone).date()
    end = datetime.fromisoformat(endtime).astimezone(zone).date()
    return max(1, (end - begin).days)


#: The split's lines in the order a cashier prints them: (label, settlement field).
SPLIT = (
    ("total medical fees (医疗费总额)", "medfee_sumamt"),
    ("self-pay, class C (全自费)", "fulamt_ownpay_amt"),
    ("above the price ceiling (超限价自付)", "overlmt_selfpay"),
    ("pre-self-pay, class B (先行自付)", "preselfpay_amt"),
    ("in scope (符合范围)", "inscp_scp_amt"),
    ("deductible (起付线)", "act_pay_dedc"),
    ("paid by the fund (统筹支付)", "fund_pay_sumamt"),
    ("paid from personal account (个人账户)", "acct_pay"),
    ("paid in cash (现金)", "psn_cash_pay"),
    ("account balance after (余额)", "balc"),
)


def pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


@dataclass
class Slip:
    """What a settlement slip shows; ``settled`` False for a pre-settlement (nothing booked)."""

    settlement: dict[str, Any]
    admission: dict[str, Any] = field(default_factory=dict)
    person: dict[str, Any] = field(default_factory=dict)
    hospital: dict[str, Any] = field(default_factory=dict)
    settled: bool = True

    def title(self) -> str:
        if self.settled:
            return _("Inpatient settlement slip (结算单)")
        return _("Pre-settlement, nothing booked (预结算单)")

    def header(self) -> list[tuple[str, str]]:
        s, a = self.settlement, self.admission
        endtime = a.get("endtime") or s.get("setl_time")
        days = stay_days(a.get("begntime"), endtime if self.settled else a.get("endtime"))
        rows = [
            (_("settlement no."), s.get("setl_id", "") if self.settled else ""),
            (_("admission no."), s.get("mdtrt_id") or a.get("mdtrt_id", "")),
            (_("patient"), self.person.get("psn_name", "")),
            (_("person no."), s.get("psn_no") or a.get("psn_no", "")),
            (_("card number"), a.get("card_no") or ""),
            (_("scheme"), scheme_name(s.get("insutype") or a.get("insutype"))),
            (_("hospital"), self.hospital.get("name") or s.get("fixmedins_code", "")),
            (_("department"), a.get("dept_name", "")),
            (_("diagnosis"), a.get("dise_name", "")),
            (_("admitted"), local_minute(a.get("begntime"))),
            (
                _("discharged"),
                local_minute(endtime) if self.settled else local_minute(a.get("endtime")),
            ),
            (_("days"), "" if days is None else str(days)),
        ]
        if self.settled:
            rows.append((_("settled at"), local_minute(s.get("setl_time"))))
        rows.append((_("policy version"), str(s.get("policy_version") or "")))
        return [(label, value) for label, value in rows if value]

    def lines(self) -> list[tuple[str, str]]:
        """(label, yuan) of the split."""
        s = self.settlement
        return [(_(label), yuan(s.get(key) or 0)) for label, key in SPLIT if key in s]

    def text(self) -> str:
        """The slip as plain text (a receipt printer's width)."""
        width = 44
        out = [self.title(), "=" * width]
        out += [f"{label}: {value}" for label, value in self.header()]
        out.append("-" * width)
        out += [f"{pad(label, width - 14)}{value:>14}" for label, value in self.lines()]
        out.append("=" * width)
        return "\n".join(out) + "\n"

    def html(self) -> str:
        """The slip as a printable HTML page (UTF-8, no outside resources)."""
        e = html.escape
        head = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self.header())
        split = "".join(
            f'<tr><th>{e(k)}</th><td class="money">{e(v)}</td></tr>' for k, v in self.lines()
        )
        return (
            '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{e(self.title())}</title><style>"
            "body{font-family:'Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;margin:2em}"
            "table{border-collapse:collapse;margin-bottom:1em;min-width:28em}"
            "th,td{border:1px solid #999;padding:.3em .6em;text-align:left}"
            ".money{text-align:right;font-variant-numeric:tabular-nums}"
            "@media print{body{margin:0}}</style></head><body>"
            f"<h1>{e(self.title())}</h1><table>{head}</table>"
            f"<h2>{e(_('amounts in yuan'))}</h2><table>{split}</table></body></html>\n"
        )
