"""One simulation run end to end: service, world, day, evidence, invariants, table, report."""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from rich.console import Console

from card.keystore import KeyStore, default_path
from hospital_sim import console as sim_console
from hospital_sim import report as sim_report
from hospital_sim.day import HospitalDay
from hospital_sim.evidence import gather
from hospital_sim.invariants import InvariantResult, check_all
from hospital_sim.ledger import Ledger, Summary, summarise
from hospital_sim.population import CST, Population, build_institutions, generate
from hospital_sim.service import ServiceHandle, start_in_process, start_service, use_service
from hospital_sim.slots import inprocess_slots, pcsc_slots
from hospital_sim.world import CardProvisioner, World, build_world, provision_cards
from terminal.client.http import ServiceError, ServiceRefused
from terminal.client.settlement import SettlementClient


@dataclass(frozen=True)
class Options:
    patients: int = 200
    desks: int = 4
    days: int = 1
    seed: int = 1
    readers: str = "inprocess"  # inprocess | pcsc
    database_url: str | None = None
    service_url: str | None = None
    api_key: str | None = None
    workdir: Path | None = None
    report: Path | None = None
    keystore: Path | None = None
    #: ``in-process`` (default): the service runs in a thread of this process;
    #: ``process``: a ``python -m settlement serve`` child. Ignored with ``service_url``.
    service_mode: str = "in-process"


@dataclass
class Outcome:
    summary: Summary
    invariants: list[InvariantResult]
    report_path: Path
    workdir: Path
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.invariants) and not self.summary.unexpected


def _workdir(options: Options) -> Path:
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        return options.workdir.resolve()
    return Path(tempfile.mkdtemp(prefix="sscard-hospital-day-")).resolve()


def last_close() -> datetime:
    """The simulated days end one minute ago: every visit's time is in the past, spread over
    the desks' opening hours before it (the service refuses times in the future). The
    service books each settlement on its own clock's day, which the invariants follow."""
    return datetime.now(CST).replace(second=0, microsecond=0) - timedelta(minutes=1)


def first_day(days: int) -> date:
    """The city date on which the first simulated day closes."""
    return (last_close() - timedelta(days=days - 1)).date()


def free_namespace(url: str, admin_key: str, first: int) -> int:
    """A namespace (1..999) no earlier run has used on the shared service at ``url``, trying
    ``first`` and on: one whose first hospital code the service does not know (a run
    registers its hospitals before anything else)."""
    with SettlementClient(url, admin_key) as admin:
        for step in range(999):
            namespace = 1 + (first - 1 + step) % 999
            hospitals, _, _ = build_institutions(1, random.Random(0), namespace)
            try:
                admin.institution(hospitals[0].code)
            except ServiceRefused as exc:
                if exc.status == 404:
                    return namespace
                raise
    raise ServiceError(f"all 999 run namespaces are taken on {url}: use a fresh service")


def run(
    options: Options,
    console: Console | None = None,
    *,
    provisioner: CardProvisioner = provision_cards,
) -> Outcome:
    """Run the simulation; never leaves a service we started running."""
    console = console or Console()
    started = time.monotonic()
    workdir = _workdir(options)
    if options.service_url:
        if not options.api_key:
            raise ValueError("--service-url needs --api-key (an admin API key of that service)")
        keystore_path = options.keystore or default_path()
    else:
        keystore_path = options.keystore or workdir / "keystore.json"
    keystore = KeyStore.load_or_create(keystore_path)
    database_url = options.database_url or f"sqlite:///{workdir / 'settlement.db'}"
    with console.status("starting the settlement service…"):
        if options.service_url:
            service = use_service(options.service_url, options.api_key or "")
        elif options.service_mode == "process":
            service = start_service(workdir, database_url, keystore_path)
        elif options.service_mode == "in-process":
            service = start_in_process(workdir, database_url, keystore_path)
        else:
            raise ValueError(f"unknown service mode {options.service_mode!r}")
    try:
        namespace = 0
        if options.service_url:
            namespace = free_namespace(service.url, service.admin_key, 1 + int(time.time()) % 999)
        population = generate(
            options.seed,
            options.patients,
            options.desks,
            first_day(options.days),
            options.days,
            namespace=namespace,
            closes_at=last_close(),
        )
        return _run_with_service(
            options, console, population, service, workdir, keystore, provisioner, started
        )
    finally:
        service.stop()


def _run_with_service(
    options: Options,
    console: Console,
    population: Population,
    service: ServiceHandle,
    workdir: Path,
    keystore: KeyStore,
    provisioner: CardProvisioner,
    started: float,
) -> Outcome:
    ledger = Ledger()
    progress = sim_console.progress_bar(console)
    world: World | None = None
    slots_to_close = []
    try:
        with progress:
            setup = progress.add_task(
                "city: people, coverage, cards", total=len(population.people), status=""
            )
            world = build_world(
                population,
                service.url,
                service.admin_key,
                workdir,
                keystore,
                provisioner=provisioner,
                progress=lambda n: progress.advance(setup, n),
            )
            desk_names = [d.code for d in population.desks]
            branch_names = [b.code for b in population.branches]
            if options.readers == "pcsc":
                slots = pcsc_slots(desk_names + branch_names, len(desk_names))
            else:
                slots = inprocess_slots(desk_names + branch_names)
            slots_to_close = list(slots.values())
            desk_slots = {name: slots[name] for name in desk_names}
            branch_slots = {name: slots[name] for name in branch_names}
            day_task = progress.add_task(
                "hospital day", total=len(population.stays), status="settled 0"
            )

            def done(_stay) -> None:
                progress.update(day_task, advance=1, status=f"settled {len(ledger.settlements)}")

            HospitalDay(world, desk_slots, branch_slots, ledger, on_stay_done=done).run()
        with console.status("checking invariants with the service…"):
            evidence = gather(world, ledger)
            invariants = check_all(evidence)
        summary = summarise(
            ledger, len(population.stays), {k.value: n for k, n in population.kinds().items()}
        )
        elapsed = time.monotonic() - started
        info = sim_report.RunInfo(
            seed=options.seed,
            first_day=population.day.isoformat(),
            days=options.days,
            patients=options.patients,
            desks=options.desks,
            readers=options.readers,
            service=service.url
            + (f" (started for this run, {service.mode})" if service.started else ""),
            database=_redact(service.database),
            elapsed_s=elapsed,
            hospitals=tuple((h.code, h.name, h.level, h.pin_service) for h in population.hospitals),
        )
        report_path = sim_report.write(
            options.report or workdir / "report.html", info, summary, invariants
        )
        console.print(sim_console.summary_table(summary, invariants))
        for line in summary.unexpected[:20]:
            console.print(f"[red]unexpected:[/red] {line}")
        for result in invariants:
            for failure in result.failures[:5]:
                console.print(f"[red]{result.name}:[/red] {failure}")
        return Outcome(summary, invariants, report_path.resolve(), workdir, elapsed)
    finally:
        for slot in slots_to_close:
            slot.close()
        if world is not None:
            world.close()


def _redact(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
