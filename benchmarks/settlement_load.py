"""Load benchmark of the settlement service (issue 5): complete inpatient cycles on SQLite.

Starts a real ``python -m settlement serve`` (uvicorn) on a fresh SQLite file,
provisions a hospital, terminals, insured people and cards through the API, then
drives complete cycles at a fixed concurrency, each with valid card proofs:

    challenge (admission) → 2401 admission → 2301 fees (20 lines)
    → challenge (discharge) → 2304 discharge settlement

and in the same run measures the trivial baseline endpoint ``POST /v1/probe``
(one durable SQLite insert per request) at the same concurrency. Afterwards the
daily reconciliation report and the ledger check must balance to the fen, and
their totals must equal what the clients were told.

The load generator uses plain keep-alive HTTP/1.1 connections on sockets (one
per worker thread, a minimal client) so that it costs as little CPU as possible:
on a 2-core machine it shares the cores with the server. The last line printed is one JSON object
with ``settlements_per_s``, ``p50_ms``, ``p99_ms`` (of the discharge call),
``baseline_writes_per_s``, ``ratio_to_baseline`` and more.

    .venv/bin/python benchmarks/settlement_load.py [--quick] [--duration 20] [--concurrency 16] [--workers 2]
        [--database postgresql] [--history 500000]

``--database postgresql`` (issue #19) also starts a private PostgreSQL server
(``benchmarks/_pg.py``, PostgreSQL's durable defaults) and measures 1, 2 and 4
service processes on it, after SQLite, in the same run. ``--history N`` then pits, per
database, an empty one against one with N settled stays of the past year (``history.py``;
``--history-cache DIR``: a copy of an earlier load), two services side by side, the same
cycles in alternating rounds (:mod:`benchmarks._rounds`). The JSON line carries the first
(SQLite, empty) run's figures, every run under ``runs``, each side's figures under
``history`` and ``history_to_empty`` (the ratio of settlements/s over all rounds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CATALOGUE = REPO / "settlement" / "data" / "catalogue-sample.csv"
sys.path.insert(0, str(REPO))

from benchmarks._history_cache import Loaded, postgres_history, sqlite_history
from benchmarks._http import Http
from benchmarks._pg import PostgresServer, free_port
from benchmarks._rounds import (
    Side,
    Work,
    alternate,
    percentile,
    ratios,
    run_workers,
    warm_up,
)
from benchmarks.history import load as load_history
from benchmarks.history import measure as measure_history
from card.crypto import Algorithm, encrypt_ecb
from card.keystore import KEY_TRANSACTION, KeyStore

REGION = "430100"


def must(result, status: int, what: str):
    code, body = result
    if code != status:
        raise RuntimeError(f"{what}: HTTP {code} {body}")
    return body


class Card:
    def __init__(self, keystore: KeyStore, psn_no: str) -> None:
        self.card_no = "X" + secrets.token_hex(4).upper()
        self.factor = secrets.token_bytes(8)
        self.psn_no = psn_no
        self.key = keystore.card_key(Algorithm.TDES, KEY_TRANSACTION, REGION, self.factor)

    def cryptogram(self, nonce_hex: str) -> str:
        return encrypt_ecb(Algorithm.TDES, self.key, bytes.fromhex(nonce_hex)).hex()


def start_server(
    workdir: Path, workers: int, db: str | None = None
) -> tuple[subprocess.Popen, int, str, Path]:
    """Migrate ``db`` (default: a fresh SQLite file in ``workdir``), load the sample catalogue,
    make an admin key and start ``settlement serve`` with ``workers`` processes on it."""
    db = db or f"sqlite:///{workdir / 'settlement.db'}"
    keystore_path = workdir / "keystore.json"
    if not keystore_path.exists():  # a loaded history brings the key store it was made with
        KeyStore.generate().save(keystore_path)
    env = dict(
        os.environ,
        SSCARD_HOME=str(workdir),
        SSCARD_DATABASE_URL=db,
        SSCARD_KEYSTORE=str(keystore_path),
        PYTHONPATH=str(REPO),
    )
    run = [sys.executable, "-m", "settlement"]
    subprocess.run(
        [*run, "migrate", "--database-url", db], env=env, check=True, capture_output=True
    )
    subprocess.run(  # the shipped sample catalogue: every fee line is classed from it
        [*run, "catalogue", "import", str(SAMPLE_CATALOGUE), "--database-url", db],
        env=env,
        check=True,
        capture_output=True,
    )
    admin = subprocess.run(
        [*run, "bootstrap-admin", "--database-url", db],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    log = open(workdir / "service.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [
            *run,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--database-url",
            db,
            "--no-migrate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120  # 4 workers on a loaded 2-core machine took > 30 s
    while time.monotonic() < deadline:
        try:
            status, _ = Http(port, admin).call("GET", "/v1/health", idempotent=False)
            if status == 200:
                return process, port, admin, keystore_path
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the settlement service did not start; see " + str(workdir / "service.log"))


def provision(port: int, admin: str, keystore: KeyStore, terminals: int, people: int):
    """A card centre, a level-3 hospital with ``terminals`` terminals, ``people`` insured cards.

    Returns the hospital terminals' API keys and the cards.
    """
    root = Http(port, admin)
    cc_key = add_institution(root, "BENCHCC", {"name": "card centre", "kind": "card_centre"}, 1)[0]
    hospital = {"name": "hospital", "kind": "hospital", "hospital_level": 3}
    keys = add_institution(root, "BENCHH", hospital, terminals)
    cc = Http(port, cc_key)
    return keys, [add_insured_card(cc, root, keystore, f"BP{i:08d}", i) for i in range(people)]


def add_institution(root: Http, code: str, fields: dict, terminals: int) -> list[str]:
    """Register institution ``code`` and ``terminals`` terminals of it; their API keys."""
    must(root.call("POST", "/v1/institutions", {"code": code, **fields}), 201, code)
    return [
        must(
            root.call("POST", f"/v1/institutions/{code}/terminals", {"terminal_id": f"{code}-{i}"}),
            201,
            f"{code} terminal",
        )["api_key"]
        for i in range(terminals)
    ]


def add_insured_card(cc: Http, root: Http, keystore: KeyStore, psn_no: str, i: int) -> Card:
    """A person with employee coverage (310) and an active 3DES card, through the card centre;
    the paid coverage period through the admin's migration (``root``, docs/api.md)."""
    person = {
        "psn_no": psn_no,
        "psn_name": "bench",
        "brdy": "1980-01-01",
        "certno": f"4301021980010{i:05d}",
        "acct_balance": 10_000_000,
    }
    must(cc.call("POST", "/v1/people", person), 201, "person")
    coverage = {"psn_no": psn_no, "insutype": "310", "begndate": "2020-01-01", "reason": "bench"}
    must(root.call("POST", "/v1/admin/coverage-migrations", coverage), 201, "coverage")
    card = Card(keystore, psn_no)
    record = {
        "card_no": card.card_no,
        "card_id_code": REGION + "D156000005" + card.factor.hex(),
        "algorithm": "3des",
        "region": REGION,
        "expiry": "2036-01-01",
        "bank_code": "102",
        "psn_no": psn_no,
        "status": "active",
    }
    must(cc.call("POST", "/v1/cards", record), 201, "card")
    return card


def cycle(http: Http, card: Card, fee_lines: bytes) -> tuple[float, dict]:
    """One complete stay; returns (discharge latency in s, the settlement)."""
    ch = must(
        http.call("POST", "/v1/challenges", {"card_no": card.card_no, "purpose": "admission"}),
        201,
        "challenge",
    )
    adm = must(
        http.call(
            "POST",
            "/v1/admissions",
            {
                "psn_no": card.psn_no,
                "insutype": "310",
                "proof": {
                    "card_no": card.card_no,
                    "challenge_id": ch["challenge_id"],
                    "cryptogram": card.cryptogram(ch["nonce"]),
                },
            },
        ),
        201,
        "admission",
    )
    mdtrt_id = adm["mdtrt_id"]
    must(http.call("POST", f"/v1/admissions/{mdtrt_id}/fees", fee_lines), 200, "fees")
    ch = must(
        http.call("POST", "/v1/challenges", {"card_no": card.card_no, "purpose": "discharge"}),
        201,
        "challenge",
    )
    started = time.perf_counter()
    setl = must(
        http.call(
            "POST",
            f"/v1/admissions/{mdtrt_id}/settlement",
            {
                "acct_used_flag": True,
                "proof": {
                    "card_no": card.card_no,
                    "challenge_id": ch["challenge_id"],
                    "cryptogram": card.cryptogram(ch["nonce"]),
                },
            },
        ),
        201,
        "settlement",
    )
    return time.perf_counter() - started, setl


def fee_lines() -> list[dict]:
    """20 lines of items of the sample catalogue (甲, 乙 and 丙, some over their price ceiling),
    every fourth with a fractional quantity and a sub-fen unit price; the catalogue classes
    each one (a catalogue lookup on every line)."""
    codes = sample_codes()
    lines = []
    for n in range(20):
        line = {"feedetl_sn": f"{n:03d}", "med_list_codg": codes[(7 * n) % len(codes)]}
        if n % 4 == 3:
            line.update(cnt_decimal=f"{n % 3}.{2500 + n:04d}", pric_yuan=f"{10 + n}.123456")
        else:
            line.update(cnt=1 + n % 3, pric=1000 + 137 * n)
        lines.append(line)
    return lines


def sample_codes() -> list[str]:
    """The item codes of the sample catalogue, in file order."""
    rows = SAMPLE_CATALOGUE.read_text(encoding="utf-8").splitlines()[1:]
    return [row.split(",", 1)[0] for row in rows if row.strip()]


def cycles_of(port: int, keys: list[str], cards: list[Card], concurrency: int) -> Work:
    """``one(worker, n)``: the worker's ``n``-th complete cycle, on its own keep-alive connection
    with its terminal's key and its share of the cards, the same 20 fee lines every stay."""
    lines = json.dumps({"feedetail": fee_lines()}).encode()
    clients = [Http(port, keys[i]) for i in range(concurrency)]

    def one(i: int, n: int) -> tuple[float, dict]:
        mine = cards[i::concurrency]
        return cycle(clients[i], mine[n % len(mine)], lines)

    return one


def run_baseline(port: int, keys: list[str], concurrency: int, duration: float) -> float:
    count = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker(i: int) -> None:
        http = Http(port, keys[i])
        done = 0
        while time.perf_counter() < stop_at:
            must(http.call("POST", "/v1/probe", idempotent=False), 201, "probe")
            done += 1
        with lock:
            count[0] += done

    elapsed = run_workers(worker, concurrency)  # before count[0] is read
    return count[0] / elapsed


TOTALS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")


@dataclass
class Run:
    """What one measurement saw: the baseline rate, then the cycles and the CPU they took."""

    baseline: float
    elapsed: float
    latencies: list[float]
    settled: list[dict]
    errors: list[str]
    server_cpu: float | None
    client_cpu: float
    database_cpu: float | None = None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the test suite")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of cycles (and of baseline)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="uvicorn worker processes (default: 2, one per core of the target machine)",
    )
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: also start a private PostgreSQL (durable settings) and measure 1, 2 "
        "and 4 service processes on it, beside SQLite in the same run",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="also measure an empty database against one loaded with this many settled stays "
        "of the past year (benchmarks/history.py), side by side in alternating rounds",
    )
    parser.add_argument("--rounds", type=int, default=6, help="--history: rounds of each side")
    parser.add_argument("--round-seconds", type=float, default=5.0, help="--history: per round")
    parser.add_argument(
        "--history-cache",
        type=Path,
        help="--history: keep the loaded database in this directory and run on a copy of it "
        "next time (benchmarks/_history_cache.py)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.concurrency, args.people = 1.0, 4, 8
        args.rounds, args.round_seconds = 2, 0.5
        args.history = min(args.history, 200)
    return args


def measure(
    process: subprocess.Popen, port: int, admin: str, keystore: KeyStore, args, db_pid=None
) -> Run:
    """Provision, warm up, measure the baseline, then the cycles with the server's CPU time
    (and PostgreSQL's, given its postmaster's pid)."""
    keys, cards = provision(port, admin, keystore, args.concurrency, args.people)
    run_baseline(port, keys, args.concurrency, min(1.0, args.duration / 4))  # warm-up
    baseline = run_baseline(port, keys, args.concurrency, args.duration / 2)
    pids = {"server": process.pid} | ({"database": db_pid} if db_pid else {})
    cycles = Side("cycles", cycles_of(port, keys, cards, args.concurrency), pids)
    client_cpu = time.process_time()
    cycles.run(args.concurrency, args.duration)
    return Run(
        baseline=baseline,
        elapsed=cycles.elapsed,
        latencies=cycles.latencies,
        settled=cycles.settled,
        errors=cycles.errors,
        server_cpu=cycles.cpu["server"],
        client_cpu=time.process_time() - client_cpu,
        database_cpu=cycles.cpu.get("database"),
    )


def reconciles(workdir: Path, keystore_path: Path, settled: list[dict], db: str) -> bool:
    """The day's report and the ledger of the day's people balance and match what the clients
    were told (``--day-ledger``: on a loaded history the whole ledger is not the point)."""
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        SSCARD_HOME=str(workdir),
        SSCARD_KEYSTORE=str(keystore_path),
    )
    day = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    report = subprocess.run(
        [
            *(sys.executable, "-m", "settlement", "report", "--json", "--day-ledger"),
            *("--date", day, "--institution", "BENCHH", "--database-url", db),
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    data = json.loads(report.stdout)
    return (
        report.returncode == 0
        and data["balanced"]
        and data["ledger"]["ok"]
        and data["settlements"]["count"] == len(settled)
        and all(data["settlements"][k] == sum(s[k] for s in settled) for k in TOTALS)
    )


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def summary(run: Run, reconciled: bool, args: argparse.Namespace) -> dict:
    """The benchmark's JSON line."""
    settled = len(run.settled)
    rate = settled / run.elapsed if run.elapsed else 0.0
    return {
        "settlements_per_s": round(rate, 1),
        "p50_ms": round(percentile(run.latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(run.latencies, 99) * 1000, 2),
        "baseline_writes_per_s": round(run.baseline, 1),
        "ratio_to_baseline": round(rate / run.baseline, 4) if run.baseline else None,
        "requests_per_cycle": 5,
        "settlements": settled,
        "errors": len(run.errors),
        "first_errors": run.errors[:3],
        "reconciled": reconciled,
        "medfee_sumamt_total": sum(s["medfee_sumamt"] for s in run.settled),
        # CPU per complete settlement during the cycles (the generator shares the cores).
        "server_cpu_ms_per_settlement": round(run.server_cpu * 1000 / settled, 2)
        if run.server_cpu is not None and settled
        else None,
        "client_cpu_ms_per_settlement": round(run.client_cpu * 1000 / settled, 2)
        if settled
        else None,
        # PostgreSQL's own CPU per complete settlement (None on SQLite: inside the server's)
        "database_cpu_ms_per_settlement": round(run.database_cpu * 1000 / settled, 2)
        if run.database_cpu is not None and settled
        else None,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "duration_s": round(run.elapsed, 2),
        "cpus": os.cpu_count(),
        "targets": {"settlements_per_s": 200, "p99_ms": 100},
    }


def one_run(workdir: Path, db: str | None, workers: int, args, db_pid=None) -> dict:
    """Start the service on ``db`` with ``workers`` processes, measure, check, stop: its
    summary (with PostgreSQL's CPU too, given its postmaster's pid)."""
    workdir.mkdir(parents=True, exist_ok=True)
    process, port, admin, keystore_path = start_server(workdir, workers, db)
    try:
        run = measure(process, port, admin, KeyStore.load(keystore_path), args, db_pid)
        db = db or f"sqlite:///{workdir / 'settlement.db'}"
        reconciled = reconciles(workdir, keystore_path, run.settled, db)
    finally:
        stop_server(process)
    return {**summary(run, reconciled, args), "workers": workers}


def plan(args) -> list[tuple[str, int]]:
    """The runs on an empty database, one after the other: (database, service processes)."""
    runs = [("sqlite", args.workers)]
    if args.database == "postgresql":  # --quick: 2 processes only (the suite's short form)
        runs += [("postgresql", n) for n in ((args.workers,) if args.quick else (1, 2, 4))]
    return runs


def history_plan(args) -> list[str]:
    """The databases measured empty against loaded (``--history``), each in alternating rounds
    (``--quick --database postgresql``: PostgreSQL only, the suite's short form)."""
    both = ["postgresql"] if args.quick else ["sqlite", "postgresql"]
    return [] if not args.history else both if args.database == "postgresql" else ["sqlite"]


def run_all(args, tmp: Path) -> list[dict]:
    """Every run of :func:`plan`, each on a fresh database (PostgreSQL: one server, a database
    per run)."""
    results = []
    with contextlib.ExitStack() as stack:
        server = None
        for n, (database, workers) in enumerate(plan(args)):
            db, db_pid = None, None
            if database == "postgresql":
                server = server or stack.enter_context(PostgresServer(durable=True))
                db = server.create_database(f"bench_{n}")
                db_pid = server.postmaster_pid()
            result = one_run(tmp / f"run{n}", db, workers, args, db_pid)
            results.append({"database": database, **result})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def history_pair(database: str, args, tmp: Path) -> dict:
    """An empty database against one with ``--history`` stays, side by side (issue #19).

    SQLite: two files. PostgreSQL: two databases in ONE server (the loaded cluster, from the
    cache or loaded now, with an empty database created beside it): the same settings, shared
    buffers, WAL and checkpoints for both sides, so the history in the tables is the only
    difference; the server's CPU during a side's rounds is that side's (the other is idle).
    """
    size = (tmp / f"{database}-history", args.history, args.history, load_history)
    if database == "sqlite":
        loaded = sqlite_history(args.history_cache, *size)
        return compare(args, tmp / "sqlite-empty", loaded, None, None)
    with postgres_history(args.history_cache, *size, durable=True) as pg:
        (server, loaded), empty_dir = pg, tmp / "postgresql-empty"
        empty = server.create_database("empty")
        return compare(args, empty_dir, loaded, empty, server.postmaster_pid())


def compare(args, empty_dir: Path, loaded: Loaded, empty_db: str | None, db_pid: int | None):
    """Start a service on each database (``args.workers`` processes each), provision both,
    run the same cycles with the same clients on each in alternating rounds
    (:func:`benchmarks._rounds.alternate`), check that each side reconciles; the figures."""
    empty_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(loaded.keystore, empty_dir / "keystore.json")
    empty_db = empty_db or f"sqlite:///{empty_dir / 'settlement.db'}"
    sides = []
    with contextlib.ExitStack() as stack:
        for name, workdir, db in (
            ("empty", empty_dir, empty_db),
            ("history", loaded.keystore.parent, loaded.url),
        ):
            process, port, admin, keystore_path = start_server(workdir, args.workers, db)
            stack.callback(stop_server, process)
            keys, cards = provision(
                port, admin, KeyStore.load(keystore_path), args.concurrency, args.people
            )
            pids = {"server": process.pid} | ({"database": db_pid} if db_pid else {})
            one = cycles_of(port, keys, cards, args.concurrency)
            sides.append((Side(name, one, pids), workdir, db))
        measured = [side for side, *_ in sides]
        warm_up(measured, args.concurrency, min(1.0, args.round_seconds / 2))
        alternate(measured, args.concurrency, args.rounds, args.round_seconds)
        out: dict = {}
        for side, workdir, db in sides:
            done = reconciles(workdir, workdir / "keystore.json", side.every_result, db)
            out[side.name] = {**side.figures(), "reconciled": done}
    ratio = ratios(measured[1], measured[0])  # history ÷ empty
    out["history_to_empty"], out["server_cpu_history_to_empty"] = ratio["rate"], ratio["server"]
    out["database_cpu_history_to_empty"] = ratio.get("database")  # PostgreSQL's server
    out["loaded"] = {**loaded.facts, **measure_history(loaded.url, whole_ledger=False)}
    out.update(rounds=args.rounds, round_s=args.round_seconds, workers=args.workers)
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sscard-bench-") as tmp:
        if args.database == "sqlite" and not args.history:
            results = [one_run(Path(tmp), None, args.workers, args)]
            print(json.dumps(results[0]))
            pairs = {}
        else:  # the first (SQLite, empty) run's figures on top, every run in "runs"
            results = run_all(args, Path(tmp))
            pairs = {
                database: history_pair(database, args, Path(tmp)) for database in history_plan(args)
            }
            ratio = {database: pair["history_to_empty"] for database, pair in pairs.items()}
            line = {**results[0], "runs": results, "history": pairs, "history_to_empty": ratio}
            print(json.dumps(line))
    sides = [pair[name] for pair in pairs.values() for name in ("empty", "history")]
    ok = all(r["reconciled"] and not r["errors"] for r in results + sides)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
