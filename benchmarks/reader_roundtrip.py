"""Round trip of one APDU: pcscd + vpcd + our card, in-process, and a trivial vpcd floor.

Issue 4: median round trip of GET CHALLENGE (``00 84 00 00 Le``) through the
real pcscd and vsmartcard's vpcd driver to our card running as a separate
``python -m rig.cli insert`` process; the same through an
in-process reader; and, in the same run, the same command through pcscd to
a trivial vpcd responder (a separate process answering every APDU with
``9000``, using the same connector) as the floor.  Card and floor are
measured in short alternating batches so that machine noise hits both alike.

    python benchmarks/reader_roundtrip.py [--quick] [--apdus N]

Last line: JSON with ``pcsc_median_us``, ``inprocess_median_us``,
``floor_median_us``, ``ratio_to_floor`` (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from card.vpcd import VpcdConnector
from rig import claims, pcscd
from rig.insert import insert

TRIVIAL_ATR = bytes.fromhex("3B6D0000" + "00430100" + "0000000000000000" + "33")


class TrivialCard:
    """The floor: a fixed ATR and ``9000`` for every APDU, no card OS at all."""

    atr = TRIVIAL_ATR

    def power_on(self) -> bytes:
        return self.atr

    def reset(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        return None

    def transmit(self, apdu: bytes) -> bytes:
        return b"\x90\x00"


def serve_trivial() -> int:
    """Child mode: put the trivial card into a free rig reader until SIGTERM."""
    claim = claims.claim()
    connector = VpcdConnector(TrivialCard(), port=claim.reader.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    connector.start()
    while connector.served == 0 and not stop.is_set():
        time.sleep(0.005)
    print(json.dumps({"event": "inserted", **claim.reader.to_json()}), flush=True)
    stop.wait()
    connector.stop()
    claim.release()
    return 0


def median_us(samples: list[int]) -> float:
    return round(statistics.median(samples) / 1000, 1)


def p90_us(samples: list[int]) -> float:
    return round(statistics.quantiles(samples, n=10)[-1] / 1000, 1)


def timed(conn, command: bytes, count: int, into: list[int]) -> None:
    transmit = conn.transmit
    clock = time.perf_counter_ns
    for _ in range(count):
        started = clock()
        _data, sw = transmit(command)
        into.append(clock() - started)
        if sw != 0x9000:
            raise RuntimeError(f"GET CHALLENGE answered {sw:04X}")


def measure_pcsc(image_path: Path, command: bytes, count: int, batch: int, cleanup: list):
    """GET CHALLENGE through pcscd to the card process and to the trivial floor.

    Returns the card's and the floor's samples (ns), taken in short alternating
    batches (who goes first alternates too), so that load from other processes
    hits both paths alike.  Whatever needs undoing is appended to ``cleanup``.
    """
    from terminal.readers.pcsc import PcscReader

    card = insert(image_path)
    cleanup.append(card.remove)
    floor_process = subprocess.Popen(
        [sys.executable, __file__, "--serve-trivial"], stdout=subprocess.PIPE, text=True
    )
    cleanup.append(lambda: (floor_process.terminate(), floor_process.wait(10)))
    floor_reader = json.loads(floor_process.stdout.readline())["name"]

    pcsc_samples: list[int] = []
    floor_samples: list[int] = []
    with PcscReader(card.reader.name) as card_reader, PcscReader(floor_reader) as floor:
        card_reader.wait_for_card(10)
        floor.wait_for_card(10)
        with card_reader.connect() as card_conn, floor.connect() as floor_conn:
            timed(card_conn, command, batch, [])  # warm-up
            timed(floor_conn, command, batch, [])
            for round_ in range(0, count, batch):
                step = min(batch, count - round_)
                pair = [(card_conn, pcsc_samples), (floor_conn, floor_samples)]
                for conn, samples in pair if (round_ // batch) % 2 else pair[::-1]:
                    timed(conn, command, step, samples)
    return pcsc_samples, floor_samples


def measure_inprocess(image_path: Path, command: bytes, count: int, batch: int) -> list[int]:
    """The same command through an in-process reader (no pcscd)."""
    from card.icc import VirtualCard
    from terminal.readers.inprocess import InProcessReader

    samples: list[int] = []
    with InProcessReader(VirtualCard.open(image_path)).connect() as conn:
        timed(conn, command, batch, [])
        timed(conn, command, count, samples)
    return samples


def report(command: bytes, count: int, pcsc_samples, floor_samples, inprocess_samples) -> dict:
    pcsc = median_us(pcsc_samples)
    floor_median = median_us(floor_samples)
    result = {
        "benchmark": "reader_roundtrip",
        "apdus": count,
        "command": command.hex().upper(),
        "pcsc_median_us": pcsc,
        "pcsc_p90_us": p90_us(pcsc_samples),
        "inprocess_median_us": median_us(inprocess_samples),
        "floor_median_us": floor_median,
        "floor_p90_us": p90_us(floor_samples),
        "ratio_to_floor": round(pcsc / floor_median, 3),
        "target_ratio": 1.5,
    }
    print(
        f"GET CHALLENGE round trip, median of {count}: pcscd+vpcd {pcsc} us, "
        f"trivial vpcd floor {floor_median} us, in-process {result['inprocess_median_us']} us",
        file=sys.stderr,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few APDUs (for the test)")
    parser.add_argument("--apdus", type=int, default=2000, help="APDUs per path")
    parser.add_argument("--serve-trivial", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_trivial:
        return serve_trivial()

    from card.issue import CardHolder, citizen_id, new_card
    from card.keystore import KeyStore
    from terminal import apdu

    count = 100 if args.quick else args.apdus
    batch = 10
    started_pcscd = not pcscd.pcscd_running()
    pcscd.ensure()
    cleanup: list = []
    try:
        with tempfile.TemporaryDirectory(prefix="reader-bench-") as tmp:
            image_path = Path(tmp) / "card.json"
            holder = CardHolder(name="张三", ssn=citizen_id("430100", date(1980, 5, 17), 11, "1"))
            image = new_card(image_path, holder, keystore=KeyStore.generate())
            command = apdu.get_challenge(image.algorithm.block_size)
            pcsc_samples, floor_samples = measure_pcsc(image_path, command, count, batch, cleanup)
            inprocess_samples = measure_inprocess(image_path, command, count, batch)
    finally:
        for step in reversed(cleanup):
            step()
        if started_pcscd:
            pcscd.stop_pcscd()
    print(json.dumps(report(command, count, pcsc_samples, floor_samples, inprocess_samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
