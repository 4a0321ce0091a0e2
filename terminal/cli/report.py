"""The hospital's day report at the desk (docs/api.md §Daily report): settlements,
reversals (with their money) and the net, in yuan, in the counter's language, and a
CSV export of the day's standing settlements (``--csv PATH``, UTF-8 with BOM so Excel
opens it)."""

from __future__ import annotations

import argparse
import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from terminal.cli.common import EXIT_OK, UsageError, console, open_client, print_json, yuan
from terminal.i18n import _
from terminal.slip import SPLIT, business_zone, local_minute, scheme_name

#: The day's sums a report shows: (label, field).
SUMS = tuple(
    (label, key) for label, key in SPLIT if key not in {"balc", "overlmt_selfpay", "act_pay_dedc"}
)


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
    if args.csv:
        write_csv(args.csv, rows)
    if args.json:
        print_json(report)
        return EXIT_OK
    table = Table(title=_("Day report {date}").format(date=day.isoformat()), title_justify="left")
    table.add_column(_("item"))
    for heading in (_("settlements"), _("reversals"), _("net")):
        table.add_column(heading, justify="right")
    parts = [report.get(k) or {} for k in ("settlements", "reversals", "net")]
    table.add_row(_("count"), *[str(p.get("count", 0)) for p in parts])
    for label, key in SUMS:
        table.add_row(_(label), *[yuan(p.get(key) or 0) for p in parts])
    console.print(table)
    balanced = _("balanced") if report.get("balanced") else _("NOT balanced: see the checks")
    console.print(balanced, highlight=False)
    if args.csv:
        console.print(_("{n} settlements written to {path}").format(n=len(rows), path=args.csv))
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """``day-report``."""
    p = sub.add_parser("day-report", help=_("the day's settlements and reversals in yuan"))
    p.add_argument("--date", help=_("the day, e.g. 2026-11-23 (default today)"))
    p.add_argument("--csv", metavar="PATH", help=_("also export the day's settlements as CSV"))
    p.set_defaults(func=cmd_day_report)
