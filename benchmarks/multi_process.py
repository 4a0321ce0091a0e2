"""Two (``--processes N``) ``settlement serve`` processes on one PostgreSQL, killed at random (#19).

The scenario of docs/deploy.md §One city: a private PostgreSQL server (benchmarks/_pg.py), two
service processes (``python -m settlement serve --workers 1``, one port each) sharing the database
and the key store, and terminals that talk to them through a plain round-robin client
(benchmarks/_services.py) which retries an unanswered request or a 503 on the other process with
the same Idempotency-Key. While the terminals run complete stays (challenge, admission, 20 fee
lines, challenge, settlement), one process at a time is ``kill -9``-ed at a random moment and
started again on its port a little later. Then:

- every acknowledged settlement is in the database as the client was told it, none is doubled
  (one settlement per admission), none is stored that no client was told of;
- the idempotency guarantees hold across the processes: a settlement whose first request is still
  running in one process (held up by a table lock the script takes) is refused on the other with
  ``409 idempotency_in_progress``; once it finished, the other answers with the same settlement
  (``Idempotent-Replay: true``);
- the day's report and the ledger check balance.

Prints one JSON line; exit status 0 when every check holds.

    .venv/bin/python benchmarks/multi_process.py [--quick] [--duration 30] [--concurrency 6]
        [--processes 2] [--kill-every 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg

from benchmarks._pg import PostgresServer, database_name
from benchmarks._services import (
    RoundRobin,
    ServiceProcess,
    Stats,
    Terminals,
    add_deployment_arguments,
    admit_with_fees,
    check_processes,
    check_stored,
    deployment,
    proof,
    reconciled,
    stored_settlements,
)
from benchmarks.settlement_load import fee_lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_deployment_arguments(parser)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument(
        "--kill-every", type=float, default=3.0, help="mean seconds between two kills"
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    check_processes(parser, args)
    if args.quick:
        args.duration, args.concurrency, args.people, args.kill_every = 4.0, 4, 8, 1.5
    return args


def killer(services: list[ServiceProcess], mean_s: float, stop: threading.Event, log: list):
    """Until ``stop``: wait a random time, ``kill -9`` a random process, start it again."""
    rng = random.Random()
    while not stop.wait(rng.uniform(0.3, 2 * mean_s - 0.3)):
        victim = rng.choice(services)
        victim.kill()
        down_at = time.monotonic()
        stop.wait(rng.uniform(0.1, 1.0))
        try:
            restart_s = victim.start()
        except RuntimeError as error:  # reported: the scenario then fails
            log.append({"service": victim.name, "error": str(error)})
            return
        log.append(
            {"service": victim.name, "down_s": round(time.monotonic() - down_at, 2),
             "restart_s": round(restart_s, 2)}
        )  # fmt: skip


def run_load(ports, keys, cards, args, services) -> tuple[list[dict], list[str], Stats, list]:
    """Terminals settle stays for ``args.duration`` s while the killer runs; what they saw."""
    stats, kills = Stats(), []
    terminals = Terminals(ports, keys, cards, stats).start()
    stop = threading.Event()
    chaos = threading.Thread(target=killer, args=(services, args.kill_every, stop, kills))
    chaos.start()
    time.sleep(args.duration)
    terminals.stop()
    stop.set()
    chaos.join()
    return terminals.settled, terminals.errors, stats, kills


def idempotency_across(ports: list[int], api_key: str, card, dsn: str) -> dict:
    """The first request of a key still running on process A: process B answers 409; after it
    finished, B replays A's answer (module docstring)."""
    stats = Stats()
    first, second = RoundRobin(ports[:1], api_key, stats), RoundRobin(ports[1:2], api_key, stats)
    mdtrt_id = admit_with_fees(first, card, fee_lines()[:3])
    path = f"/v1/admissions/{mdtrt_id}/settlement"
    body = {"acct_used_flag": True, "proof": proof(first, card, "discharge")}
    idem = first.new_key()
    answers: dict[str, object] = {}
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE settlement IN SHARE ROW EXCLUSIVE MODE")
        running = threading.Thread(
            target=lambda: answers.update(a=first.once("POST", path, body, idem))
        )
        running.start()
        waiting = _wait_for_lock_waiter(dsn)
        during = second.once("POST", path, body, idem)
        blocker.rollback()  # A's settlement goes on
    running.join(timeout=60)
    after = second.once("POST", path, body, idem)
    a = answers.get("a")
    return {
        "a_was_running": waiting,
        "b_during_status": during.status if during else None,
        "b_during_code": (during.body or {}).get("code") if during else None,
        "a_status": a.status if a else None,
        "b_after_status": after.status if after else None,
        "b_after_replay": bool(after) and after.headers.get("idempotent-replay") == "true",
        "same_settlement": bool(a and after) and after.body == a.body,
        "settlement": a.body if a and a.status == 201 else None,
    }


def _wait_for_lock_waiter(dsn: str, timeout: float = 20) -> bool:
    """True once a backend waits for a lock on the settlement table (A's insert)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
                " AND relation = 'settlement'::regclass"
            ).fetchone()
            if row[0]:
                return True
            time.sleep(0.05)
    return False


def scenario(server: PostgresServer, workdir: Path, args) -> dict:
    url = server.create_database("multi")
    dsn = server.dsn(database_name(url))
    with deployment(workdir, url, args.processes, args.concurrency + 1, args.people) as setup:
        ports, keys, cards = setup.ports, setup.keys, setup.cards
        across = idempotency_across(ports, keys[-1], cards[-1], dsn)
        began = time.monotonic()
        load = run_load(ports, keys[:-1], cards[:-1], args, setup.services)
        settled, errors, stats, kills = load
        elapsed = time.monotonic() - began
        if across["settlement"] is not None:
            settled.append(across["settlement"])
        checked = check_stored(settled, stored_settlements(dsn))
        balanced = reconciled(setup.env)
    checked["tracebacks_in_logs"] = setup.tracebacks()
    return summary(args, elapsed, settled, errors, stats, kills, checked, across, balanced)


def summary(args, elapsed, settled, errors, stats, kills, checked, across, balanced) -> dict:
    holds = (
        not errors
        and checked["missing"] == checked["differing"] == checked["doubled"] == 0
        and checked["stored_not_acknowledged"] == 0
        and stats.statuses.get(500, 0) == 0
        and stats.retry_after_missing == stats.not_problem_json == 0
        and checked["tracebacks_in_logs"] == 0
        and across["a_was_running"]
        and across["b_during_status"] == 409
        and across["b_during_code"] == "idempotency_in_progress"
        and across["b_after_status"] == across["a_status"] == 201
        and across["b_after_replay"]
        and across["same_settlement"]
        and balanced
        and not any("error" in k for k in kills)
    )
    return {
        "holds": holds,
        "settlements_per_s": round(len(settled) / elapsed, 1) if elapsed else 0.0,
        "kills": len(kills),
        "restart_s_max": max((k.get("restart_s", -1) for k in kills), default=None),
        "restart_failures": sum("error" in k for k in kills),
        **checked,
        "client_retries": stats.retries,
        "replayed_answers": stats.replays,
        "connection_failures": stats.connection_failures,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "refusals": dict(sorted(stats.refusals.items())),
        "not_problem_json": stats.not_problem_json,
        "errors": len(errors),
        "first_errors": errors[:3],
        "idempotency_across_processes": {k: v for k, v in across.items() if k != "settlement"},
        "reconciled": balanced,
        "processes": args.processes,
        "concurrency": args.concurrency,
        "duration_s": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seed is not None:
        random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="sscard-multi-") as tmp, PostgresServer() as server:
        result = scenario(server, Path(tmp), args)
    print(json.dumps(result))
    return 0 if result["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
