"""Two (or more) things measured in alternating rounds, with the same clients, in one run.

On a shared 2-core machine the load of other jobs changes from minute to minute: measuring A
for 20 s and then B for 20 s lets that change decide their ratio. Here every side runs for a
short round in turn, the order flipping each round (A B, B A, A B …), so a change of load
weighs on all sides alike; each side's figures are the sums over its rounds. Used by
``benchmarks/gateway_load.py`` (/v1 against the gateway) and ``benchmarks/settlement_load.py
--history`` (an empty database against a loaded one, issue #19).

Not a benchmark itself; nothing here knows what a cycle is: ``one(worker, n)`` does the
``n``-th unit of work of client ``worker`` and returns (latency in s, its result).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: ``one(worker, n)`` → (latency in s, result): the ``n``-th unit of work of client ``worker``.
Work = Callable[[int, int], tuple[float, dict]]


def run_workers(worker: Callable[[int], None], concurrency: int) -> float:
    """Run ``worker(0)`` … ``worker(concurrency - 1)`` in threads; seconds until all ended."""
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its children still running (Linux /proc), else None."""
    try:
        pids = [
            pid,
            *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()),
        ]
        ticks = 0
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_path(
    concurrency: int, duration: float, one: Work, counters: list[int] | None = None
) -> tuple[float, list[float], list[dict], list[str]]:
    """``one(worker, n)`` repeatedly in ``concurrency`` threads for ``duration`` s; (seconds,
    latencies, results, errors). ``counters`` (one per worker) carries ``n`` on from an
    earlier call, so a client does not start again at its first card every round."""
    counters = counters if counters is not None else [0] * concurrency
    latencies: list[float] = []
    settled: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def worker(i: int) -> None:
        while time.perf_counter() < stop_at:
            try:
                latency, setl = one(i, counters[i])
            except Exception as error:  # noqa: BLE001 - reported in the JSON
                with lock:
                    errors.append(str(error)[:300])
                continue
            finally:
                counters[i] += 1
            with lock:
                latencies.append(latency)
                settled.append(setl)

    return run_workers(worker, concurrency), latencies, settled, errors


@dataclass
class Side:
    """One of the things measured, and its sums over the rounds it ran.

    ``cpu_pids``: label → pid of processes whose CPU time (with their children's) during this
    side's rounds is counted as this side's (``server``: its service; ``database``: a
    database server both sides share, which only the running side keeps busy).
    """

    name: str
    one: Work
    cpu_pids: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    settled: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float | None] = field(default_factory=dict)
    counters: list[int] = field(default_factory=list)
    every_result: list[dict] = field(default_factory=list)  # the warm-up's too (what was done)

    def run(self, concurrency: int, seconds: float, *, count: bool = True) -> None:
        """One round of ``seconds``; added to the sums unless ``count`` is false (warm-up)."""
        if len(self.counters) != concurrency:
            self.counters = [0] * concurrency
        before = {label: cpu_seconds(pid) for label, pid in self.cpu_pids.items()}
        elapsed, latencies, settled, errors = run_path(
            concurrency, seconds, self.one, self.counters
        )
        self.every_result += settled
        if not count:
            return
        self.elapsed += elapsed
        self.latencies += latencies
        self.settled += settled
        self.errors += errors
        for label, pid in self.cpu_pids.items():
            after, spent = cpu_seconds(pid), self.cpu.get(label, 0.0)
            ok = None not in (after, before[label], spent)
            self.cpu[label] = spent + after - before[label] if ok else None

    def figures(self) -> dict:
        """Rate, latency percentiles (of ``one``'s latency) and CPU per unit over the rounds."""
        count = len(self.settled)
        out = {
            "settlements": count,
            "settlements_per_s": round(count / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 2),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "seconds": round(self.elapsed, 2),
        }
        for label, spent in self.cpu.items():
            per = round(spent * 1000 / count, 2) if spent is not None and count else None
            out[f"{label}_cpu_ms_per_settlement"] = per
        return out


def ratios(side: Side, base: Side) -> dict[str, float | None]:
    """``side`` ÷ ``base`` over all their rounds: ``rate`` (units per second, of the sums) and,
    per CPU label, CPU time per unit."""

    def per_unit(s: Side) -> dict[str, float | None]:
        n = len(s.settled)
        cpu = {label: spent / n if spent and n else None for label, spent in s.cpu.items()}
        return {"rate": n / s.elapsed if s.elapsed else None, **cpu}

    mine, theirs = per_unit(side), per_unit(base)
    return {k: round(v / theirs[k], 3) if v and theirs.get(k) else None for k, v in mine.items()}


def warm_up(sides: list[Side], concurrency: int, seconds: float) -> None:
    """Run every side for ``seconds`` without counting it (every worker process, pool and
    cache touched before the rounds)."""
    for side in sides:
        side.run(concurrency, seconds, count=False)


def alternate(sides: list[Side], concurrency: int, rounds: int, seconds: float) -> None:
    """``rounds`` rounds of ``seconds`` each, every side once per round, the order reversed
    every other round (A B, B A, A B …)."""
    for n in range(rounds):
        for side in sides if n % 2 == 0 else reversed(sides):
            side.run(concurrency, seconds)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
