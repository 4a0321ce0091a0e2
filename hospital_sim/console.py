"""What the operator sees in the terminal: the live progress bar and the closing summary table."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hospital_sim.invariants import InvariantResult
from hospital_sim.ledger import Summary, yuan


def progress_bar(console: Console) -> Progress:
    """The live bar: one task per phase (provisioning, the day's patients)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def summary_table(summary: Summary, invariants: list[InvariantResult]) -> Table:
    """The closing table: admissions, settlements, refusals, exemptions, PINs, money, latency."""
    table = Table(title="Hospital day summary", show_lines=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("patients", str(summary.patients))
    table.add_row("admissions (2401)", str(summary.admissions))
    table.add_row("fee lines uploaded (2301)", str(summary.fee_lines))
    table.add_row("settlements standing (2304)", str(summary.settlements))
    table.add_row("  card-proven", str(summary.card_proven))
    for kind, n in summary.exemptions.items():
        table.add_row(f"  exempt: {kind}", str(n))
    table.add_row("reversals (2305)", str(summary.reversals))
    table.add_row("refusals", str(sum(summary.refusals.values())))
    for code, n in summary.refusals.items():
        table.add_row(f"  refused: {code}", str(n))
    table.add_row("wrong PINs typed", str(summary.wrong_pins))
    for op, n in summary.pin_services.items():
        table.add_row(f"SSSE PIN {op}", str(n))
    table.add_row("billed (yuan)", yuan(summary.total))
    table.add_row("  fund (yuan)", yuan(summary.fund))
    table.add_row("  personal account (yuan)", yuan(summary.account))
    table.add_row("  cash (yuan)", yuan(summary.cash))
    for op, v in summary.latency_ms.items():
        table.add_row(
            f"latency {op} (ms)",
            f"p50 {v['p50']:.1f}  p90 {v['p90']:.1f}  p99 {v['p99']:.1f}  n={v['n']}",
        )
    for result in invariants:
        mark = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
        table.add_row(f"invariant: {result.name}", f"{mark} {result.detail}")
    if summary.reader_retries:
        table.add_row("card visits restarted (reader failure)", str(summary.reader_retries))
    if summary.unexpected:
        table.add_row("[red]unexpected outcomes[/red]", str(len(summary.unexpected)))
    return table
