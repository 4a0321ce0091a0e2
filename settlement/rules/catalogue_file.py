"""The catalogue import file (harness.md "The catalogue") — parsed whole or refused whole.

CSV, UTF-8 with or without BOM, or GB18030; header row
``med_list_codg,med_list_name,chrgitm_lv,med_chrgitm_type,selfpay_prop,pric_uplmt_amt``
(optionally followed by ``begndate,enddate``, ISO dates, empty: open). ``chrgitm_lv``
``01``/``02``/``03``; ``selfpay_prop`` a decimal 0–1 with at most 4 decimals (empty: 0 for
``01``, the policy's default for ``02``, 1 for ``03``; a 甲 item is never self-paid, a 丙 item
always); ``pric_uplmt_amt`` a unit-price ceiling in yuan, at most 6 decimals (empty: none).
The first bad row stops the import with :class:`CatalogueError` naming its line number.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from settlement.rules.catalogue import (
    CHRGITM_LVS,
    PROP_SCALE,
    CatalogueEntry,
    CatalogueError,
    scaled,
)

HEADER = (
    "med_list_codg",
    "med_list_name",
    "chrgitm_lv",
    "med_chrgitm_type",
    "selfpay_prop",
    "pric_uplmt_amt",
)
OPTIONAL = ("begndate", "enddate")
MAX_ENTRIES = 200_000


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030; neither → ``catalogue_invalid``."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise CatalogueError(
            "catalogue_invalid", "the file is neither UTF-8 nor GB18030 text"
        ) from None


def _bad(line: int, message: str) -> CatalogueError:
    return CatalogueError("catalogue_invalid", f"line {line}: {message}; nothing was loaded")


def _prop(text: str, lv: str, default_b_bp: int) -> int:
    if not text:
        return {"01": 0, "02": default_b_bp, "03": PROP_SCALE}[lv]
    bp = scaled(text, 4, "selfpay_prop")
    if bp > PROP_SCALE:
        raise ValueError(f"selfpay_prop must be between 0 and 1, got {text!r}")
    if lv == "01" and bp != 0:
        raise ValueError("a 甲 (01) item has selfpay_prop 0")
    if lv == "03" and bp != PROP_SCALE:
        raise ValueError("a 丙 (03) item has selfpay_prop 1")
    return bp


def _date(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date yyyy-mm-dd, got {text!r}") from None


def _entry(row: list[str], width: int, default_b_bp: int) -> CatalogueEntry:
    if len(row) != width:
        raise ValueError(f"expected {width} fields, got {len(row)}")
    cells = [cell.strip() for cell in row] + [""] * (8 - width)
    codg, name, lv, kind, prop, ceiling, begn, end = cells
    if not codg or len(codg) > 50:
        raise ValueError("med_list_codg must be 1 to 50 characters")
    if len(name) > 200:
        raise ValueError("med_list_name must be at most 200 characters")
    if lv not in CHRGITM_LVS:
        raise ValueError(f"chrgitm_lv must be 01, 02 or 03, got {lv!r}")
    if len(kind) > 6:
        raise ValueError(f"med_chrgitm_type must be at most 6 characters, got {kind!r}")
    uplmt = scaled(ceiling, 6, "pric_uplmt_amt") if ceiling else None
    begndate, enddate = _date(begn, "begndate"), _date(end, "enddate")
    if begndate and enddate and enddate < begndate:
        raise ValueError("enddate is before begndate")
    return CatalogueEntry(
        codg, name, lv, kind, _prop(prop, lv, default_b_bp), uplmt, begndate, enddate
    )


def parse(data: bytes, default_b_bp: int) -> list[CatalogueEntry]:
    """Every entry of the file, in file order; a code twice → the line of the second."""
    rows = csv.reader(io.StringIO(decode(data), newline=""))
    header = tuple(cell.strip() for cell in next(rows, []))
    if header not in (HEADER, HEADER + OPTIONAL):
        raise _bad(1, f"the header must be {','.join(HEADER)}[,{','.join(OPTIONAL)}]")
    entries: list[CatalogueEntry] = []
    seen: dict[str, int] = {}
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            entry = _entry(row, len(header), default_b_bp)
        except ValueError as error:
            raise _bad(line, str(error)) from None
        if entry.med_list_codg in seen:
            raise _bad(
                line, f"{entry.med_list_codg} is already on line {seen[entry.med_list_codg]}"
            )
        seen[entry.med_list_codg] = line
        entries.append(entry)
        if len(entries) > MAX_ENTRIES:
            raise _bad(line, f"more than {MAX_ENTRIES} entries in one file")
    if not entries:
        raise CatalogueError("catalogue_invalid", "the file has no entries; nothing was loaded")
    return entries
