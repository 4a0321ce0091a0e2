"""The settlement API suite runs once on SQLite and once on a real PostgreSQL server.

``api`` is a started service (uvicorn process, migrated database, admin key)
for the session, per database. ``world`` builds what a test needs through the
HTTP API only: institutions and terminals with their keys, people with
coverage, cards (with a card factor whose key 02 the test derives from the
service's key store, or a real :class:`card.icc.VirtualCard`), and proofs.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

from card.crypto import Algorithm, encrypt_ecb
from card.keystore import KEY_TRANSACTION, KeyStore
from tests.fixtures.benchmarks import run_quick

CHINA = timezone(timedelta(hours=8))
REGION = "430100"
_counter = itertools.count(1)


def uid(prefix: str = "") -> str:
    return f"{prefix}{next(_counter):04d}{secrets.token_hex(3).upper()}"


def idem() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(12)}


def today() -> date:
    return datetime.now(CHINA).date()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def api(request, settlement_service_factory):
    """The running service, on SQLite and on PostgreSQL (the server starts only when needed)."""
    if request.param == "sqlite":
        return settlement_service_factory()
    server = request.getfixturevalue("postgres_server")
    return settlement_service_factory(
        database_url=server.create_database(f"settlement_{uid().lower()}")
    )


@pytest.fixture(scope="session")
def settlement_load_quick() -> dict:
    """``benchmarks/settlement_load.py --quick --database postgresql --history 200``, run once
    for the session: its JSON line. Its first run (SQLite, 2 processes) is the plain
    ``--quick`` run, with the same keys on top of the line, so the load benchmark's test
    (test_benchmark_quick.py) and the PostgreSQL + history test
    (test_scale_benchmark_quick.py) check one run instead of starting it twice."""
    return run_quick(
        "settlement_load.py", "--database", "postgresql", "--history", "200", timeout=300
    )


@dataclass
class CardInfo:
    card_no: str
    factor: bytes
    algorithm: Algorithm
    psn_no: str

    @property
    def id_code(self) -> str:
        return (REGION + "D156000005" + self.factor.hex()).upper()


class World:
    """Builds people, cards and institutions through the API of one running service."""

    def __init__(self, service) -> None:
        self.service = service
        self.admin = service.client()
        self.keystore: KeyStore = service.keystore()
        self._centre: httpx.Client | None = None

    # --- institutions --------------------------------------------------------------

    def terminal(self, kind: str = "hospital", **fields) -> httpx.Client:
        """A new institution of ``kind`` with one terminal; its client."""
        code = uid(kind[:2].upper())
        if kind == "hospital":
            fields.setdefault("hospital_level", 3)
        if kind == "bank_branch":
            fields.setdefault("bank_code", "102")
        key = self.service.add_terminal(code, kind=kind, **fields)
        client = self.service.client(key)
        client.institution = code  # type: ignore[attr-defined]
        return client

    def second_terminal(self, client: httpx.Client) -> httpx.Client:
        key = self.service.add_terminal(client.institution)  # type: ignore[attr-defined]
        other = self.service.client(key)
        other.institution = client.institution  # type: ignore[attr-defined]
        return other

    @property
    def centre(self) -> httpx.Client:
        if self._centre is None:
            self._centre = self.terminal("card_centre")
        return self._centre

    # --- people, coverage, cards -------------------------------------------------------

    def person(
        self,
        *,
        insutype: str = "310",
        covered: bool = True,
        paid: bool = True,
        brdy: str = "1980-05-17",
        acct_balance: int = 0,
        **fields,
    ) -> str:
        psn_no = uid("P")
        body = {
            "psn_no": psn_no,
            "psn_name": "张三",
            "brdy": brdy,
            "certno": fields.pop("certno", "43010219800517" + f"{secrets.randbelow(10**4):04d}"),
            "acct_balance": acct_balance,
            **fields,
        }
        answer = self.centre.post("/v1/people", json=body, headers=idem())
        assert answer.status_code == 201, answer.text
        if covered and paid:  # paid periods come from payments or the admin's migration
            answer = self.admin.post(
                "/v1/admin/coverage-migrations",
                json={
                    "psn_no": psn_no,
                    "insutype": insutype,
                    "begndate": "2020-01-01",
                    "reason": "test fixture",
                },
                headers=idem(),
            )
            assert answer.status_code == 201, answer.text
        elif covered:
            answer = self.centre.post(
                f"/v1/people/{psn_no}/coverage",
                json={"insutype": insutype, "begndate": "2020-01-01"},
                headers=idem(),
            )
            assert answer.status_code == 201, answer.text
        return psn_no

    def card(
        self,
        psn_no: str,
        *,
        status: str = "active",
        expiry: str = "2036-01-01",
        algorithm: Algorithm = Algorithm.TDES,
        bank_code: str = "102",
        factor: bytes | None = None,
    ) -> CardInfo:
        info = CardInfo(uid("X")[:9], factor or secrets.token_bytes(8), algorithm, psn_no)
        answer = self.centre.post(
            "/v1/cards",
            json={
                "card_no": info.card_no,
                "card_id_code": info.id_code,
                "algorithm": algorithm.value,
                "region": REGION,
                "expiry": expiry,
                "bank_code": bank_code,
                "psn_no": psn_no,
                "status": status,
            },
            headers=idem(),
        )
        assert answer.status_code == 201, answer.text
        return info

    def insured(self, **kw) -> tuple[str, CardInfo]:
        card_kw = {k: kw.pop(k) for k in ("algorithm", "expiry", "status", "bank_code") if k in kw}
        psn_no = self.person(**kw)
        return psn_no, self.card(psn_no, **card_kw)

    # --- the proof -----------------------------------------------------------------

    def challenge(self, desk: httpx.Client, card: CardInfo, purpose: str) -> dict:
        answer = desk.post(
            "/v1/challenges", json={"card_no": card.card_no, "purpose": purpose}, headers=idem()
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def cryptogram(self, card: CardInfo, nonce_hex: str) -> str:
        """What the card answers to INTERNAL AUTHENTICATE 02 once its PIN is verified."""
        key = self.keystore.card_key(card.algorithm, KEY_TRANSACTION, REGION, card.factor)
        return encrypt_ecb(card.algorithm, key, bytes.fromhex(nonce_hex)).hex().upper()

    def proof(self, desk: httpx.Client, card: CardInfo, purpose: str) -> dict:
        challenge = self.challenge(desk, card, purpose)
        return {
            "card_no": card.card_no,
            "challenge_id": challenge["challenge_id"],
            "cryptogram": self.cryptogram(card, challenge["nonce"]),
        }

    # --- the inpatient flow ---------------------------------------------------------

    def admit(
        self,
        desk: httpx.Client,
        psn_no: str,
        card: CardInfo | None,
        *,
        insutype: str = "310",
        expect: int = 201,
        **body,
    ) -> dict:
        payload = {"psn_no": psn_no, "insutype": insutype, **body}
        if card is not None and "exemption" not in body and "proof" not in body:
            payload["proof"] = self.proof(desk, card, "admission")
        answer = desk.post("/v1/admissions", json=payload, headers=idem())
        assert answer.status_code == expect, answer.text
        return answer.json()

    def fees(
        self,
        desk: httpx.Client,
        mdtrt_id: str,
        lines: list[tuple[str, int, int]],
        expect: int = 200,
    ) -> dict:
        """``lines``: (class, cnt, pric) each; serials generated."""
        body = {
            "feedetail": [
                {
                    "feedetl_sn": uid("F"),
                    "med_list_codg": f"ITEM{cls}",
                    "list_type": cls,
                    "cnt": cnt,
                    "pric": pric,
                }
                for cls, cnt, pric in lines
            ]
        }
        answer = desk.post(f"/v1/admissions/{mdtrt_id}/fees", json=body, headers=idem())
        assert answer.status_code == expect, answer.text
        return answer.json()

    def settle(
        self,
        desk: httpx.Client,
        mdtrt_id: str,
        card: CardInfo | None,
        *,
        expect: int = 201,
        acct_used_flag: bool = False,
        **body,
    ) -> dict:
        payload = {"acct_used_flag": acct_used_flag, **body}
        if card is not None and "exemption" not in body and "proof" not in body:
            payload["proof"] = self.proof(desk, card, "discharge")
        answer = desk.post(f"/v1/admissions/{mdtrt_id}/settlement", json=payload, headers=idem())
        assert answer.status_code == expect, answer.text
        return answer.json()

    def person_info(self, psn_no: str) -> dict:
        answer = self.admin.get(f"/v1/people/{psn_no}")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="session")
def world(api) -> World:
    return World(api)


def code_of(answer: httpx.Response) -> str | None:
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        return answer.json().get("code")
    return None
