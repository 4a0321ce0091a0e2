"""The reader library's ReadCardBas + VerifyPIN, timed through pcscd + vpcd (issue 13).

One round is what an HIS does for a patient: ``ReadCardBas`` (connect, SELECT
SSSE, EF05, GET CHALLENGE, INTERNAL AUTHENTICATE over the service's nonce, GET
CHALLENGE + EXTERNAL AUTHENTICATE 0A, EF06, the networked card authentication)
then ``VerifyPIN`` (the PIN from the scripted pad, VERIFY, INTERNAL AUTHENTICATE
02, the PIN upgrade), called through the C
interface (ctypes → ``libsscardreader.so`` built for this run). The PIN is typed
on the pad before the clock starts.

Compared with the same APDUs sent by a trivial client (raw pyscard: connect,
transmit with GET RESPONSE, disconnect) and with the time the library spent
waiting for the settlement service (measured inside the round). What the library
adds = round − service wait − trivial client; target under 5 ms (a real card at
9600 baud needs over 500 ms for these APDUs).

    python benchmarks/readerlib.py [--rounds 50] [--quick]

Last line: JSON with ``round_ms_median``, ``service_ms_median``,
``trivial_client_ms_median``, ``library_adds_ms``, ``apdus_per_round``, ``rounds``.
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
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from settlement_load import start_server, stop_server

from card.crypto import Algorithm
from card.issue import new_card, sample_holder
from card.keystore import KeyStore
from terminal.client.settlement import SettlementClient
from terminal.psam import Psam, Role

PIN = "123456"
REGION = "430100"


def provision(url: str, admin_key: str, keystore: KeyStore, folder: Path) -> tuple[str, Path, Path]:
    """A hospital (its API key and PSAM) and one insured person's card image."""
    tag = secrets.token_hex(3).upper()
    admin = SettlementClient(url, admin_key)
    hospital, centre = f"H{tag}", f"CC{tag}"
    admin.register_institution(
        {"code": hospital, "name": hospital, "kind": "hospital", "hospital_level": 3}
    )
    admin.register_institution({"code": centre, "name": centre, "kind": "card_centre"})
    key = admin.register_terminal(hospital, f"{hospital}-T1", "reader")["api_key"]
    centre_key = admin.register_terminal(centre, f"{centre}-T1", "centre")["api_key"]
    holder = sample_holder(REGION)
    psn_no = REGION + f"{secrets.randbelow(10**14):014d}"
    card_no = f"X{secrets.randbelow(10**8):08d}"
    with SettlementClient(url, centre_key) as cc:
        cc.register_person(
            {"psn_no": psn_no, "psn_name": holder.name, "brdy": "1980-05-17", "certno": holder.ssn}
        )
        admin.migrate_coverage(  # a paid period: the admin's migration (docs/api.md)
            {"psn_no": psn_no, "insutype": "310", "begndate": "2020-01-01", "reason": "bench"}
        )
        admin.close()
        image = new_card(
            folder / "card.json",
            holder,
            keystore=keystore,
            algorithm=Algorithm.TDES,
            region=REGION,
            card_number=card_no,
            psn_no=psn_no,
            ssse_pin=PIN,
        )
        cc.register_card(
            {
                "card_no": card_no,
                "card_id_code": image.identification_code.hex().upper(),
                "algorithm": "3des",
                "region": REGION,
                "expiry": "2036-01-01",
                "issue_date": date.today().isoformat(),
                "bank_code": "102",
                "psn_no": psn_no,
                "status": "active",
            }
        )
    psam_path = folder / "hospital.psam"
    Psam.provision(keystore, hospital, Role.HOSPITAL).save(psam_path)
    return key, psam_path, folder / "card.json"


def library_rounds(library, reader, rounds: int) -> tuple[list[float], list[float]]:
    """(round ms, service-wait ms) per round, through the C interface."""
    from terminal.readerlib.library import LIBRARY
    from terminal.readerlib.pinpad import type_pins

    waited = [0.0]
    request = LIBRARY._client.request

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return request(*args, **kwargs)
        finally:
            waited[0] += time.perf_counter() - start

    LIBRARY._client.request = timed
    totals, service = [], []
    for _ in range(rounds):
        type_pins(reader, [PIN])
        waited[0] = 0.0
        start = time.perf_counter()
        code, info, _busi = library.read_card_bas()
        if code == 0:
            code, info = library.verify_pin()
        elapsed = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"the library failed ({code}): {info}")
        totals.append(elapsed * 1000)
        service.append(waited[0] * 1000)
    return totals, service


def trivial_round(transmit, psam: Psam, identity) -> int:
    """One round's APDUs in the library's order, as plainly as possible; how many were sent.

    SELECT SSSE, EF05 x7, GET CHALLENGE, INTERNAL AUTHENTICATE (P2 00) over a random block,
    GET CHALLENGE + EXTERNAL AUTHENTICATE 0A (the PSAM's cryptogram), EF06 x7, VERIFY,
    INTERNAL AUTHENTICATE 02: what ReadCardBas + VerifyPIN send to the card.
    """
    from card.keystore import KEY_TERMINAL_AUTH
    from terminal import apdu

    block = identity.algorithm.block_size
    sent = transmit(apdu.select_aid(apdu.SSSE_AID))[1]
    for number in range(1, 8):
        sent += transmit(apdu.read_record(apdu.SFI_ISSUANCE, number))[1]
    sent += transmit(apdu.get_challenge(8))[1]
    command = apdu.internal_authenticate(0x00, secrets.token_bytes(block), 8)
    sent += transmit(command)[1]
    challenge, count = transmit(apdu.get_challenge(8))
    cryptogram = psam.external_auth_cryptogram(identity, KEY_TERMINAL_AUTH, challenge, "bench")
    sent += count + transmit(apdu.external_authenticate(KEY_TERMINAL_AUTH, cryptogram))[1]
    for number in range(1, 8):
        sent += transmit(apdu.read_record(apdu.SFI_HOLDER, number))[1]
    sent += transmit(apdu.verify(PIN))[1]
    sent += transmit(apdu.internal_authenticate(0x02, secrets.token_bytes(block)))[1]
    return sent


def _transmitter(card, protocol):
    """transmit(command) -> (data, APDUs sent): SCardTransmit, then GET RESPONSE while 61xx."""
    from smartcard import scard

    def transmit(command: bytes) -> tuple[bytes, int]:
        _, response = scard.SCardTransmit(card, protocol, list(command))
        sent = 1
        while len(response) >= 2 and response[-2] == 0x61:
            _, response = scard.SCardTransmit(card, protocol, [0, 0xC0, 0, 0, response[-1]])
            sent += 1
        if response[-2:] != [0x90, 0x00]:
            raise RuntimeError(f"{command.hex()} answered {bytes(response).hex()}")
        return bytes(response[:-2]), sent

    return transmit


def trivial_rounds(reader_name: str, rounds: int, psam: Psam) -> tuple[list[float], int]:
    """The same APDUs by raw pyscard (connect, transmit + GET RESPONSE, disconnect)."""
    from smartcard import scard

    from terminal.cardinfo import identity_from_atr

    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    times, count = [], 0
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            hresult, card, protocol = scard.SCardConnect(
                context, reader_name, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise RuntimeError(scard.SCardGetErrorMessage(hresult))
            _, _, _, _, atr = scard.SCardStatus(card)
            transmit = _transmitter(card, protocol)
            count = trivial_round(transmit, psam, identity_from_atr(bytes(atr)))
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        scard.SCardReleaseContext(context)
    return times, count


def run(rounds: int) -> dict:
    from rig import claims, pcscd
    from rig.insert import insert
    from terminal.readerlib.build import build
    from terminal.readerlib.loader import LoadedLibrary

    with tempfile.TemporaryDirectory(prefix="rl-bench-") as tmp:
        folder = Path(tmp)
        os.environ["SSCARD_HOME"] = str(folder)
        server, port, admin_key, keystore_path = start_server(folder / "service", workers=1)
        use = claims.RigUse()
        started = not pcscd.pcscd_running()
        try:
            key, psam_path, image = provision(
                f"http://127.0.0.1:{port}", admin_key, KeyStore.load(keystore_path), folder
            )
            pcscd.ensure(1)
            inserted = insert(image)
            try:
                library = LoadedLibrary(build(folder / "lib"), encoding="gbk")
                reader = inserted.reader.name
                init = {
                    "IP": "127.0.0.1",
                    "PORT": port,
                    "ACCESS_KEY": key,
                    "EXT": {"psam": str(psam_path), "reader": reader, "wait": 10},
                }
                code, message = library.init(json.dumps(init))
                if code != 0:
                    raise RuntimeError(f"Init failed ({code}): {message}")
                library_rounds(library, reader, 2)  # warm-up (imports, connections)
                totals, service = library_rounds(library, reader, rounds)
                from terminal.readerlib.library import LIBRARY

                LIBRARY.close()  # release the card for the trivial client
                trivial, apdus = trivial_rounds(reader, rounds, Psam.load(psam_path))
            finally:
                inserted.remove()
        finally:
            stop_server(server)
            use.release()
            if started and os.environ.get("SSCARD_KEEP_PCSCD") is None:
                pcscd.stop_pcscd()
    without_service = [total - wait for total, wait in zip(totals, service, strict=True)]
    return {
        "rounds": rounds,
        "round_ms_median": round(statistics.median(totals), 3),
        "service_ms_median": round(statistics.median(service), 3),
        "trivial_client_ms_median": round(statistics.median(trivial), 3),
        "library_adds_ms": round(
            statistics.median(without_service) - statistics.median(trivial), 3
        ),
        "apdus_per_round": apdus,
        "target_library_adds_ms": 5,
        "transport": "pcscd + vpcd",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a few rounds, for the test")
    args = parser.parse_args(argv)
    print(json.dumps(run(5 if args.quick else args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
