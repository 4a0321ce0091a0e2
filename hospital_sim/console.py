"""What the operator sees in the terminal: the live progress bar and the closing summary table."""

from __future__ import annotations

from rich.console import Console, Group
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


def summary_table(summary: Summary, invariants: list[InvariantResult]) -> Group:
    """The closing tables: the day in figures, latencies, invariants.

    Three narrow tables rather than one wide one, so that every label stays on
    one line in an 80-column log (a CI job, ``| tee``), where rich cannot ask
    the terminal for its width.
    """
    table = Table(title="Hospital day summary", show_lines=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_row("patients", str(summary.patients))
    table.add_row("admissions (2401)", str(summary.admissions))
    table.add_row("fee lines uploaded (2301)", str(summary.fee_lines))
    table.add_row("  refund lines", str(summary.refund_lines))
    table.add_row("settlements standing (2304)", str(summary.settlements))
    table.add_row("  long stays (admitted days ago)", str(summary.long_stays))
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
    for name, fen in summary.by_class.items():
        table.add_row(f"  {name}类 items (yuan)", yuan(fen))
    table.add_row("  above price ceilings (yuan)", yuan(summary.overlmt_selfpay))
    if summary.reader_retries:
        table.add_row("card visits restarted (reader failure)", str(summary.reader_retries))
    if summary.unexpected:
        table.add_row("[red]unexpected outcomes[/red]", str(len(summary.unexpected)))
    parts: list[Table] = [table]
    if summary.latency_ms:
        latency = Table(title="Latency (ms)", title_justify="left")
        latency.add_column("operation", style="bold", no_wrap=True)
        for column in ("p50", "p90", "p99", "n"):
            latency.add_column(column, justify="right", no_wrap=True)
        for op, v in summary.latency_ms.items():
            latency.add_row(
                op, f"{v['p50']:.1f}", f"{v['p90']:.1f}", f"{v['p99']:.1f}", str(v["n"])
            )
        parts.append(latency)
    if invariants:
        checks = Table(title="Invariants", title_justify="left")
        checks.add_column("invariant", style="bold", no_wrap=True)
        checks.add_column("result", no_wrap=True)
        checks.add_column("detail")
        for result in invariants:
            mark = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
            checks.add_row(result.name, mark, result.detail)
        parts.append(checks)
    return Group(*parts)
