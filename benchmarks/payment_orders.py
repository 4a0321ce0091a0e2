"""Contribution payments per second through the payment-channel API (issue 20).

The city's busiest online payment day had 35 000 payments; the target is that such a day is
under 10 minutes of load on 2 cores (>= 59 payments a second). Starts a real
``python -m settlement serve`` on a fresh SQLite file (``benchmarks/settlement_load.py``'s
server and minimal HTTP client), a card centre and a ``payment_channel``, and ``--people``
people with enrolment records (entered by the admin as migrated records three days ago, so
they are payable). The server's business date is the payment day of the simulation, 15 June
before the current insurance year (``SSCARD_TODAY``, hospital_sim.payments.payment_day_of),
so everyone pays the coming year inside its June window, as on the city's peak day.
Then ``--concurrency`` workers pay, each payment being what a channel does:

    POST /v1/payment-orders → POST /v1/payment-orders/{order_no}/confirmation   (2 requests)

until ``--duration`` seconds or the people run out. Afterwards it checks that every payment
is final: a repeated order id answers the same order, a repeated callback the same
confirmation, a new order for a paid person-year is refused ``already_paid``, and the
channel's reconciliation of the day balances against the benchmark's own count and sum.

The last line printed is one JSON object: ``payments_per_s``, ``p50_ms``, ``p99_ms`` (one
payment, both requests), ``minutes_for_35000``, ``server_cpu_ms_per_payment``,
``reconciled``, ``errors``.

    .venv/bin/python benchmarks/payment_orders.py [--quick] [--duration 20] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._rounds import cpu_seconds, percentile, run_workers
from benchmarks.settlement_load import (
    Http,
    add_institution,
    must,
    start_server,
    stop_server,
)
from hospital_sim.payments import enrolment_dates, payment_day_of

CST = timezone(timedelta(hours=8))
CHANNEL = "BENCHPAY"
PEAK_DAY = 35_000


def provision(port: int, admin: str, people: int, today: date) -> tuple[str, list[str], int]:
    """The channel's key, the people's psn_no and the year they pay."""
    root = Http(port, admin)
    cc_key = add_institution(root, "BENCHCC", {"name": "card centre", "kind": "card_centre"}, 1)[0]
    channel_key = add_institution(
        root, CHANNEL, {"name": "online channel", "kind": "payment_channel"}, 1
    )[0]
    cc = Http(port, cc_key)
    entered, applied, year = enrolment_dates(today)
    psn_nos = []
    for i in range(people):
        psn_no = f"PP{i:08d}"
        person = {"psn_no": psn_no, "psn_name": "王五", "brdy": "1985-03-02", "certno": psn_no}
        must(cc.call("POST", "/v1/people", person), 201, "person")
        record = {
            "psn_no": psn_no,
            "applied_on": applied.isoformat(),
            "entered_on": entered.isoformat(),
        }
        must(root.call("POST", "/v1/enrolments", record), 201, "enrolment")
        psn_nos.append(psn_no)
    return channel_key, psn_nos, year


class Payments:
    """What the workers did: latencies, the confirmed orders, errors."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.confirmed: list[dict] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()


def pay_all(port: int, key: str, psn_nos: list[str], year: int, args) -> tuple[Payments, float]:
    done = Payments()
    deadline = time.perf_counter() + args.duration

    def worker(w: int) -> None:
        http = Http(port, key)
        for psn_no in psn_nos[w :: args.concurrency]:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            body = {"channel_order_id": f"W{psn_no}", "psn_no": psn_no, "year": year}
            status, order = http.call("POST", "/v1/payment-orders", body)
            if status != 201:
                with done.lock:
                    done.errors.append(f"order {status} {order}")
                continue
            callback = {"channel_txn_id": f"T{psn_no}", "amount_fen": order["amount_fen"]}
            path = f"/v1/payment-orders/{order['order_no']}/confirmation"
            status, confirmed = http.call("POST", path, callback)
            with done.lock:
                if status != 200:
                    done.errors.append(f"confirmation {status} {confirmed}")
                    continue
                done.latencies.append(time.perf_counter() - started)
                done.confirmed.append(confirmed)

    elapsed = run_workers(worker, args.concurrency)
    return done, elapsed


def final_checks(port: int, key: str, year: int, done: Payments, today: date) -> list[str]:
    """Replays answer the same, a paid person-year is never paid again, the day balances."""
    http = Http(port, key)
    problems = []
    if done.confirmed:
        first = done.confirmed[0]
        body = {"channel_order_id": first["channel_order_id"], "psn_no": first["psn_no"]}
        status, again = http.call("POST", "/v1/payment-orders", {**body, "year": year})
        if status != 200 or again["order_no"] != first["order_no"]:
            problems.append(f"repeated order id: {status} {again}")
        callback = {"channel_txn_id": first["channel_txn_id"], "amount_fen": first["amount_fen"]}
        path = f"/v1/payment-orders/{first['order_no']}/confirmation"
        status, again = http.call("POST", path, callback)
        if status != 200 or again["status"] != "confirmed":
            problems.append(f"repeated callback: {status} {again}")
        fresh = {"channel_order_id": "again", "psn_no": first["psn_no"], "year": year}
        status, refused = http.call("POST", "/v1/payment-orders", fresh)
        if status != 409 or refused.get("code") != "already_paid":
            problems.append(f"second payment not refused: {status} {refused}")
    count, amount = len(done.confirmed), sum(o["amount_fen"] for o in done.confirmed)
    days = {o["confirmed_on"] for o in done.confirmed} or {today.isoformat()}
    ours = {"count": 0, "amount_fen": 0, "internal_balanced": True}
    for day in sorted(days):  # a run across local midnight books on two days
        status, recon = http.call(
            "GET", f"/v1/payment-channels/{CHANNEL}/reconciliation?day={day}", idempotent=False
        )
        must((status, recon), 200, "reconciliation")
        ours["count"] += recon["count"]
        ours["amount_fen"] += recon["amount_fen"]
        ours["internal_balanced"] &= recon["internal_balanced"]
    if (ours["count"], ours["amount_fen"]) != (count, amount) or not ours["internal_balanced"]:
        problems.append(f"reconciliation {ours} against ours {count} / {amount}")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the test suite")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of payments")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--people", type=int, default=3000, help="people enrolled beforehand")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.concurrency, args.people = 2.0, 2, 30
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    today = payment_day_of(datetime.now(CST).date())
    os.environ["SSCARD_TODAY"] = today.isoformat()  # the server's business date: a June day
    with tempfile.TemporaryDirectory(prefix="sscard-paybench-") as tmp:
        process, port, admin, _ = start_server(Path(tmp), args.workers)
        try:
            key, psn_nos, year = provision(port, admin, args.people, today)
            cpu_before = cpu_seconds(process.pid)
            done, elapsed = pay_all(port, key, psn_nos, year, args)
            cpu_after = cpu_seconds(process.pid)
            problems = final_checks(port, key, year, done, today)
        finally:
            stop_server(process)
    paid = len(done.confirmed)
    rate = paid / elapsed if elapsed else 0.0
    cpu = None
    if cpu_before is not None and cpu_after is not None and paid:
        cpu = round((cpu_after - cpu_before) / paid * 1000, 2)
    out = {
        "payments": paid,
        "payments_per_s": round(rate, 1),
        "p50_ms": round(percentile(done.latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(done.latencies, 99) * 1000, 1),
        "minutes_for_35000": round(PEAK_DAY / rate / 60, 2) if rate else None,
        "server_cpu_ms_per_payment": cpu,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "reconciled": not problems,
        "errors": len(done.errors) + len(problems),
        "first_errors": (done.errors + problems)[:3],
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0 if paid and not done.errors and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
