"""The hospital's day report at the desk (docs/api.md §Daily report): settlements,
reversals (with their money) and the net, in yuan, the fees by class (甲/乙/丙), the money
by department and the refusals by reason, in the counter's language
(:mod:`terminal.dayreport`); a printable HTML page (``--html PATH``) and a CSV export of
the day's standing settlements (``--csv PATH``, UTF-8 with BOM so Excel opens it)."""

from __future__ import annotations

import argparse
import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from terminal.cli.common import EXIT_OK, UsageError, console, open_client, print_json
from terminal.client.http import ServiceRefused
from terminal.dayreport import SUMS, DayReport, Section
from terminal.i18n import _
from terminal.slip import business_zone, local_minute, scheme_name


def settlements_of_day(client: Any, day: date) -> list[dict[str, Any]]:
    """The standing settlements whose settlement time is on ``day`` in the business zone."""
    found = []
    answer = client.admissions(status="settled")
    if isinstance(answer, dict):  # a page: {"admissions": [...]} (or "items")
        answer = answer.get("admissions") or answer.get("items") or []
    for admission in answer:
        setl = admission.get("settlement") or {}
        when = setl.get("setl_time")
        if when and datetime.fromisoformat(when).astimezone(business_zone()).date() == day:
            found.append({**setl, "dept_name": admission.get("dept_name", "")})
    return found


def plain_yuan(fen: int) -> str:
    """Yuan for a spreadsheet: two decimals, no thousands separator."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    columns = ["setl_id", "mdtrt_id", "psn_no", "insutype", "dept_name", "setl_time"]
    money = [key for _label, key in SUMS]
    with Path(path).open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow([*columns, *money])
        for row in rows:
            shown = {
                **row,
                "insutype": scheme_name(row.get("insutype")),
                "setl_time": local_minute(row.get("setl_time")),
            }
            out.writerow(
                [shown.get(c, "") for c in columns] + [plain_yuan(row.get(k) or 0) for k in money]
            )


def hospital_name(client: Any, code: str) -> str:
    """``name (code)`` of the reporting institution, or its code when it cannot be read."""
    if not code:
        return ""
    try:
        name = client.institution(code).get("name")
    except ServiceRefused:
        return code
    return f"{name} ({code})" if name else code


def print_section(section: Section) -> None:
    """One section of the day report as a table (counts and money aligned right)."""
    console.print(section.title, style="bold", highlight=False)  # a table title would wrap
    table = Table()
    for i, heading in enumerate(section.headings):
        table.add_column(heading, justify="right" if i >= section.numeric_from else "left")
    for row in section.rows:
        table.add_row(*row)
    if not section.rows:
        table.add_row(_("none"), *[""] * (len(section.headings) - 1))
    console.print(table)


def cmd_day_report(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.date) if args.date else datetime.now(business_zone()).date()
    except ValueError:
        raise UsageError(
            _("{text} is not a date: write it as 2026-11-23").format(text=args.date)
        ) from None
    with open_client(args) as client:
        report = client.daily_report(day)
        rows = settlements_of_day(client, day) if args.csv else []
        hospital = hospital_name(client, report.get("institution") or "")
    if args.csv:
        write_csv(args.csv, rows)
    day_report = DayReport(report, hospital=hospital)
    if args.html:
        Path(args.html).write_text(day_report.html(), encoding="utf-8")
    if args.json:
        print_json(report)
        return EXIT_OK
    console.print(day_report.title(), style="bold", highlight=False)
    for section in day_report.sections():
        print_section(section)
    console.print(day_report.balanced(), highlight=False)
    if args.csv:
        console.print(_("{n} settlements written to {path}").format(n=len(rows), path=args.csv))
    if args.html:
        console.print(_("HTML report written to {path}").format(path=args.html), highlight=False)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """``day-report``."""
    p = sub.add_parser("day-report", help=_("the day's settlements and reversals in yuan"))
    p.add_argument("--date", help=_("the day, e.g. 2026-11-23 (default today)"))
    p.add_argument("--csv", metavar="PATH", help=_("also export the day's settlements as CSV"))
    p.add_argument(
        "--html", metavar="PATH", help=_("also write the report as a printable HTML page")
    )
    p.set_defaults(func=cmd_day_report)
