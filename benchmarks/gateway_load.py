"""The national-platform gateway against /v1 (issue 15): the same complete inpatient cycles
through both, in one run, on one server (docs/gateway.md §Cost).

Starts a real ``python -m settlement serve`` on a fresh SQLite file (as
``benchmarks/settlement_load.py`` does, whose provisioning and minimal HTTP client it uses),
gives the hospital gateway credentials (``python -m settlement gateway-credentials``), and
drives at a fixed concurrency the SAME complete cycle through each path, one after the other:
the card authenticated on the network as the reader library does it (reader-library.md:
challenge + card authentication with key 01, challenge + PIN verification with key 02, four
``/v1`` calls on both paths), then

    /v1:      POST /v1/admissions (the token) → …/fees (20 lines) → …/discharge
              → …/settlement (the PIN-verified token)                          (4 requests)
    gateway:  2401 → 2301 (the same 20 lines, in yuan) → 2402 → 2304
              (TIF-signed envelopes, one 9001 sign-in per operator per run)    (4 messages)

Sign-in (9001) is once per operator per day, not per patient, so it is outside the cycle.
Both upload the same 20 lines of the shipped sample catalogue (loaded with ``python -m
settlement catalogue import``), which classes and splits them.

The last line printed is one JSON object: ``v1_ms_per_settlement``,
``gateway_ms_per_settlement`` (wall time per settlement at the concurrency), their
``ratio`` (target ≤ 1.3), both rates and p99 of the settlement call, the server CPU per
settlement of each path and their ``cpu_ratio``. The two paths alternate in ``--rounds``
rounds, the order flipping every round (after a warm-up of both; :mod:`benchmarks._rounds`),
so a change of load on the shared machine weighs on both.

    .venv/bin/python benchmarks/gateway_load.py [--quick] [--duration 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._rounds import Side, alternate, percentile, warm_up
from benchmarks.settlement_load import (
    REGION,
    Card,
    Http,
    must,
    provision,
    start_server,
    stop_server,
)
from card.crypto import Algorithm, encrypt_ecb
from card.keystore import KEY_INTERNAL_AUTH, KeyStore

CST = timezone(timedelta(hours=8))
HOSPITAL = "BENCHH"
ENDPOINT = "/fsi/api/rsfComIfsService/callService"

#: Wall time of each step of the cycles (label → seconds), for the medians in the summary.
STEPS: dict[str, list[float]] = {}
_STEPS_LOCK = threading.Lock()


def timed(label: str, call: Callable, *args):
    """``call(*args)``, its wall time recorded under ``label``."""
    started = time.perf_counter()
    result = call(*args)
    elapsed = time.perf_counter() - started
    with _STEPS_LOCK:
        STEPS.setdefault(label, []).append(elapsed)
    return result


class Gateway(Http):
    """:class:`Http` with TIF-signed envelope posts."""

    def __init__(self, port: int, api_key: str, creds: dict, opter: str) -> None:
        super().__init__(port, api_key)
        self.paasid, self.secret = creds["tif"]["paasid"], creds["tif"]["secret"]
        self.opter, self.sign_no, self.serial = opter, "", 0

    def envelope(self, infno: str, node: dict) -> dict:
        self.serial += 1
        now = datetime.now(CST)
        body = {
            "infno": infno,
            "msgid": f"{HOSPITAL}{now:%Y%m%d%H%M%S}{self.opter}{self.serial:06d}",
            "mdtrtarea_admvs": REGION,
            "insuplc_admdvs": REGION,
            "recer_sys_code": "YBXT",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": self.opter,
            "opter_name": "bench",
            "inf_time": now.strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": HOSPITAL,
            "fixmedins_name": "hospital",
            "sign_no": self.sign_no,
            "input": node,
        }
        stamp, nonce = str(int(time.time())), secrets.token_hex(8)
        signature = hashlib.sha256(f"{stamp}{self.secret}{nonce}{stamp}".encode()).hexdigest()
        extra = (
            f"x-tif-paasid: {self.paasid}\r\nx-tif-timestamp: {stamp}\r\n"
            f"x-tif-nonce: {nonce}\r\nx-tif-signature: {signature}\r\n"
        )
        status, answer = self._post(ENDPOINT, json.dumps(body).encode(), extra)
        if status != 200 or answer.get("infcode") != 0:
            raise RuntimeError(f"{infno}: HTTP {status} {answer}")
        return answer["output"]

    def _post(self, path: str, payload: bytes, extra: str):
        head = f"POST {path} HTTP/1.1\r\n{self.fixed}{extra}Content-Length: {len(payload)}\r\n"
        return self.send(head.encode() + b"\r\n" + payload)


def _answer(keystore: KeyStore, card: Card, kid: int, nonce_hex: str) -> str:
    key = keystore.card_key(Algorithm.TDES, kid, REGION, card.factor)
    return encrypt_ecb(Algorithm.TDES, key, bytes.fromhex(nonce_hex)).hex().upper()


def card_authentication(gw: Http, keystore: KeyStore, card: Card) -> str:
    """What the reader library does around ReadCardBas and VerifyPIN (reader-library.md);
    the PIN-verified token."""
    purpose = {"card_no": card.card_no, "purpose": "card_authentication"}
    ch = must(gw.call("POST", "/v1/challenges", purpose), 201, "challenge")
    body = {
        "card_no": card.card_no,
        "challenge_id": ch["challenge_id"],
        "cryptogram": _answer(keystore, card, KEY_INTERNAL_AUTH, ch["nonce"]),
    }
    token = must(gw.call("POST", "/v1/card-authentications", body), 201, "authentication")
    purpose = {"card_no": card.card_no, "purpose": "pin_verification"}
    ch = must(gw.call("POST", "/v1/challenges", purpose), 201, "challenge")
    proof = {"challenge_id": ch["challenge_id"], "cryptogram": card.cryptogram(ch["nonce"])}
    path = f"/v1/card-authentications/{token['token']}/pin-verification"
    must(gw.call("POST", path, proof), 200, "PIN verification")
    return token["token"]


def v1_cycle(http: Http, keystore: KeyStore, card: Card, lines: bytes) -> tuple[float, dict]:
    """The gateway's cycle through /v1 (docs/api.md §Stay lifecycle); (settlement latency
    in s, the settlement)."""
    token = timed("v1 card authentication (4 calls)", card_authentication, http, keystore, card)
    now = datetime.now(CST)
    admission = {
        "psn_no": card.psn_no,
        "insutype": "310",
        "begntime": (now - timedelta(hours=1)).isoformat(),
        "card_authentication": token,
    }
    answer = timed("v1 admission", http.call, "POST", "/v1/admissions", admission)
    mdtrt_id = must(answer, 201, "admission")["mdtrt_id"]
    path = f"/v1/admissions/{mdtrt_id}"
    must(timed("v1 fees", http.call, "POST", f"{path}/fees", lines), 200, "fees")
    discharge = {"endtime": now.isoformat()}
    must(timed("v1 discharge", http.call, "POST", f"{path}/discharge", discharge), 200, "out")
    body = {"acct_used_flag": True, "card_authentication": token}
    started = time.perf_counter()
    setl = must(
        timed("v1 settlement", http.call, "POST", f"{path}/settlement", body), 201, "settle"
    )
    return time.perf_counter() - started, setl


def gateway_cycle(
    gw: Gateway, keystore: KeyStore, card: Card, lines: list[dict]
) -> tuple[float, dict]:
    """One complete stay through the gateway; (2304 latency in s, the settlement in fen)."""
    timed("gateway card authentication (4 calls)", card_authentication, gw, keystore, card)
    now = datetime.now(CST)
    certificate = {"mdtrt_cert_type": "03", "mdtrt_cert_no": card.card_no}
    admission = {
        "psn_no": card.psn_no,
        "insutype": "310",
        "begntime": (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
        "med_type": "21",
        **certificate,
    }
    admitted = timed("gateway 2401", gw.envelope, "2401", {"mdtrtinfo": admission, "diseinfo": []})
    mdtrt_id = admitted["result"]["mdtrt_id"]
    stay = {"mdtrt_id": mdtrt_id, "psn_no": card.psn_no}
    feedetail = [{**line, **stay} for line in lines]
    result = timed("gateway 2301", gw.envelope, "2301", {"feedetail": feedetail})["result"]
    medfee = sum(round(line["det_item_fee_sumamt"] * 100) for line in result)
    endtime = now.strftime("%Y-%m-%d %H:%M:%S")
    timed("gateway 2402", gw.envelope, "2402", {"dscginfo": {**stay, "endtime": endtime}})
    data = {
        **stay,
        **certificate,
        "insutype": "310",
        "medfee_sumamt": f"{medfee / 100:.2f}",
        "psn_setlway": "01",
        "acct_used_flag": "1",
        "mid_setl_flag": "0",
    }
    started = time.perf_counter()
    info = timed("gateway 2304", gw.envelope, "2304", {"data": data})["setlinfo"]
    latency = time.perf_counter() - started
    fen = {k: round(info[k] * 100) for k in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")}
    return latency, fen


SAMPLE = REPO / "settlement" / "data" / "catalogue-sample.csv"


def _settlement_cli(workdir: Path, keystore_path: Path, *args: str) -> str:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        SSCARD_HOME=str(workdir),
        SSCARD_KEYSTORE=str(keystore_path),
        SSCARD_DATABASE_URL=f"sqlite:///{workdir / 'settlement.db'}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "settlement", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def credentials(workdir: Path, keystore_path: Path) -> dict:
    """The bench hospital's gateway credentials; also loads the sample catalogue."""
    _settlement_cli(workdir, keystore_path, "catalogue", "import", str(SAMPLE))
    return json.loads(
        _settlement_cli(workdir, keystore_path, "gateway-credentials", HOSPITAL, "--json")
    )


def catalogue_lines() -> tuple[list[dict], list[dict]]:
    """20 lines of sample catalogue items: as /v1 sends them (fen) and as 2301 does (yuan)."""
    codes = [row.split(",", 1)[0] for row in SAMPLE.read_text(encoding="utf-8").splitlines()[1:21]]
    v1, gateway = [], []
    for n, code in enumerate(codes):
        cnt, fen = 1 + n % 3, 1000 + 137 * n
        v1.append({"feedetl_sn": f"{n:03d}", "med_list_codg": code, "cnt": cnt, "pric": fen})
        gateway.append(
            {
                "feedetl_sn": f"{n:03d}",
                "med_list_codg": code,
                "cnt": str(cnt),
                "pric": f"{fen / 100:.2f}",
                "det_item_fee_sumamt": f"{cnt * fen / 100:.2f}",
            }
        )
    return v1, gateway


def measure(process, port: int, admin: str, keystore_path: Path, workdir: Path, args) -> dict:
    keystore = KeyStore.load(keystore_path)
    keys, cards = provision(port, admin, keystore, args.concurrency, args.people)
    creds = credentials(workdir, keystore_path)
    v1_lines, gw_lines = catalogue_lines()
    lines = json.dumps({"feedetail": v1_lines}).encode()
    v1 = [Http(port, keys[i]) for i in range(args.concurrency)]
    gws = [Gateway(port, keys[i], creds, f"{i:04d}") for i in range(args.concurrency)]
    for gw in gws:
        gw.sign_no = gw.envelope("9001", {"signIn": {"opter_no": gw.opter}})["signinoutb"][
            "sign_no"
        ]

    def v1_one(i: int, n: int):
        mine = cards[i :: args.concurrency]
        return v1_cycle(v1[i], keystore, mine[n % len(mine)], lines)

    def gw_one(i: int, n: int):
        mine = cards[i :: args.concurrency]
        return gateway_cycle(gws[i], keystore, mine[n % len(mine)], gw_lines)

    # The paths alternate in rounds, the order flipping every round, so a change of the
    # machine's load (2 shared cores) weighs on both alike; each path's figures are the sums
    # over its rounds (after a warm-up of every worker process on both paths).
    sides = [
        Side("v1", v1_one, {"server": process.pid}),
        Side("gateway", gw_one, {"server": process.pid}),
    ]
    warm_up(sides, args.concurrency, min(1.0, args.duration / 4))
    STEPS.clear()
    alternate(sides, args.concurrency, args.rounds, args.duration / args.rounds)
    return {side.name: side for side in sides}


def summary(results: dict, args) -> dict:
    out: dict = {}
    for name, side in results.items():
        elapsed, latencies, settled, errors = (
            side.elapsed,
            side.latencies,
            side.settled,
            side.errors,
        )
        cpu = side.cpu.get("server")
        count = len(settled)
        out[f"{name}_settlements"] = count
        out[f"{name}_settlements_per_s"] = round(count / elapsed, 1) if elapsed else 0.0
        out[f"{name}_ms_per_settlement"] = round(elapsed * 1000 / count, 2) if count else None
        out[f"{name}_p99_ms"] = round(percentile(latencies, 99) * 1000, 2)
        out[f"{name}_server_cpu_ms_per_settlement"] = (
            round(cpu * 1000 / count, 2) if cpu is not None and count else None
        )
        out[f"{name}_errors"] = len(errors)
        out[f"{name}_first_errors"] = errors[:2]
    v1, gw = out["v1_ms_per_settlement"], out["gateway_ms_per_settlement"]
    out["ratio"] = round(gw / v1, 3) if v1 and gw else None
    cpu_v1, cpu_gw = (
        out["v1_server_cpu_ms_per_settlement"],
        out["gateway_server_cpu_ms_per_settlement"],
    )
    out["cpu_ratio"] = round(cpu_gw / cpu_v1, 3) if cpu_v1 and cpu_gw else None
    out["step_median_ms"] = {
        label: round(percentile(times, 50) * 1000, 2) for label, times in sorted(STEPS.items())
    }
    out.update(
        requests_per_cycle={"v1": 8, "gateway": 8},
        concurrency=args.concurrency,
        workers=args.workers,
        duration_s=args.duration,
        rounds=args.rounds,
        cpus=os.cpu_count(),
        targets={"ratio": 1.3},
    )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the test suite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each path")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--people", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two paths")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.concurrency, args.people, args.rounds = 1.0, 2, 4, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sscard-gwbench-") as tmp:
        workdir = Path(tmp)
        process, port, admin, keystore_path = start_server(workdir, args.workers)
        try:
            results = measure(process, port, admin, keystore_path, workdir, args)
        finally:
            stop_server(process)
    out = summary(results, args)
    print(json.dumps(out, ensure_ascii=False))
    ok = out["v1_settlements"] and out["gateway_settlements"]
    return 0 if ok and not out["v1_errors"] and not out["gateway_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
