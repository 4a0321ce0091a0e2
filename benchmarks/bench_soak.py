"""Soak of the test bench (issue 18): N readers, cards in and out every few seconds, faults.

Not a test: a long run of ``python -m card bench`` driven over its HTTP API while an
independent PC/SC client (pyscard) works every card.  Each reader has its own
thread and two cards of its own; a cycle is: insert (or swap) a card, maybe set a
fault, SELECT + READ RECORD + VERIFY through pcscd, then take the card out.  Faults
(about one cycle in three): ``delay``, ``sw`` on READ RECORD, ``mute`` (1 s),
``tear`` of VERIFY, ``remove`` during READ RECORD; each must show as the fault
says (a late answer, the status word, a failed transmit, the card gone).

At the end: pcscd answers and lists every reader, each reader takes a card and
answers again, and every card image loads, is undamaged, and holds the try counter
the run predicts (a torn VERIFY costs one try, a right VERIFY restores them).

    python benchmarks/bench_soak.py [--minutes 30] [--readers 6] [--interval 3] [--quick]

Readers another process holds a card in when the soak starts are left alone
(``readers_busy``).  ``--quick`` runs ~14 s with 2-second cycles.  Last line: JSON
with ``readers``, ``cycles``,
``apdus``, ``faults`` (per kind), ``unexpected`` (must be 0), ``pcscd_healthy``,
``images_valid`` / ``images``, ``insert_ms_median`` and ``remove_ms_median``;
exit status 1 when anything is unexpected or unhealthy.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from card.image import CardImage, CardImageError
from card.layout import SSSE_AID
from rig import claims, pcscd
from rig.bench.client import BenchClient, BenchProcess

try:
    from smartcard.Exceptions import CardConnectionException
    from smartcard.System import readers
except ImportError:  # pragma: no cover - the soak needs pyscard
    sys.exit("bench_soak needs pyscard (bash scripts/setup.sh installs it)")

SELECT_SSSE = bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_AID)]) + SSSE_AID
READ_CARD_NO = bytes.fromhex("00B2072C00")
VERIFY_RIGHT = bytes.fromhex("0020000003123456")
FAULTS = ("delay", "sw", "mute", "tear", "remove")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cycles = 0
        self.apdus = 0
        self.faults: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.insert_ms: list[float] = []
        self.remove_ms: list[float] = []

    def problem(self, text: str) -> None:
        with self.lock:
            self.unexpected.append(text)


def _connect(name: str):
    for reader in readers():
        if str(reader) == name:
            connection = reader.createConnection()
            connection.connect()
            return connection
    raise RuntimeError(f"pcscd does not list {name}")


def _send(connection, apdu: bytes) -> bytes:
    data, sw1, sw2 = connection.transmit(list(apdu))
    return bytes(data) + bytes([sw1, sw2])


class ReaderWorker:
    """One reader's loop (see the module docstring); ``tries`` predicts each card's counter."""

    def __init__(self, client: BenchClient, reader: dict, cards: list[dict], stats: Stats) -> None:
        self.client, self.reader, self.cards, self.stats = client, reader, cards, stats
        self.index, self.name = reader["index"], reader["name"]
        self.tries = {card["id"]: 3 for card in cards}
        self.rng = random.Random(self.index)
        self.kind: str | None = None  # the fault of the current cycle

    def run(self, until: float, interval: float) -> None:
        turn = 0
        while time.monotonic() < until:
            card = self.cards[turn % len(self.cards)]
            turn += 1
            started = time.monotonic()
            try:
                self.cycle(card)
            except Exception as exc:  # noqa: BLE001 - the soak records, it does not stop
                self.stats.problem(
                    f"reader {self.index} (fault {self.kind}): {type(exc).__name__}: {exc}"
                )
                self._empty()
            with self.stats.lock:
                self.stats.cycles += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def cycle(self, card: dict) -> None:
        t = time.perf_counter()
        self.client.insert(self.index, card["id"])
        self.stats.insert_ms.append((time.perf_counter() - t) * 1000)
        kind = self.rng.choice(FAULTS) if self.rng.random() < 0.35 else None
        if kind == "tear" and self.tries[card["id"]] <= 1:
            kind = "delay"  # a third torn VERIFY in a row would block the PIN
        self.kind = kind
        if kind is not None:
            self._arm(kind)
            with self.stats.lock:
                self.stats.faults[kind] += 1
        failed = self._work(card)
        expect_failure = kind in ("mute", "tear", "remove")
        if failed != expect_failure:
            self.stats.problem(f"reader {self.index}: fault {kind}: transmit failed={failed}")
        self.client.clear_faults(self.index)
        if self.client.reader(self.index)["card"] is not None:
            t = time.perf_counter()
            self.client.remove(self.index)
            self.stats.remove_ms.append((time.perf_counter() - t) * 1000)
        elif kind not in ("tear", "remove"):
            self.stats.problem(f"reader {self.index}: the card left without a fault taking it")
        if kind == "tear":
            self.tries[card["id"]] -= 1  # the torn VERIFY kept its decrement (anti-tearing)
        elif not failed:
            self.tries[card["id"]] = 3  # the right PIN went through: the counter is full

    def _arm(self, kind: str) -> None:
        fields = {
            "delay": {"ms": 50},
            "sw": {"match": "00B2", "sw": "6A82", "count": 1},
            "mute": {"after": 2, "ms": 1000},
            "tear": {"match": "0020"},
            "remove": {"match": "00B2", "ms": 100},
        }[kind]
        self.client.add_fault(self.index, kind, **fields)

    def _work(self, card: dict) -> bool:
        """SELECT, READ RECORD, VERIFY; True when a transmit failed (the card went away)."""
        try:
            connection = _connect(self.name)
        except CardConnectionException:
            return True
        try:
            steps = (SELECT_SSSE, READ_CARD_NO, VERIFY_RIGHT)
            answers = []
            for apdu in steps:
                answers.append(_send(connection, apdu))
                with self.stats.lock:
                    self.stats.apdus += 1
            read = answers[1]
            if read != bytes.fromhex("6A82") and card["card_no"].encode() not in read:
                self.stats.problem(f"reader {self.index}: READ RECORD answered {read.hex()}")
            if answers[2] != b"\x90\x00":
                self.stats.problem(f"reader {self.index}: VERIFY answered {answers[2].hex()}")
            return False
        except CardConnectionException:
            return True
        finally:
            try:
                connection.release()  # disconnect and release the PC/SC context
            except CardConnectionException:
                pass

    def _empty(self) -> None:
        try:
            self.client.clear_faults(self.index)
            if self.client.reader(self.index)["card"] is not None:
                self.client.remove(self.index)
        except Exception as exc:  # noqa: BLE001 - recorded
            self.stats.problem(f"reader {self.index}: cannot empty it: {exc}")


def _final_checks(bench: BenchProcess, workers: list[ReaderWorker], stats: Stats) -> dict:
    from terminal.readers.pcsc import list_readers

    healthy = pcscd.pcscd_answers()
    listed = set(list_readers()) if healthy else set()
    healthy = healthy and all(w.name in listed for w in workers)
    for worker in workers:  # every reader still takes a card and answers
        card = worker.cards[0]
        worker.client.insert(worker.index, card["id"])
        if worker._work(card):
            healthy = False
            stats.problem(f"reader {worker.index} does not answer after the soak")
        worker.tries[card["id"]] = 3
        worker.client.remove(worker.index)
    valid = 0
    images = 0
    for worker in workers:
        for card in worker.cards:
            images += 1
            try:
                image = CardImage.load(card["image"])
            except CardImageError as exc:
                stats.problem(f"card {card['id']}: {exc}")
                continue
            if image.damaged:
                stats.problem(f"card {card['id']}: damaged records {sorted(image.damaged)}")
            elif image.ssse_pin_tries_left != worker.tries[card["id"]]:
                stats.problem(
                    f"card {card['id']}: {image.ssse_pin_tries_left} tries left, "
                    f"the run predicts {worker.tries[card['id']]}"
                )
            else:
                valid += 1
    return {"pcscd_healthy": healthy, "images_valid": valid, "images": images}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds per cycle")
    parser.add_argument("--quick", action="store_true", help="~14 s, 2 s cycles")
    args = parser.parse_args()
    seconds = 14.0 if args.quick else args.minutes * 60
    interval = 2.0 if args.quick else args.interval
    use = claims.RigUse()
    stats = Stats()
    with tempfile.TemporaryDirectory(prefix="sscard-soak-") as tmp:
        bench = BenchProcess.start(Path(tmp), readers=args.readers)
        try:
            client = bench.client
            # A reader another process holds a card in (a claim) is left alone and counted.
            free = [r for r in client.readers() if r["claimed_by_pid"] is None]
            busy = len(bench.readers) - len(free)
            workers = [
                ReaderWorker(client, r, [client.create_card(), client.create_card()], stats)
                for r in free
            ]
            started = time.monotonic()
            threads = [
                threading.Thread(target=w.run, args=(started + seconds, interval), daemon=True)
                for w in workers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            final = _final_checks(bench, workers, stats)
        finally:
            status = bench.stop()
    use.release()
    result = {
        "benchmark": "bench_soak",
        "seconds": round(elapsed, 1),
        "readers": len(workers),
        "readers_busy": busy,
        "cycles": stats.cycles,
        "apdus": stats.apdus,
        "faults": dict(sorted(stats.faults.items())),
        "unexpected": len(stats.unexpected),
        **final,
        "bench_exit": status,
        "insert_ms_median": round(statistics.median(stats.insert_ms), 1),
        "remove_ms_median": round(statistics.median(stats.remove_ms or [0.0]), 1),
    }
    for text in stats.unexpected[:20]:
        print(text, file=sys.stderr)
    print(json.dumps(result), flush=True)
    ok = (
        not stats.unexpected and final["pcscd_healthy"] and final["images_valid"] == final["images"]
    )
    return 0 if ok and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
