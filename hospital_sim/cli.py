"""``python -m hospital_sim run``: a simulated hospital day through real terminals and service.

Exit codes: 0 every invariant holds and every patient ended as planned;
1 an invariant failed or an outcome was unexpected; 2 bad arguments or the
run could not be set up (the message says what to do).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console

if TYPE_CHECKING:
    from hospital_sim.run import Options, Outcome
    from hospital_sim.world import CardProvisioner

EXIT_OK = 0
EXIT_INVARIANT = 1
EXIT_SETUP = 2


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def writable_paths(workdir: Path | None, report: Path | None) -> str | None:
    """Why the work directory or the report file cannot be written, or None if both can.

    Checked before the day runs, so a typo costs a second, not a whole day.
    """
    if workdir is not None:
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create the work directory {workdir}: {exc.strerror or exc}"
        if not os.access(workdir, os.W_OK | os.X_OK):
            return f"cannot write in the work directory {workdir}"
    if report is not None:
        if report.is_dir():
            return f"the report path {report} is a directory; give a file name"
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create the report's directory {report.parent}: {exc.strerror or exc}"
        if not os.access(report.parent, os.W_OK | os.X_OK) or (
            report.exists() and not os.access(report, os.W_OK)
        ):
            return f"cannot write the report file {report}"
    return None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m hospital_sim",
        description="Simulated hospital days: card-only inpatient settlement, end to end.",
    )
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a simulated hospital day and write the report",
        description="Run simulated hospital day(s) through the real terminals and the real "
        "settlement service, check the invariants, print the summary, write an HTML report.",
    )
    run.add_argument("--patients", type=_positive, default=200, help="patients a day (200)")
    run.add_argument("--desks", type=_positive, default=4, help="registration desks (4)")
    run.add_argument("--days", type=_positive, default=1, help="simulated days (1)")
    run.add_argument("--seed", type=int, default=1, help="population seed (1)")
    run.add_argument(
        "--readers",
        choices=("inprocess", "pcsc"),
        default="inprocess",
        help="inprocess cards (default) or every desk's card in a real pcscd/vpcd reader",
    )
    run.add_argument(
        "--database-url",
        help="the service's database (default: a fresh SQLite file in the work directory)",
    )
    run.add_argument(
        "--service-process",
        action="store_true",
        help="start the service as a `python -m settlement serve` child process "
        "(default: in this process, in a background thread)",
    )
    run.add_argument("--service-url", help="use this running service instead of starting one")
    run.add_argument("--api-key", help="admin API key of the service given by --service-url")
    run.add_argument(
        "--keystore", type=Path, help="issuer key store (default: a fresh one in the work dir)"
    )
    run.add_argument("--workdir", type=Path, help="where cards, database and logs go")
    run.add_argument("--report", type=Path, help="report file (default: WORKDIR/report.html)")
    run.add_argument(
        "--from-applications",
        action="store_true",
        help="produce the cards through the card-application flow first (issue 8)",
    )
    pay = sub.add_parser(
        "payment-day",
        help="a contribution payment day through the payment channels (issue 20)",
        description="Residents and flexible workers pay their insurance year through the "
        "channel API at the published peak rate (35 000 a day), sped up; checks that nobody "
        "pays twice, every payment covers one person-year and every channel balances.",
    )
    pay.add_argument("--payments", type=_positive, default=200, help="people who pay (200)")
    pay.add_argument("--channels", type=_positive, default=2, help="payment channels (2)")
    pay.add_argument("--speedup", type=float, default=2000.0, help="× the peak rate (2000)")
    pay.add_argument("--seed", type=int, default=1, help="seed (1)")
    pay.add_argument("--workdir", type=Path, help="where the database and logs go")
    pay.add_argument(
        "--day",
        type=date.fromisoformat,
        help="the payment day (default: 15 June before the current insurance year); the "
        "run's service takes it as its business date (SSCARD_TODAY, simulation only)",
    )
    return top


def payment_day(args: argparse.Namespace, console: Console) -> int:
    """``payment-day``: an in-process service in the work directory, the day, its invariants."""
    import tempfile

    from card.keystore import KeyStore
    from hospital_sim.payments import payment_day_of, run_payment_day
    from hospital_sim.service import start_in_process

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sscard-payday-"))
    workdir.mkdir(parents=True, exist_ok=True)
    keystore = workdir / "keystore.json"
    if not keystore.exists():
        KeyStore.generate().save(keystore)
    day = args.day or payment_day_of(datetime.now(ZoneInfo("Asia/Shanghai")).date())
    url = f"sqlite:///{workdir / 'settlement.db'}"
    with start_in_process(workdir, url, keystore, today=day) as svc:
        day = run_payment_day(
            svc.url,
            svc.admin_key,
            payments=args.payments,
            channels=args.channels,
            speedup=args.speedup,
            seed=args.seed,
        )
    for log in day.channels:
        console.print(f"{log.code}: {len(log.confirmed)} confirmed, refused {log.refused}")
    for name, (ok, detail) in day.invariants.items():
        console.print(f"{'[green]ok[/green]' if ok else '[red]FAILED[/red]'} {name}: {detail}")
    console.print(f"payment day {day.day}, insurance year {day.year}, {day.elapsed_s:.1f} s")
    return EXIT_OK if day.ok else EXIT_INVARIANT


def _arguments_usable(args: argparse.Namespace, console: Console) -> bool:
    """Say what is wrong with the arguments before anything starts (False: exit 2)."""
    if args.service_url and args.service_process:
        console.print(
            "[red]--service-process starts a service; --service-url uses one: not both[/red]"
        )
        return False
    if args.service_url and not args.api_key:
        console.print("[red]--service-url needs --api-key (an admin API key of that service)[/red]")
        return False
    from hospital_sim.population import MAX_DAYS

    if args.days > MAX_DAYS:
        console.print(
            f"[red]at most {MAX_DAYS} days (--days): the service accepts admission times "
            "at most 30 days back[/red]"
        )
        return False
    if args.days * args.patients > 99_999:
        console.print("[red]at most 99 999 patients in one run (--patients × --days)[/red]")
        return False
    unwritable = writable_paths(args.workdir, args.report)
    if unwritable:
        console.print(f"[red]{unwritable}[/red]", highlight=False, soft_wrap=True)
        return False
    return True


def _provisioner(args: argparse.Namespace, console: Console) -> CardProvisioner | None:
    """How the city's cards are made: ready-made, or ``--from-applications`` (None: exit 2)."""
    from hospital_sim.world import provision_cards

    if not args.from_applications:
        return provision_cards
    try:
        from hospital_sim.applications import provision_cards_from_applications
    except ImportError:
        console.print(
            "[red]--from-applications is not available yet: the card-application flow "
            "(issue 8) has not been built[/red]"
        )
        return None
    return provision_cards_from_applications


def _options(args: argparse.Namespace) -> Options:
    from hospital_sim.run import Options

    return Options(
        patients=args.patients,
        desks=args.desks,
        days=args.days,
        seed=args.seed,
        readers=args.readers,
        database_url=args.database_url,
        service_url=args.service_url,
        api_key=args.api_key,
        workdir=args.workdir,
        report=args.report,
        keystore=args.keystore,
        service_mode="process" if args.service_process else "in-process",
    )


def _show_outcome(args: argparse.Namespace, outcome: Outcome, console: Console) -> None:
    """The verdict, a key store hint when a foreign service refused the proofs, the report."""
    if not all(r.ok for r in outcome.invariants):
        verdict = "[red]INVARIANTS FAIL[/red]"
    elif outcome.summary.unexpected:
        verdict = (
            f"[red]all invariants hold, but {len(outcome.summary.unexpected)} patient(s) "
            "did not end as planned[/red]"
        )
    else:
        verdict = "[green]all invariants hold[/green]"
    console.print(f"{verdict} — {outcome.elapsed_s:.1f} s")
    if args.service_url and outcome.summary.refusals.get("proof_invalid"):
        from card.keystore import default_path

        console.print(
            f"[yellow]hint:[/yellow] the service refused {outcome.summary.refusals['proof_invalid']}"
            f" card proof(s): the cards were issued with the key store "
            f"{args.keystore or default_path()}; if the service at {args.service_url} uses "
            "another one, pass it with --keystore (the service's SSCARD_KEYSTORE)",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"report: {outcome.report_path}", soft_wrap=True, markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    if args.command == "payment-day":
        return payment_day(args, console)
    if not _arguments_usable(args, console):
        return EXIT_SETUP
    from card.keystore import KeyStoreError
    from hospital_sim.run import run
    from hospital_sim.service import ServiceStartError
    from rig.conf import RigError
    from terminal.client.http import ServiceError
    from terminal.readers.base import ReaderError

    provisioner = _provisioner(args, console)
    if provisioner is None:
        return EXIT_SETUP
    try:
        outcome = run(_options(args), console, provisioner=provisioner)
    except KeyStoreError as exc:
        console.print(f"[red]the issuer key store is not usable:[/red] {exc}", highlight=False)
        return EXIT_SETUP
    except ServiceStartError as exc:
        console.print(f"[red]the settlement service could not be started:[/red] {exc}")
        return EXIT_SETUP
    except ServiceError as exc:
        console.print(f"[red]the settlement service refused to set up the city:[/red] {exc}")
        return EXIT_SETUP
    except (RigError, ReaderError) as exc:
        console.print(f"[red]the PC/SC readers are not usable:[/red] {exc}", markup=True)
        return EXIT_SETUP
    except OSError as exc:
        # A disk filling up or a directory removed under us: say what, no traceback.
        console.print(
            f"[red]could not write the run's files:[/red] {exc}", highlight=False, soft_wrap=True
        )
        return EXIT_SETUP
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the service we started has been stopped[/yellow]")
        return 130
    _show_outcome(args, outcome, console)
    return EXIT_OK if outcome.ok else EXIT_INVARIANT


if __name__ == "__main__":
    sys.exit(main())
