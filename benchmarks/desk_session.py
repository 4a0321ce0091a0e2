"""The card part of a hospital admission, timed over pcscd + vpcd (and in-process).

One round = what a registration desk does with the card for an admission
(issue 6): SELECT SSSE, READ RECORD EF05 ×7 and EF06 ×7, INTERNAL
AUTHENTICATE 01 checked by the PSAM, GET CHALLENGE + EXTERNAL AUTHENTICATE 07,
SELECT DF04 + READ RECORD ×4, VERIFY (durable), INTERNAL AUTHENTICATE 02 over
a nonce (the card-present proof). The same code the desk flow runs
(``terminal.flows.common.read_card`` and ``terminal.session``); no service.

Each round opens a fresh connection (a new patient); the clock covers the
APDUs, not the connect. Target: median ≤ 15 ms over pcscd + vpcd.

    python benchmarks/desk_session.py [--rounds 200] [--quick] [--no-pcsc]

Last line: JSON with ``admission_card_ms_median``, ``apdus_per_admission``,
``admission_card_ms_p90``, ``inprocess_ms_median``, ``connect_ms_median``, ``rounds``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card.crypto import Algorithm
from card.keystore import KeyStore
from terminal.flows.common import read_card
from terminal.psam import Psam, Role
from terminal.session import CardSession

PIN = "123456"


def make_card(path: Path, keystore: KeyStore, algorithm: Algorithm) -> Path:
    from card.issue import new_card, sample_holder

    new_card(path, sample_holder(), keystore=keystore, algorithm=algorithm, ssse_pin=PIN)
    return path


def admission_card_part(session: CardSession) -> None:
    """One admission's card work (see the module docstring)."""
    read_card(session, medical=True)
    session.verify_pin(PIN)
    session.card_present_proof(secrets.token_bytes(session.identity.algorithm.block_size))


def run_rounds(reader, psam: Psam, rounds: int) -> tuple[list[float], list[float], int]:
    times: list[float] = []
    connects: list[float] = []
    apdus = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        with reader.connect() as connection:
            t1 = time.perf_counter()
            session = CardSession(connection, psam, connection.atr)
            admission_card_part(session)
            t2 = time.perf_counter()
        connects.append((t1 - t0) * 1000)
        times.append((t2 - t1) * 1000)
        apdus = session.apdu_count
    return times, connects, apdus


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a few rounds, for the test")
    parser.add_argument("--no-pcsc", action="store_true", help="in-process only")
    parser.add_argument("--algorithm", default="3des", choices=["3des", "sm4"])
    args = parser.parse_args(argv)
    rounds = 10 if args.quick else args.rounds
    algorithm = Algorithm.parse(args.algorithm)

    from card.icc import VirtualCard
    from terminal.readers.inprocess import InProcessReader

    with tempfile.TemporaryDirectory(prefix="desk-bench-") as tmp:
        home = Path(tmp)
        keystore = KeyStore.generate()
        psam = Psam.provision(keystore, "H-BENCH", Role.HOSPITAL)
        image = make_card(home / "card.json", keystore, algorithm)

        reader = InProcessReader(VirtualCard.open(image))
        run_rounds(reader, psam, 3)  # warm-up
        inproc, _, apdus = run_rounds(reader, psam, rounds)
        reader.remove()

        result: dict[str, object] = {
            "rounds": rounds,
            "algorithm": algorithm.value,
            "inprocess_ms_median": round(statistics.median(inproc), 3),
            "apdus_per_admission": apdus,
        }
        if args.no_pcsc:
            result["admission_card_ms_median"] = None
            result["transport"] = "in-process only (--no-pcsc)"
        else:
            from rig import claims, pcscd
            from rig.insert import insert

            use = claims.RigUse()  # nobody stops pcscd under the benchmark
            started = not pcscd.pcscd_running()
            pcscd.ensure(1)
            inserted = insert(image)
            try:
                from terminal.readers.pcsc import PcscReader

                pcsc_reader = PcscReader(inserted.reader.name)
                pcsc_reader.wait_for_card(10)
                run_rounds(pcsc_reader, psam, 3)  # warm-up
                times, connects, apdus = run_rounds(pcsc_reader, psam, rounds)
            finally:
                inserted.remove()
                use.release()
                if started and os.environ.get("SSCARD_KEEP_PCSCD") is None:
                    pcscd.stop_pcscd()  # only ours, and only when nobody else uses it
            result.update(
                admission_card_ms_median=round(statistics.median(times), 3),
                admission_card_ms_p90=round(percentile(times, 0.9), 3),
                connect_ms_median=round(statistics.median(connects), 3),
                apdus_per_admission=apdus,
                transport=f"pcscd + vpcd ({inserted.reader.name})",
                target_ms=15,
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
