"""Card production at the card centre and the bank, timed card by card (issue 8).

One round = one blank card from the chip maker made into an issued card
through its own commands: step 5 (SELECT, INTERNAL AUTHENTICATE 01, GET
CHALLENGE + EXTERNAL AUTHENTICATE 04, UPDATE RECORD ×18) and its read back
(EF05/EF06 raw and parsed, DF04 through a key-07 PSAM), then step 6 (the
bank's secure-messaging personalisation: PUT DATA ×4, PIN, UPDATE RECORD ×3)
and its EMV read back. The same code the card centre and bank terminals run
(``terminal.production``); no service. Card images are durable (fsync) on
every write, as real cards persist before answering.

    python benchmarks/card_production.py [--cards 100] [--quick]

Last line: JSON with ``cards``, ``cards_per_s``, ``card_ms_median``,
``card_ms_p90``, ``apdus_per_card``, ``algorithm_mix``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import new_blank_card
from card.keystore import KeyStore
from settlement.external.police_register import generate_population
from terminal.production import (
    BankAccount,
    PersonalisationOrder,
    personalise_ssse,
    verify_financial_app,
    verify_ssse,
    write_financial_app,
)
from terminal.psam import Psam, Role
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession

REGION = "430100"


def produce_one(index: int, citizen, keystore: KeyStore, psams: dict[str, Psam], folder: Path):
    algorithm = Algorithm.SM4 if index % 2 else Algorithm.TDES
    path = folder / f"card-{index:05d}.json"
    new_blank_card(path, keystore=keystore, algorithm=algorithm, region=REGION, bank_code="102")
    reader = InProcessReader(VirtualCard.open(path))
    order = PersonalisationOrder(
        application_id=f"AP{index}",
        card_no=f"B{index:08d}",
        region=REGION,
        issue_date=date(2026, 11, 23),
        expiry_date=date(2036, 11, 23),
        init_org="C430100",
        ssn=citizen.ssn,
        name=citizen.name,
        sex=citizen.sex,
        nation=citizen.nation,
        birthplace=citizen.birthplace,
        birth_date=citizen.birth_date,
        insurance_type="310",
        psn_no=f"{REGION}{index:014d}",
        bank_code="102",
    )
    account = BankAccount(
        f"AP{index}",
        order.card_no,
        "102",
        f"62220200{index:07d}0",
        1,
        order.issue_date,
        order.expiry_date,
    )
    apdus = 0
    started = time.perf_counter()
    with reader.connect() as conn:
        session = CardSession(conn, psams["centre"], conn.atr)
        personalise_ssse(session, order)
        apdus += session.apdu_count
    with reader.connect() as conn:
        session = CardSession(conn, psams["centre"], conn.atr)
        medical = CardSession(conn, psams["hospital"], conn.atr)
        check = verify_ssse(session, order, medical_session=medical)
        apdus += session.apdu_count + medical.apdu_count
    with reader.connect() as conn:
        session = CardSession(conn, psams["bank"], conn.atr)
        write_financial_app(session, account, bank_pin="246810")
        apdus += session.apdu_count
    with reader.connect() as conn:
        session = CardSession(conn, psams["bank"], conn.atr)
        bank_check = verify_financial_app(session, account)
        apdus += session.apdu_count
    elapsed = time.perf_counter() - started
    if not (check.identical and bank_check.identical):
        raise SystemExit(
            f"card {index} did not read back: {check.differences} {bank_check.differences}"
        )
    return elapsed, apdus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="10 cards")
    args = parser.parse_args(argv)
    count = 10 if args.quick else args.cards
    keystore = KeyStore.generate()
    psams = {
        "centre": Psam.provision(keystore, "C430100", Role.CARD_CENTRE),
        "bank": Psam.provision(keystore, "B102", Role.BANK_BRANCH, bank_code="102"),
        "hospital": Psam.provision(keystore, "H1", Role.HOSPITAL),
    }
    people = generate_population(count, region=REGION, seed=8)
    times: list[float] = []
    apdus: list[int] = []
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sscard-production-") as tmp:
        for index, citizen in enumerate(people):
            elapsed, sent = produce_one(index, citizen, keystore, psams, Path(tmp))
            times.append(elapsed)
            apdus.append(sent)
    wall = time.perf_counter() - wall
    times.sort()
    result = {
        "cards": count,
        "cards_per_s": round(count / wall, 2),
        "card_ms_median": round(statistics.median(times) * 1000, 2),
        "card_ms_p90": round(times[int(0.9 * (len(times) - 1))] * 1000, 2),
        "apdus_per_card": round(statistics.mean(apdus), 1),
        "algorithm_mix": {"3des": (count + 1) // 2, "sm4": count // 2},
    }
    print(
        f"{count} cards: median {result['card_ms_median']} ms, "
        f"{result['apdus_per_card']} APDUs each",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
