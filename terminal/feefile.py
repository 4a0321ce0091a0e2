"""The desk's fee file: what hospitals export, read into /v1 fee lines (docs/api.md §Fees).

* JSON: a list of fee lines, or ``{"feedetail": [...]}``, as the API takes them.
* CSV, UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8") or GB18030 / GBK
  (Excel's default on Chinese Windows). The header names the columns, in the API's
  names or in Chinese (:data:`ALIASES`): ``feedetl_sn`` 明细流水号/序号,
  ``med_list_codg`` 项目编码/医保目录编码, ``med_list_name`` 名称/项目名称,
  ``list_type`` 类别, quantity ``cnt`` (whole) or ``cnt_decimal`` 数量 (up to 4
  decimals), price ``pric`` (whole fen) or ``pric_yuan`` 单价/单价（元） (yuan, up to
  6 decimals, e.g. 12.50).
* Without a ``feedetl_sn`` column, the lines are numbered 1, 2, ... in file order.
* Every bad row is reported with its line number (the header is line 1), all at once;
  nothing is uploaded from a file with a bad row.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from terminal.i18n import _

#: Chinese (and other usual) column names → the API's.
ALIASES = {
    "明细流水号": "feedetl_sn",
    "序号": "feedetl_sn",
    "流水号": "feedetl_sn",
    "项目编码": "med_list_codg",
    "医保目录编码": "med_list_codg",
    "医保编码": "med_list_codg",
    "名称": "med_list_name",
    "项目名称": "med_list_name",
    "类别": "list_type",
    "数量": "cnt_decimal",
    "单价": "pric_yuan",
    "单价(元)": "pric_yuan",
    "单价（元）": "pric_yuan",
}

#: Decimal places the API takes (docs/api.md §Fees: cnt 4, price 6 in yuan).
PLACES = {"cnt_decimal": 4, "pric_yuan": 6}


class FeeFileError(ValueError):
    """A fee file that cannot be uploaded; ``problems`` lists each bad row by line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def decode(data: bytes) -> str:
    """UTF-8 (a byte-order mark dropped), else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _column(name: str) -> str:
    name = name.strip().lstrip("\ufeff")
    return ALIASES.get(name, name)


def _row(row: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """One CSV row as a fee line, and what is wrong with it."""
    line: dict[str, Any] = {k: v.strip() for k, v in row.items() if k and v and v.strip()}
    wrong = []
    for key, places in PLACES.items():
        if key in line:
            try:
                value = Decimal(line[key])
            except InvalidOperation:
                wrong.append(
                    _("{column} {value!r} is not a number").format(column=key, value=line[key])
                )
                continue
            if not value.is_finite() or -value.as_tuple().exponent > places:  # type: ignore[operator]
                wrong.append(
                    _("{column} {value} has more than {n} decimals").format(
                        column=key, value=line[key], n=places
                    )
                )
    for whole, decimal in (("cnt", "cnt_decimal"), ("pric", "pric_yuan")):
        if decimal in line:
            continue
        try:
            line[whole] = int(line[whole])
        except KeyError:
            wrong.append(_("no {whole} or {decimal}").format(whole=whole, decimal=decimal))
        except ValueError:
            wrong.append(
                _(
                    "{whole} {value!r} must be whole (pric in fen); give {decimal} for decimals"
                ).format(whole=whole, value=line[whole], decimal=decimal)
            )
    return line, wrong


def parse_fee_file(data: bytes, source: str) -> list[dict[str, Any]]:
    """Fee lines from a JSON or CSV fee file's bytes; :class:`FeeFileError` names every bad row."""
    text = decode(data)
    if text.lstrip().startswith(("[", "{")):
        parsed = json.loads(text)
        return parsed["feedetail"] if isinstance(parsed, dict) else parsed
    reader = csv.reader(text.splitlines())
    header = [_column(name) for name in next(reader, [])]
    lines, problems = [], []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        line, wrong = _row(dict(zip(header, cells, strict=False)))
        line.setdefault("feedetl_sn", str(len(lines) + 1))  # a file without serial numbers
        problems += [_("line {n}: {reason}").format(n=reader.line_num, reason=w) for w in wrong]
        lines.append(line)
    if problems:
        raise FeeFileError(source, problems)
    return lines
