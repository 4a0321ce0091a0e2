"""A PostgreSQL primary that fails under load; the service goes on on the promoted standby (#19).

The scenario of docs/deploy.md §High availability: a primary with a synchronous streaming standby
(benchmarks/_replica.py, Debian's PostgreSQL binaries), two ``settlement serve`` processes given
both servers in one libpq multi-host URL with ``target_session_attrs=read-write``, and terminals
settling complete stays through a round-robin client (benchmarks/_services.py) that retries a
503 after its ``Retry-After`` with the same Idempotency-Key. A probe (``POST /v1/probe``, one
durable write, every 50 ms) watches the service. Then the primary is stopped
(``pg_ctl stop -m immediate``), the standby is promoted ``--promote-after`` seconds later
(``pg_ctl promote``; the time a failure detector or an operator takes), and the load goes on.

Measured: the seconds without service (from the primary's stop until the probe's first write
on the promoted standby) and what the clients saw meanwhile. Checked: every acknowledged
settlement is on the promoted standby as the client was told it, none doubled, none stored that
no client was told of; no 500; every 503 is problem+json ``busy`` with ``Retry-After``; the
day's report and the ledger check balance on the new primary. One JSON line; exit status 0 when
every check holds.

    .venv/bin/python benchmarks/failover.py [--quick] [--before 10] [--after 10] [--promote-after 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._replica import SUPERUSER, Replicated
from benchmarks._services import (
    RoundRobin,
    Stats,
    Terminals,
    add_deployment_arguments,
    check_processes,
    check_stored,
    deployment,
    reconciled,
    stored_settlements,
)

PROBE_EVERY_S = 0.05


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_deployment_arguments(parser)
    parser.add_argument("--before", type=float, default=10.0, help="seconds of load before")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after")
    parser.add_argument(
        "--promote-after",
        type=float,
        default=1.0,
        help="seconds from the primary's stop to the standby's promotion (failure detection)",
    )
    args = parser.parse_args(argv)
    check_processes(parser, args)
    if args.quick:
        args.before, args.after, args.concurrency, args.people = 2.0, 3.0, 4, 8
    return args


class Probe:
    """``POST /v1/probe`` every 50 ms, one attempt each: (monotonic time, status or None)."""

    def __init__(self, ports: list[int], api_key: str) -> None:
        self.client = RoundRobin(ports, api_key, Stats())
        self.samples: list[tuple[float, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.wait(PROBE_EVERY_S):
            answer = self.client.once("POST", "/v1/probe", None, None)
            self.samples.append((time.monotonic(), answer.status if answer else None))

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def outage(self, since: float) -> dict:
        """From ``since`` (the primary's stop): the first failed probe and the first write after."""
        after = [(t, status) for t, status in self.samples if t >= since]
        failed = next((t for t, status in after if status != 201), None)
        back = next((t for t, status in after if failed is not None and t > failed and status == 201), None)  # fmt: skip
        return {
            "seconds_without_service": round(back - since, 2) if back is not None else None,
            "first_failure_after_stop_s": round(failed - since, 3) if failed is not None else None,
            "probes": len(self.samples),
            "probe_statuses": _count(status for _t, status in self.samples),
        }


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items()))


def switch(pair: Replicated, promote_after: float) -> dict:
    """Stop the primary (immediate), wait, promote the standby; when and how long."""
    stopped_at = time.monotonic()
    stop_s = pair.stop_primary()
    time.sleep(promote_after)
    promote_s = pair.promote()
    return {"stopped_at": stopped_at, "stop_s": stop_s, "promote_s": promote_s}


def scenario(pair: Replicated, workdir: Path, args) -> dict:
    pair.create_database("failover")
    url = pair.url("failover")
    with deployment(workdir, url, args.processes, args.concurrency, args.people) as setup:
        stats = Stats()
        terminals = Terminals(setup.ports, setup.keys, setup.cards, stats).start()
        probe = Probe(setup.ports, setup.admin).start()
        time.sleep(args.before)
        timing = switch(pair, args.promote_after)
        time.sleep(args.after)
        terminals.stop()
        probe.stop()
        new_primary = f"postgresql://{SUPERUSER}@127.0.0.1:{pair.standby.port}/failover"
        checked = check_stored(terminals.settled, stored_settlements(new_primary))
        balanced = reconciled(setup.env)
    outage = probe.outage(timing["stopped_at"])
    outage["tracebacks_in_logs"] = setup.tracebacks()
    return summary(args, terminals, stats, checked, outage, timing, balanced)


def summary(args, terminals, stats, checked, outage, timing, balanced) -> dict:
    unavailable = {k: v for k, v in stats.refusals.items() if k.startswith("503")}
    holds = (
        not terminals.errors
        and checked["missing"] == checked["differing"] == checked["doubled"] == 0
        and checked["stored_not_acknowledged"] == 0
        and checked["acknowledged"] > 0
        and not any(status >= 500 and status != 503 for status in stats.statuses)
        and set(unavailable) <= {"503 busy"}
        and stats.retry_after_missing == stats.not_problem_json == 0
        and outage["seconds_without_service"] is not None
        and outage["tracebacks_in_logs"] == 0
        and balanced
    )
    return {
        "holds": holds,
        "seconds_without_service": outage["seconds_without_service"],
        "promote_after_s": args.promote_after,
        "stop_s": round(timing["stop_s"], 3),
        "promote_s": round(timing["promote_s"], 3),
        **checked,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "refusals": dict(sorted(stats.refusals.items())),
        "retry_after_missing": stats.retry_after_missing,
        "not_problem_json": stats.not_problem_json,
        "client_retries": stats.retries,
        "replayed_answers": stats.replays,
        "errors": len(terminals.errors),
        "first_errors": terminals.errors[:3],
        **{k: v for k, v in outage.items() if k != "seconds_without_service"},
        "reconciled": balanced,
        "processes": args.processes,
        "concurrency": args.concurrency,
        "load_s": args.before + args.promote_after + args.after,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sscard-failover-") as tmp, Replicated() as pair:
        result = scenario(pair, Path(tmp), args)
    print(json.dumps(result))
    return 0 if result["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
