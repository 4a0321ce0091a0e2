"""Several ``settlement serve`` processes on one database and a plain round-robin client (#19).

Not a benchmark itself: the scenario scripts ``multi_process.py`` (kill -9 a service process
under load) and ``failover.py`` (a failing PostgreSQL primary) share it, and docs/deploy.md
describes the deployment they try out:

- :func:`prepare_database` runs what an operator runs once (``python -m settlement migrate``,
  ``catalogue import``, ``bootstrap-admin``) against the database URL, with a fresh key store;
- :func:`deployment` does that, starts the service processes and provisions a hospital's
  terminals and insured cards through them (both scripts' set-up);
- :class:`ServiceProcess` is one ``python -m settlement serve --workers 1`` on its own port that
  can be killed (``SIGKILL``) and started again on the same port;
- :class:`RoundRobin` sends each request to the next process in turn and, as a careful client
  does, retries a request that got no answer (connection refused or reset) or a ``503`` on the
  next process **with the same Idempotency-Key**, and a ``409 idempotency_in_progress`` after a
  short pause, so every request is answered exactly once in effect (docs/api.md §Idempotency);
- :func:`settle_one` is one complete stay (challenge, admission, fees, challenge, settlement)
  through such a client; :func:`stored_settlements` reads back what the database holds.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.settlement_load import SAMPLE_CATALOGUE, Card, fee_lines, free_port, provision
from card.keystore import KeyStore

#: Statuses after which a request is sent again (same Idempotency-Key) on the next process.
RETRY_STATUSES = frozenset({502, 503, 504})


def settlement_env(workdir: Path, keystore_path: Path, url: str) -> dict[str, str]:
    """The environment every service process and CLI command of one deployment shares."""
    return dict(
        os.environ,
        SSCARD_HOME=str(workdir),
        SSCARD_DATABASE_URL=url,
        SSCARD_KEYSTORE=str(keystore_path),
        PYTHONPATH=str(REPO),
    )


def start_all(services: list[ServiceProcess]) -> None:
    """Start several service processes at once."""
    for service in services:
        service.spawn()
    for service in services:
        service.wait_ready()


def stop_all(services: list[ServiceProcess]) -> None:
    for service in services:
        if service.alive:
            service.process.send_signal(signal.SIGTERM)
    for service in services:
        service.stop()


def _python(env: dict[str, str], argv: list[str], what: str) -> str:
    """``python ARGV`` in the deployment's environment (raises ``what: <its stderr>`` when it
    fails); its stdout."""
    done = subprocess.run(
        [sys.executable, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what}: {done.stderr.strip()[-800:]}")
    return done.stdout


def settlement_cli(env: dict[str, str], *args: str) -> str:
    """``python -m settlement ARGS`` (raises with its stderr when it fails); its stdout."""
    return _python(env, ["-m", "settlement", *args], f"settlement {' '.join(args)}")


def reconciled(env: dict[str, str]) -> bool:
    """Today's report of the benchmark hospital balances and the ledger check holds (the CLI
    exits non-zero otherwise)."""
    try:
        report = settlement_cli(env, "report", "--json", "--ledger", "--institution", "BENCHH")
    except RuntimeError:
        return False
    data = json.loads(report)
    return bool(data["balanced"] and data["ledger"]["ok"])


#: What an operator runs once, in one interpreter: ``python -m settlement migrate``,
#: ``catalogue import FILE``, ``bootstrap-admin`` (prints the admin's API key last).
_SETUP = """
import sys
from settlement.cli import main
for argv in (["migrate"], ["catalogue", "import", sys.argv[1]], ["bootstrap-admin"]):
    if main(argv):
        sys.exit(f"settlement {' '.join(argv)} failed")
"""


def prepare_database(workdir: Path, url: str) -> tuple[dict[str, str], str, KeyStore]:
    """Migrate ``url``, load the sample catalogue, make an admin key; (env, admin key, keys)."""
    keystore_path = workdir / "keystore.json"
    keystore = KeyStore.generate()
    keystore.save(keystore_path)
    env = settlement_env(workdir, keystore_path, url)
    out = _python(env, ["-c", _SETUP, str(SAMPLE_CATALOGUE)], "setting up the database failed")
    return env, out.strip().splitlines()[-1], keystore


@dataclass
class Deployment:
    """What :func:`deployment` set up: the shared environment, the admin's key, the key store,
    the running service processes, the hospital terminals' API keys and the insured cards."""

    env: dict[str, str]
    admin: str
    keystore: KeyStore
    services: list[ServiceProcess]
    keys: list[str]
    cards: list[Card]

    @property
    def ports(self) -> list[int]:
        return [service.port for service in self.services]

    def tracebacks(self) -> int:
        """Python tracebacks in the service processes' logs (none expected)."""
        return sum(service.tracebacks() for service in self.services)


@contextmanager
def deployment(
    workdir: Path, url: str, processes: int, terminals: int, people: int
) -> Iterator[Deployment]:
    """The database at ``url`` prepared (:func:`prepare_database`), ``processes`` service
    processes started, and a card centre, a hospital with ``terminals`` terminals and
    ``people`` insured cards provisioned through the first; the processes are stopped on exit."""
    env, admin, keystore = prepare_database(workdir, url)
    services = [ServiceProcess(f"p{i}", env, workdir) for i in range(processes)]
    try:
        start_all(services)
        keys, cards = provision(services[0].port, admin, keystore, terminals, people)
        yield Deployment(env, admin, keystore, services, keys, cards)
    finally:
        stop_all(services)


def add_deployment_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both scenario scripts take: --quick, --concurrency, --people, --processes."""
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the test suite")
    parser.add_argument("--concurrency", type=int, default=6, help="terminals at once")
    parser.add_argument("--people", type=int, default=24)
    parser.add_argument("--processes", type=int, default=2, help="service processes (>= 2)")


def check_processes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse fewer than two service processes (the scenarios need one to fail over to)."""
    if args.processes < 2:
        parser.error("--processes must be 2 or more")


class ServiceProcess:
    """One ``python -m settlement serve`` (one worker) on a fixed port; killable, restartable."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> float:
        """Start it and wait until it answers HTTP (any status); the seconds that took."""
        began = time.monotonic()
        self.spawn()
        self.wait_ready(timeout)
        return time.monotonic() - began

    def spawn(self) -> None:
        """Start the process (not waiting for it: :meth:`wait_ready`)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        command = [sys.executable, "-m", "settlement", "serve", "--workers", "1"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--no-migrate"]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        log.close()
        self.starts += 1

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until it answers HTTP (any status)."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                break
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/v1/health")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"service {self.name} did not start; see {self.log_path}")

    def tracebacks(self) -> int:
        """How many Python tracebacks its log holds (an unexpected error would leave one)."""
        try:
            return self.log_path.read_text(errors="replace").count("Traceback")
        except OSError:
            return 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """``kill -9``: no shutdown, open transactions are left to the database to roll back."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), SIGKILL after 15 s."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Answer:
    status: int
    body: dict | list | None
    headers: dict[str, str]
    attempts: int


@dataclass
class Stats:
    """What the clients met, over all of them (thread-safe counters)."""

    statuses: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)  # "status code" of every 4xx/5xx
    connection_failures: int = 0
    retries: int = 0
    retry_after_missing: int = 0
    not_problem_json: int = 0  # refusals not sent as problem+json
    replays: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, result: tuple | None) -> None:
        """Count one attempt's answer ((status, body, headers), or None: no answer)."""
        with self.lock:
            if result is None:
                self.connection_failures += 1
                return
            status, body, headers = result
            self.statuses[status] += 1
            if headers.get("idempotent-replay") == "true":
                self.replays += 1  # a retry answered with the first attempt's stored answer
            if status >= 400:
                code = body.get("code") if isinstance(body, dict) else None
                self.refusals[f"{status} {code}"] += 1
                if not headers.get("content-type", "").startswith("application/problem+json"):
                    self.not_problem_json += 1
            if status == 503 and not headers.get("retry-after"):
                self.retry_after_missing += 1


class RoundRobin:
    """A plain round-robin client over several service processes (module docstring)."""

    _run = secrets.token_hex(4)
    _keys = itertools.count()

    def __init__(self, ports: list[int], api_key: str, stats: Stats, give_up_s: float = 60):
        self.ports = ports
        self.api_key = api_key
        self.stats = stats
        self.give_up_s = give_up_s
        self.turn = itertools.cycle(range(len(ports)))
        self.connections: dict[int, http.client.HTTPConnection] = {}

    def new_key(self) -> str:
        return f"{self._run}-{next(self._keys)}"

    def _once(self, port: int, method: str, path: str, body: bytes, key: str | None):
        connection = self.connections.get(port)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            self.connections[port] = connection
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self.connections.pop(port, None)
            return None
        answer = {k.lower(): v for k, v in response.getheaders()}
        return response.status, json.loads(content) if content else None, answer

    def once(self, method: str, path: str, body: dict | None, key: str) -> Answer | None:
        """One attempt on the next process, no retry; None when it did not answer."""
        payload = json.dumps(body).encode() if body is not None else b""
        result = self._once(self.ports[next(self.turn)], method, path, payload, key)
        self.stats.saw(result)
        return Answer(*result, attempts=1) if result else None

    def call(
        self, method: str, path: str, body: dict | None = None, *, key: str | None = "new"
    ) -> Answer:
        """Send until answered (not 502/503/504, not in progress); same key on every attempt."""
        key = self.new_key() if key == "new" else key
        payload = json.dumps(body).encode() if body is not None else b""
        deadline = time.monotonic() + self.give_up_s
        attempts = 0
        while True:
            attempts += 1
            port = self.ports[next(self.turn)]
            result = self._once(port, method, path, payload, key)
            self.stats.saw(result)
            if result is not None:
                status, answer, headers = result
                in_progress = status == 409 and (answer or {}).get("code") == (
                    "idempotency_in_progress"
                )
                if status not in RETRY_STATUSES and not in_progress:
                    return Answer(status, answer, headers, attempts)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: no answer after {attempts} attempts")
            with self.stats.lock:
                self.stats.retries += 1
            wait = 0.05
            if result is not None and result[0] == 503:
                wait = min(1.0, float(result[2].get("retry-after", "1") or 1))
            time.sleep(wait * (0.5 + secrets.randbelow(100) / 100))


def must(answer: Answer, status: int, what: str) -> dict:
    if answer.status != status:
        raise RuntimeError(f"{what}: HTTP {answer.status} {answer.body}")
    return answer.body


def proof(client: RoundRobin, card: Card, purpose: str) -> dict:
    challenge = client.call("POST", "/v1/challenges", {"card_no": card.card_no, "purpose": purpose})
    ch = must(challenge, 201, "challenge")
    return {
        "card_no": card.card_no,
        "challenge_id": ch["challenge_id"],
        "cryptogram": card.cryptogram(ch["nonce"]),
    }


def admit_with_fees(client: RoundRobin, card: Card, fee_lines: list[dict]) -> str:
    """An admission with its fee lines (retried as needed); its mdtrt_id."""
    body = {"psn_no": card.psn_no, "insutype": "310", "proof": proof(client, card, "admission")}
    mdtrt_id = must(client.call("POST", "/v1/admissions", body), 201, "admission")["mdtrt_id"]
    fees = {"feedetail": fee_lines}
    must(client.call("POST", f"/v1/admissions/{mdtrt_id}/fees", fees), 200, "fees")
    return mdtrt_id


def settle_one(client: RoundRobin, card: Card, fee_lines: list[dict]) -> dict:
    """One complete stay; the settlement as the client was told it (acknowledged)."""
    mdtrt_id = admit_with_fees(client, card, fee_lines)
    body = {"acct_used_flag": True, "proof": proof(client, card, "discharge")}
    answer = client.call("POST", f"/v1/admissions/{mdtrt_id}/settlement", body)
    return must(answer, 201, "settlement")


class Terminals:
    """Terminals settling stays (:func:`settle_one`) in threads until :meth:`stop`, each with its
    own key and cards, through one round-robin client each."""

    def __init__(self, ports: list[int], keys: list[str], cards: list[Card], stats: Stats):
        self.ports, self.keys, self.cards, self.stats = ports, keys, cards, stats
        self.settled: list[dict] = []
        self.errors: list[str] = []
        self.lines = fee_lines()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._terminal, args=(i,)) for i in range(len(keys))
        ]

    def _terminal(self, i: int) -> None:
        client = RoundRobin(self.ports, self.keys[i], self.stats)
        mine = self.cards[i :: len(self.keys)]
        n = 0
        while not self._stop.is_set():
            try:
                setl = settle_one(client, mine[n % len(mine)], self.lines)
            except Exception as error:  # noqa: BLE001 - reported in the JSON
                with self._lock:
                    self.errors.append(str(error)[:300])
            else:
                with self._lock:
                    self.settled.append(setl)
            n += 1

    def start(self) -> Terminals:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Let every terminal finish the stay it is in, then return."""
        self._stop.set()
        for thread in self._threads:
            thread.join()


#: The settlement fields compared between what a client was told and what is stored.
COMPARED = ("setl_id", "mdtrt_id", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")


def stored_settlements(dsn: str) -> list[dict]:
    """Every settlement row of the database at ``dsn`` (libpq URL), the compared fields."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rows = conn.execute(f"SELECT {', '.join(COMPARED)} FROM settlement").fetchall()
    return [dict(zip(COMPARED, row, strict=True)) for row in rows]


def check_stored(acknowledged: list[dict], stored: list[dict]) -> dict:
    """Every acknowledged settlement stored as told, none doubled (one per admission)."""
    by_id = {row["setl_id"]: row for row in stored}
    per_admission = Counter(row["mdtrt_id"] for row in stored)
    missing = [s["setl_id"] for s in acknowledged if s["setl_id"] not in by_id]
    differing = [
        s["setl_id"]
        for s in acknowledged
        if s["setl_id"] in by_id and any(by_id[s["setl_id"]][k] != s[k] for k in COMPARED)
    ]
    told = {s["setl_id"] for s in acknowledged}
    return {
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "missing": len(missing),
        "differing": len(differing),
        "doubled": sum(n - 1 for n in per_admission.values() if n > 1),
        "stored_not_acknowledged": len(set(by_id) - told),
    }
