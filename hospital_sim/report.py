"""The administrator's report: one self-contained HTML file with inline SVG charts.

No scripts, no fonts, no CDN: the file opens in any browser offline. Every
figure comes from the same :class:`~hospital_sim.ledger.Summary` the terminal
table prints, and the summary is embedded as JSON (``<script
type="application/json" id="summary">``) so a test or a script can check the
report against the run.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from hospital_sim.invariants import InvariantResult
from hospital_sim.labels import EXEMPTIONS, PATIENT_KINDS, shown
from hospital_sim.ledger import Summary, yuan

PALETTE = ("#2f6db5", "#e08a1e", "#3a9a5b", "#b5443a", "#7a52a8", "#5b8a99", "#a88a2f", "#777777")

REFUSAL_LABELS = {
    "not_covered": "not covered (uninsured / lapsed)",
    "card_expired": "card expired",
    "card_lost": "card reported lost",
    "card_cancelled": "card cancelled",
    "pin_blocked": "SSSE PIN blocked",
    "pin_wrong": "wrong PIN",
}


@dataclass(frozen=True)
class RunInfo:
    """How the run was made (shown in the report's header)."""

    seed: int
    first_day: str
    days: int
    patients: int
    desks: int
    readers: str
    service: str
    database: str
    elapsed_s: float
    hospitals: tuple[tuple[str, str, int, bool], ...]  # code, name, level, pin-service


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _svg_open(width: int, height: int) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    )


def bar_chart_svg(
    title: str, items: list[tuple[str, int]], *, width: int = 640, peak: int | None = None
) -> str:
    """Vertical bars with value labels; ``items`` are (label, value).

    ``peak`` fixes the value of a full-height bar, so that several charts share a scale.
    """
    height, left, bottom, top = 260, 40, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = peak or max((v for _, v in items), default=0) or 1
    n = max(len(items), 1)
    slot = plot_w / n
    bar = slot * 0.7
    parts = [
        _svg_open(width, height),
        f"<title>{_e(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    for i, (label, value) in enumerate(items):
        h = plot_h * value / peak
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{PALETTE[0]}">'
            f"<title>{_e(label)}: {value}</title></rect>"
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">'
            f"{value}</text>"
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
            f'text-anchor="middle">{_e(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart_svg(title: str, items: list[tuple[str, int]], *, width: int = 640) -> str:
    """Horizontal bars, one row per item, labels on the left."""
    row, left, top = 26, 250, 10
    height = top * 2 + row * max(len(items), 1)
    peak = max((v for _, v in items), default=0) or 1
    plot_w = width - left - 60
    parts = [
        _svg_open(width, height),
        f"<title>{_e(title)}</title>",
    ]
    if not items:
        parts.append(f'<text x="10" y="{top + 16}" font-size="13">none</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = plot_w * value / peak
        colour = PALETTE[(i + 3) % len(PALETTE)]
        parts.append(
            f'<text x="{left - 8}" y="{y + 17}" font-size="12" text-anchor="end">{_e(label)}</text>'
        )
        parts.append(
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{colour}">'
            f"<title>{_e(label)}: {value}</title></rect>"
        )
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 17}" font-size="12">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def split_chart_svg(title: str, items: list[tuple[str, int]], *, width: int = 640) -> str:
    """One stacked bar of 100 % with a legend (one line per share): how the money was split."""
    top, bar_h, row = 20, 36, 20
    height = top + bar_h + 16 + row * max(len(items), 1)
    total = sum(v for _, v in items) or 1
    parts = [_svg_open(width, height), f"<title>{_e(title)}</title>"]
    x = 10.0
    span = width - 20
    for i, (label, value) in enumerate(items):
        w = span * value / total
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{_e(label)}: {yuan(value)} yuan</title></rect>"
        )
        x += w
        ly = top + bar_h + 12 + i * row
        parts.append(f'<rect x="10" y="{ly}" width="12" height="12" fill="{colour}"/>')
        share = 100 * value / total
        parts.append(
            f'<text x="28" y="{ly + 11}" font-size="12">'
            f"{_e(label)}: {yuan(value)} yuan ({share:.1f}%)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[object]], key: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<table data-table="{_e(key)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _figure(key: str, label: str, value: object) -> str:
    return f'<div class="figure"><div class="v" data-key="{_e(key)}">{_e(value)}</div><div class="l">{_e(label)}</div></div>'


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:2em auto;max-width:960px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555}.figures{display:flex;flex-wrap:wrap;gap:12px}
.figure{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.figure .v{font-size:1.4em;font-weight:600}.figure .l{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f6f8}.ok{color:#2a7a3a;font-weight:600}.fail{color:#b5443a;font-weight:600}
svg.chart{max-width:100%;height:auto;font-family:inherit}
"""


def hour_axis(hours: set[int]) -> list[int]:
    """The hours of a chart in the order of the day: from the first hour after the longest
    quiet stretch round the clock to the last busy one, so a simulated day that runs past
    midnight (population.day_closes) reads 21h 22h 23h 00h 01h, not 00h 01h … 21h."""
    if not hours:
        return list(range(8, 18))
    ordered = sorted(hours)
    gaps = [((ordered[(i + 1) % len(ordered)] - h) % 24 or 24, i) for i, h in enumerate(ordered)]
    _, before = max(gaps)
    start = ordered[(before + 1) % len(ordered)]
    end = ordered[before]
    return [(start + i) % 24 for i in range((end - start) % 24 + 1)]


def per_hour_charts(per_day_hour: dict[str, dict[int, int]]) -> str:
    """One settlements-per-hour chart for each simulated day, on the same axes.

    The hours run from the earliest to the latest settlement hour of any day
    (08-17 when there is none; :func:`hour_axis`) and every chart has the same scale, so days
    compare at a glance; a day's hours are never added to another day's.
    """
    axis = hour_axis({h for hours in per_day_hour.values() for h in hours})
    peak = max((n for hours in per_day_hour.values() for n in hours.values()), default=0)
    if not per_day_hour:
        return bar_chart_svg("Settlements per hour", [(f"{h:02d}h", 0) for h in axis])
    charts = []
    for day, hours in per_day_hour.items():
        items = [(f"{h:02d}h", hours.get(h, 0)) for h in axis]
        total = sum(hours.values())
        charts.append(
            f'<figure data-day="{_e(day)}"><figcaption>{_e(day)}: {total} settlement(s)'
            f"</figcaption>{bar_chart_svg(f'Settlements per hour on {day}', items, peak=peak)}"
            "</figure>"
        )
    return "".join(charts)


def _invariants_html(invariants: list[InvariantResult]) -> str:
    """The invariants table, PASS and FAIL coloured."""
    inv_rows = [
        [
            r.name,
            "PASS" if r.ok else "FAIL",
            r.detail + ("; " + "; ".join(r.failures) if r.failures else ""),
        ]
        for r in invariants
    ]
    return (
        _table(["invariant", "result", "detail"], inv_rows, "invariants")
        .replace("<td>PASS</td>", '<td class="ok">PASS</td>')
        .replace("<td>FAIL</td>", '<td class="fail">FAIL</td>')
    )


def _hospital_rows(info: RunInfo, summary: Summary) -> list[list[object]]:
    """One row a hospital: code, name, level (PIN service), settlements, billed, fund."""
    hospital_names = {code: (name, level, pin) for code, name, level, pin in info.hospitals}
    hosp_rows: list[list[object]] = []
    for code, row in summary.per_hospital.items():
        name, level, pin = hospital_names.get(code, (code, "?", False))
        hosp_rows.append(
            [
                code,
                name,
                f"{level}{' (PIN service)' if pin else ''}",
                row["settlements"],
                yuan(row["total"]),
                yuan(row["fund"]),
            ]
        )
    return hosp_rows


def _figures_html(summary: Summary) -> str:
    """The day in figures: one tile a count."""
    return "".join(
        [
            _figure("patients", "patients", summary.patients),
            _figure("admissions", "admissions", summary.admissions),
            _figure("settlements", "standing settlements", summary.settlements),
            _figure("card_proven", "card-proven", summary.card_proven),
            _figure("exempt", "exempt with evidence", sum(summary.exemptions.values())),
            _figure("refused", "refusals", sum(summary.refusals.values())),
            _figure("long_stays", "long stays settled", summary.long_stays),
            _figure("refund_lines", "refund fee lines", summary.refund_lines),
            _figure("reversals", "reversals", summary.reversals),
            _figure("pin_services", "PIN services", sum(summary.pin_services.values())),
            _figure("total", "billed, yuan", yuan(summary.total)),
        ]
    )


def _scheme_rows(summary: Summary) -> list[list[object]]:
    scheme_names = {"310": "310 employee basic medical", "390": "390 resident basic medical"}
    return [
        [
            scheme_names.get(code, code),
            v["settlements"],
            yuan(v["total"]),
            yuan(v["fund"]),
            yuan(v["account"]),
            yuan(v["cash"]),
        ]
        for code, v in summary.per_scheme.items()
    ]


def _unexpected_html(summary: Summary) -> str:
    if not summary.unexpected:
        return "<p>None: every patient ended as planned.</p>"
    return "<ul>" + "".join(f"<li>{_e(u)}</li>" for u in summary.unexpected[:50]) + "</ul>"


def render(info: RunInfo, summary: Summary, invariants: list[InvariantResult]) -> str:
    """The whole report as one HTML string."""
    all_ok = all(r.ok for r in invariants) and not summary.unexpected
    per_hour_html = per_hour_charts(summary.per_day_hour)
    split = [("fund", summary.fund), ("personal account", summary.account), ("cash", summary.cash)]
    refusals = [(REFUSAL_LABELS.get(code, code), n) for code, n in summary.refusals.items()]
    exemptions = [(shown(kind, EXEMPTIONS), n) for kind, n in summary.exemptions.items()]
    inv_html = _invariants_html(invariants)
    latency_rows = [
        [op, v["n"], v["p50"], v["p90"], v["p99"], v["max"]] for op, v in summary.latency_ms.items()
    ]
    hosp_rows = _hospital_rows(info, summary)
    figures = _figures_html(summary)
    scheme_rows = _scheme_rows(summary)
    kind_rows = [
        [shown(kind, PATIENT_KINDS), v["patients"], v["settled"], v["refused"]]
        for kind, v in summary.by_kind.items()
    ]
    money_rows = [[label, yuan(v)] for label, v in split] + [["total", yuan(summary.total)]]
    class_rows = [[f"{name}类", yuan(fen)] for name, fen in summary.by_class.items()]
    class_rows.append(["above the price ceilings (overlmt_selfpay)", yuan(summary.overlmt_selfpay)])
    unexpected = _unexpected_html(summary)
    summary_json = json.dumps(summary.as_json(), ensure_ascii=False, sort_keys=True).replace(
        "</", "<\\/"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Hospital day report — seed {info.seed}, {_e(info.first_day)}</title>
<style>{CSS}</style></head><body>
<h1>Inpatient card-only settlement: hospital day report</h1>
<p class="meta">Day {_e(info.first_day)} ({info.days} day(s)), seed {info.seed}, {info.patients} patients a day,
{info.desks} registration desks, readers: {_e(info.readers)}, service: {_e(info.service)},
database: {_e(info.database)}, run time {info.elapsed_s:.1f} s.</p>
<p class="{"ok" if all_ok else "fail"}" id="verdict">{"All invariants hold." if all_ok else "Some invariants FAIL."}</p>
<section id="figures"><h2>The day in figures</h2><div class="figures">{figures}</div></section>
<section id="per-hour"><h2>Settlements per hour</h2>{per_hour_html}</section>
<section id="money"><h2>Money: fund, personal account, cash</h2>{split_chart_svg("Split of money", split)}
{_table(["paid by", "yuan"], money_rows, "money")}</section>
<section id="classes"><h2>Money by catalogue class (甲/乙/丙) and above the price ceilings</h2>
{_table(["class", "yuan"], class_rows, "classes")}
<p class="meta">The insurance catalogue classes every fee line by its national code; the part of a
unit price above the catalogue's ceiling is the patient's (overlmt_selfpay).</p></section>
<section id="patients"><h2>Patients by kind and outcome</h2>
{_table(["kind", "patients", "settled", "refused at some step"], kind_rows, "by_kind")}
<p class="meta">Forgetful PIN typists are refused once (PIN blocked) and then settle after the PIN reset,
unless they go home with the blocked card.</p></section>
<section id="refusals"><h2>Refusal reasons</h2>{hbar_chart_svg("Refusal reasons", refusals)}
{_table(["code", "count"], [[c, n] for c, n in summary.refusals.items()], "refusals")}</section>
<section id="exemptions"><h2>Exemptions by kind</h2>{hbar_chart_svg("Exemptions", exemptions)}
{_table(["exemption", "count"], [[k, n] for k, n in exemptions], "exemptions")}</section>
<section id="pins"><h2>PIN services</h2>
{_table(["operation", "count"], [[k, n] for k, n in summary.pin_services.items()] + [["wrong PINs typed", summary.wrong_pins]], "pins")}</section>
<section id="schemes"><h2>By insurance scheme</h2>
{_table(["scheme", "settlements", "billed (yuan)", "fund (yuan)", "account (yuan)", "cash (yuan)"], scheme_rows, "schemes")}
{_table(["discharge day", "settlements"], [[d, n] for d, n in summary.per_day.items()], "days")}</section>
<section id="hospitals"><h2>Hospitals</h2>
{_table(["code", "hospital", "level", "settlements", "billed (yuan)", "fund (yuan)"], hosp_rows, "hospitals")}</section>
<section id="latency"><h2>Latency (ms)</h2>
{_table(["operation", "n", "p50", "p90", "p99", "max"], latency_rows, "latency")}</section>
<section id="invariants"><h2>Invariants</h2>{inv_html}</section>
<section id="unexpected"><h2>Unexpected outcomes</h2>{unexpected}</section>
<script type="application/json" id="summary">{summary_json}</script>
</body></html>
"""


def write(path: Path, info: RunInfo, summary: Summary, invariants: list[InvariantResult]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render(info, summary, invariants), encoding="utf-8")
    tmp.replace(path)
    return path
