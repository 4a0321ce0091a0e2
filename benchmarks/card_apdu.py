"""In-process APDU rates of the simulated card (issue 3 targets on the 2-core dev machine).

* ``read_record_per_s`` — READ RECORD of EF05/EF06 records (target ≥ 20 000/s);
* ``verify_per_s`` — SSSE VERIFY with the right PIN, each one durable: the try
  counter is written (fsync + rename + directory fsync) before the comparison
  and again after it (target ≥ 200/s);
* ``internal_auth_per_s`` — INTERNAL AUTHENTICATE 02 after VERIFY (target ≥ 5 000/s).

Main figures are for an SM4 (3rd generation) card; ``*_3des`` the same for a
3DES card. The card image lives in a temporary directory on the default
temp file system. Usage: ``python benchmarks/card_apdu.py [--quick]``; the last
line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import new_card, sample_holder
from card.keystore import KeyStore

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")
VERIFY = bytes.fromhex("0020000003123456")
READS = [bytes.fromhex(f"00B2{n:02X}{sfi}00") for sfi in ("2C", "34") for n in range(1, 8)]


def rate(count: int, func) -> float:
    start = time.perf_counter()
    func(count)
    return count / (time.perf_counter() - start)


def bench(algorithm: Algorithm, directory: Path, quick: bool) -> dict[str, float]:
    path = directory / f"card-{algorithm.value}.json"
    new_card(path, sample_holder(), keystore=KeyStore.generate(), algorithm=algorithm)
    card = VirtualCard.open(path)
    card.power_on()
    transmit = card.transmit
    assert transmit(SELECT_SSSE)[-2:] == b"\x90\x00"

    def reads(n: int) -> None:
        table, size = READS, len(READS)
        for i in range(n):
            if transmit(table[i % size])[-2:] != b"\x90\x00":
                raise RuntimeError("READ RECORD failed")

    def verifies(n: int) -> None:
        for _ in range(n):
            if transmit(VERIFY) != b"\x90\x00":
                raise RuntimeError("VERIFY failed")

    block = algorithm.block_size
    auth = bytes((0x00, 0x88, 0x00, 0x02, block)) + os.urandom(block) + b"\x00"

    def internal_auths(n: int) -> None:
        for _ in range(n):
            if len(transmit(auth)) != block + 2:
                raise RuntimeError("INTERNAL AUTHENTICATE failed")

    reads(100)  # warm up
    result = {
        "read_record_per_s": rate(3_000 if quick else 60_000, reads),
        "verify_per_s": rate(30 if quick else 600, verifies),
    }
    transmit(VERIFY)
    result["internal_auth_per_s"] = rate(1_000 if quick else 30_000, internal_auths)
    if card.image.ssse_pin_tries_left != 3:
        raise RuntimeError("the try counter was not restored")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred APDUs only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sscard-bench-") as tmp:
        sm4 = bench(Algorithm.SM4, Path(tmp), args.quick)
        tdes = bench(Algorithm.TDES, Path(tmp), args.quick)
    out = {key: round(value, 1) for key, value in sm4.items()}
    out.update({f"{key}_3des": round(value, 1) for key, value in tdes.items()})
    out["quick"] = args.quick
    for key, value in sorted(out.items()):
        if key != "quick":
            print(f"{key:>28}: {value:>10,.0f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
