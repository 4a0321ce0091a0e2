"""The hospital's day report as a clerk reads it (docs/api.md §Reports; issue 17): the day's
settlements, reversals and net in yuan, the fees by catalogue class (甲/乙/丙), the money by
department, and the refusals by reason in words — as tables for the terminal and as one
printable HTML page. Every label goes through the counter's language (terminal/i18n.py).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from terminal.i18n import _, problem_title
from terminal.slip import SPLIT, yuan

#: The day's sums a report shows: (label, field).
SUMS = tuple(
    (label, key) for label, key in SPLIT if key not in {"balc", "overlmt_selfpay", "act_pay_dedc"}
)
#: The catalogue classes (list_type) in words.
CLASSES = (
    ("A", "class A (甲类)"),
    ("B", "class B (乙类)"),
    ("C", "class C (丙类)"),
)
#: A department's amounts: (label, field of the report's ``by_department`` lines).
DEPARTMENT_SUMS = (
    ("total medical fees (医疗费总额)", "medfee_sumamt"),
    ("paid by the fund (统筹支付)", "fund_pay_sumamt"),
    ("paid from personal account (个人账户)", "acct_pay"),
    ("paid in cash (现金)", "psn_cash_pay"),
)


def refusal_reason(code: str) -> str:
    """A refusal code in words: the service's problem title in the counter's language
    (English: the code written out, ``not_covered`` → "Not covered")."""
    words = code.replace("_", " ")
    return problem_title(code, words[:1].upper() + words[1:])


@dataclass(frozen=True)
class Section:
    """One table of the report: a title, the column headings and the rows (all text)."""

    title: str
    headings: list[str]
    rows: list[list[str]]
    #: Columns (by index) aligned right: the money and the counts.
    numeric_from: int = 1


@dataclass
class DayReport:
    """The service's daily report of one institution (``GET /v1/reports/daily``)."""

    report: dict[str, Any]
    hospital: str = ""

    def title(self) -> str:
        return _("Day report {date}").format(date=self.report.get("date", ""))

    def balanced(self) -> str:
        if self.report.get("balanced"):
            return _("balanced")
        return _("NOT balanced: see the checks")

    def totals(self) -> Section:
        parts = [self.report.get(k) or {} for k in ("settlements", "reversals", "net")]
        rows = [[_("count"), *[str(p.get("count", 0)) for p in parts]]]
        rows += [[_(label), *[yuan(p.get(key) or 0) for p in parts]] for label, key in SUMS]
        return Section(
            _("Settlements, reversals and net (yuan)"),
            [_("item"), _("settlements"), _("reversals"), _("net")],
            rows,
        )

    def classes(self) -> Section:
        """The fees of the day's standing settlements by catalogue class."""
        by_class = self.report.get("by_class") or {}
        rows = [[_(label), yuan(by_class.get(letter) or 0)] for letter, label in CLASSES]
        rows.append([_("total"), yuan(sum(by_class.get(letter) or 0 for letter, _l in CLASSES))])
        return Section(
            _("Fees by catalogue class (standing settlements of the day)"),
            [_("class"), _("amount")],
            rows,
        )

    def departments(self) -> Section:
        """Net per department: count, then the amounts."""
        rows = []
        for line in self.report.get("by_department") or []:
            net = line.get("net") or {}
            rows.append(
                [
                    line.get("dept_name") or _("(no department)"),
                    str(net.get("count", 0)),
                    *[yuan(net.get(key) or 0) for _label, key in DEPARTMENT_SUMS],
                ]
            )
        return Section(
            _("Net by department (settlements minus reversals)"),
            [_("department"), _("count"), *[_(label) for label, _key in DEPARTMENT_SUMS]],
            rows,
        )

    def refusals(self) -> Section:
        rows = [
            [refusal_reason(r["code"]), r["code"], str(r["count"])]
            for r in self.report.get("refusals") or []
        ]
        return Section(
            _("Refusals by reason"), [_("reason"), _("code"), _("count")], rows, numeric_from=2
        )

    def sections(self) -> list[Section]:
        return [self.totals(), self.classes(), self.departments(), self.refusals()]

    def html(self) -> str:
        """The report as a printable HTML page (UTF-8, no outside resources)."""
        e = html.escape
        body = []
        for section in self.sections():
            head = "".join(f"<th>{e(h)}</th>" for h in section.headings)
            rows = (
                "".join(
                    "<tr>"
                    + "".join(
                        f'<td class="num">{e(cell)}</td>'
                        if i >= section.numeric_from
                        else f"<td>{e(cell)}</td>"
                        for i, cell in enumerate(row)
                    )
                    + "</tr>"
                    for row in section.rows
                )
                or f'<tr><td colspan="{len(section.headings)}">{e(_("none"))}</td></tr>'
            )
            body.append(f"<h2>{e(section.title)}</h2><table><tr>{head}</tr>{rows}</table>")
        subtitle = f"<p>{e(self.hospital)}</p>" if self.hospital else ""
        return (
            '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{e(self.title())}</title><style>"
            "body{font-family:'Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;margin:2em}"
            "table{border-collapse:collapse;margin-bottom:1em;min-width:28em}"
            "th,td{border:1px solid #999;padding:.3em .6em;text-align:left}"
            ".num{text-align:right;font-variant-numeric:tabular-nums}"
            "@media print{body{margin:0}}</style></head><body>"
            f"<h1>{e(self.title())}</h1>{subtitle}<p>{e(self.balanced())}</p>"
            + "".join(body)
            + "</body></html>\n"
        )
