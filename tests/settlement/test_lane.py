"""The lean dispatch of the hot writes (settlement/api/lane.py, issue #14).

One service, two applications: ``lean`` as ``create_app`` builds it, ``plain`` the same
application without the hot routes (the FastAPI routes answer everything). Every refusal
must be the same answer, byte for byte, from both; a valid request must be answered by the
lean route itself (its FastAPI route is not called) with the same kind of answer.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from card.crypto import Algorithm, encrypt_ecb
from card.keystore import KEY_TRANSACTION
from settlement.api.lane import HotRoute
from settlement.catalogue import load_sample_catalogue
from settlement.config import Settings
from settlement.institutions import insert_admin_key
from settlement.main import create_app
from settlement.migrate import upgrade

REGION = "430100"
HOT = {
    "/v1/challenges",
    "/v1/admissions",
    "/v1/admissions/{mdtrt_id}/fees",
    "/v1/admissions/{mdtrt_id}/settlement",
}


class Apps:
    """The two applications over one service, an admin key and a hospital terminal."""

    def __init__(self, tmp_path) -> None:
        url = f"sqlite:///{tmp_path / 'lane.db'}"
        upgrade(url)
        settings = Settings(url, str(tmp_path / "keystore.json"))
        self.lean_app = create_app(settings)
        service = self.lean_app.state.service
        self.plain_app = create_app(service=service)
        routes = self.plain_app.router.routes
        routes[:] = [route for route in routes if not isinstance(route, HotRoute)]
        with service.db.write() as conn:
            self.admin_key = insert_admin_key(conn, "lane test")["api_key"]
            load_sample_catalogue(conn, service.policy, datetime.now(UTC))
        self.keystore = service.keystore
        self.lean = TestClient(self.lean_app)
        self.plain = TestClient(self.plain_app)
        self.fallbacks = 0
        for route in self.lean_app.router.routes:
            if isinstance(route, HotRoute):
                route.route = _Counted(route.route, self)
        self.hospital = self.terminal("LANEH", {"kind": "hospital", "hospital_level": 3})
        self.centre = self.terminal("LANECC", {"kind": "card_centre"})

    def post(self, client: TestClient, path: str, key: str, body=None, **kw):
        headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
        return client.post(path, json=body, headers=headers, **kw)

    def terminal(self, code: str, fields: dict) -> str:
        self.ok(
            self.post(
                self.plain,
                "/v1/institutions",
                self.admin_key,
                {"code": code, "name": code, **fields},
                headers=_idem(),
            )
        )
        answer = self.post(
            self.plain,
            f"/v1/institutions/{code}/terminals",
            self.admin_key,
            {"terminal_id": f"{code}-1"},
            headers=_idem(),
        )
        return self.ok(answer)["api_key"]

    def card(self) -> tuple[str, str, bytes]:
        """A covered person with an active 3DES card: (psn_no, card_no, card factor)."""
        psn_no, card_no, factor = (
            "LP" + secrets.token_hex(4),
            "L" + secrets.token_hex(4),
            secrets.token_bytes(8),
        )
        person = {
            "psn_no": psn_no,
            "psn_name": "test",
            "brdy": "1980-01-01",
            "certno": "430102198001011234",
            "acct_balance": 100_000,
        }
        self.ok(self.post(self.plain, "/v1/people", self.centre, person, headers=_idem()))
        coverage = {"psn_no": psn_no, "insutype": "310", "begndate": "2020-01-01", "reason": "test"}
        self.ok(
            self.post(
                self.plain,
                "/v1/admin/coverage-migrations",
                self.admin_key,
                coverage,
                headers=_idem(),
            )
        )
        record = {
            "card_no": card_no,
            "card_id_code": REGION + "D156000005" + factor.hex(),
            "algorithm": "3des",
            "region": REGION,
            "expiry": "2036-01-01",
            "bank_code": "102",
            "psn_no": psn_no,
            "status": "active",
        }
        self.ok(self.post(self.plain, "/v1/cards", self.centre, record, headers=_idem()))
        return psn_no, card_no, factor

    def proof(self, client: TestClient, card_no: str, factor: bytes, purpose: str) -> dict:
        challenge = self.ok(
            self.post(
                client,
                "/v1/challenges",
                self.hospital,
                {"card_no": card_no, "purpose": purpose},
                headers=_idem(),
            )
        )
        key = self.keystore.card_key(Algorithm.TDES, KEY_TRANSACTION, REGION, factor)
        cryptogram = encrypt_ecb(Algorithm.TDES, key, bytes.fromhex(challenge["nonce"])).hex()
        return {
            "card_no": card_no,
            "challenge_id": challenge["challenge_id"],
            "cryptogram": cryptogram,
        }

    @staticmethod
    def ok(answer) -> dict:
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def close(self) -> None:
        self.lean.close()
        self.plain.close()
        self.lean_app.state.service.db.dispose()


class _Counted:
    """A FastAPI route that counts how often the lean route handed it a request."""

    def __init__(self, route, apps: Apps) -> None:
        self._route = route
        self._apps = apps

    def __getattr__(self, name):
        return getattr(self._route, name)

    async def handle(self, scope, receive, send) -> None:
        self._apps.fallbacks += 1
        await self._route.handle(scope, receive, send)


def _idem() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(12)}


@pytest.fixture
def apps(tmp_path):
    apps = Apps(tmp_path)
    yield apps
    apps.close()


def same_answer(lean, plain) -> None:
    """Status, headers (but the request id) and body byte for byte."""
    assert (lean.status_code, lean.content) == (plain.status_code, plain.content)

    def headers(answer):
        return [(k, v) for k, v in answer.headers.multi_items() if k != "x-request-id"]

    assert headers(lean) == headers(plain)


def test_the_hot_routes_come_first_and_wrap_their_fastapi_routes(apps) -> None:
    routes = apps.lean_app.router.routes
    hot = [route for route in routes if isinstance(route, HotRoute)]
    assert {route.path for route in hot} == HOT
    assert routes[: len(hot)] == hot
    for route in hot:
        assert route.route.path == route.path and route.route.methods == {"POST"}


REFUSALS = [
    # (path, body, extra request arguments): each refused the same way by both applications
    ("/v1/challenges", {"card_no": "NOSUCH", "purpose": "admission"}, {}),
    ("/v1/challenges", {"card_no": "NOSUCH", "purpose": "lunch"}, {}),
    ("/v1/challenges", {"card_no": "NOSUCH"}, {}),
    ("/v1/challenges", None, {"content": b'{"card_no": "X",'}),
    ("/v1/challenges", None, {"content": b'\xef\xbb\xbf{"card_no": "X", "purpose": "admission"}'}),
    (
        "/v1/challenges",
        None,
        {
            "content": b'{"card_no": "X", "purpose": "admission"}',
            "headers": {"Content-Type": "text/plain"},
        },
    ),
    ("/v1/challenges", None, {"content": b""}),
    ("/v1/admissions", {"psn_no": "NOSUCH", "insutype": "310"}, {}),
    (
        "/v1/admissions",
        {
            "psn_no": "NOSUCH",
            "insutype": "310",
            "proof": {"card_no": "X", "challenge_id": "Y", "cryptogram": "00"},
        },
        {},
    ),
    (
        "/v1/admissions/NOSUCH/fees",
        {"feedetail": [{"feedetl_sn": "1", "med_list_codg": "X", "cnt": 1, "pric": 100}]},
        {},
    ),
    ("/v1/admissions/NOSUCH/fees", {"feedetail": "none"}, {}),
    ("/v1/admissions/NOSUCH/settlement", {"acct_used_flag": False}, {}),
]


@pytest.mark.parametrize(("path", "body", "extra"), REFUSALS)
def test_refusals_are_the_fastapi_routes_answers(apps, path, body, extra) -> None:
    key = secrets.token_hex(8)
    headers = {"Idempotency-Key": key, **extra.pop("headers", {})}
    lean = apps.post(apps.lean, path, apps.hospital, body, headers=headers, **extra)
    headers["Idempotency-Key"] = key + "p"
    plain = apps.post(apps.plain, path, apps.hospital, body, headers=headers, **extra)
    assert lean.status_code >= 400
    same_answer(lean, plain)


def test_idempotency_refusals_and_replays_are_the_same(apps) -> None:
    body = {"card_no": "NOSUCH", "purpose": "admission"}
    for client in (apps.lean, apps.plain):  # no key: 428 from the write path
        assert apps.post(client, "/v1/challenges", apps.hospital, body).status_code == 428
    same_answer(
        apps.post(apps.lean, "/v1/challenges", apps.hospital, body),
        apps.post(apps.plain, "/v1/challenges", apps.hospital, body),
    )
    key = {"Idempotency-Key": "lane-replay"}
    first = apps.post(apps.plain, "/v1/challenges", apps.hospital, body, headers=key)
    replay_lean = apps.post(apps.lean, "/v1/challenges", apps.hospital, body, headers=key)
    replay_plain = apps.post(apps.plain, "/v1/challenges", apps.hospital, body, headers=key)
    assert replay_lean.headers["Idempotent-Replay"] == "true"
    assert replay_lean.content == first.content
    same_answer(replay_lean, replay_plain)
    other = {"card_no": "OTHER", "purpose": "admission"}
    same_answer(
        apps.post(apps.lean, "/v1/challenges", apps.hospital, other, headers=key),
        apps.post(apps.plain, "/v1/challenges", apps.hospital, other, headers=key),
    )


def test_a_complete_cycle_is_answered_by_the_lean_routes(apps) -> None:
    """Valid requests never reach the FastAPI route; the answers have the FastAPI route's
    shape (status, content type, fields)."""
    answers = {}
    for name, client in (("plain", apps.plain), ("lean", apps.lean)):
        psn_no, card_no, factor = apps.card()
        before = apps.fallbacks
        proof = apps.proof(client, card_no, factor, "admission")
        admission = apps.post(
            client,
            "/v1/admissions",
            apps.hospital,
            {"psn_no": psn_no, "insutype": "310", "proof": proof},
            headers=_idem(),
        )
        mdtrt_id = apps.ok(admission)["mdtrt_id"]
        lines = [{"feedetl_sn": "001", "med_list_codg": _first_code(), "cnt": 2, "pric": 1234}]
        fees = apps.post(
            client,
            f"/v1/admissions/{mdtrt_id}/fees",
            apps.hospital,
            {"feedetail": lines},
            headers=_idem(),
        )
        proof = apps.proof(client, card_no, factor, "discharge")
        settled = apps.post(
            client,
            f"/v1/admissions/{mdtrt_id}/settlement",
            apps.hospital,
            {"acct_used_flag": True, "proof": proof},
            headers=_idem(),
        )
        answers[name] = [
            (a.status_code, a.headers["content-type"], sorted(a.json()))
            for a in (admission, fees, settled)
        ]
        if name == "lean":
            assert apps.fallbacks == before  # five requests, none handed to FastAPI
    assert answers["lean"] == answers["plain"]
    assert [status for status, _, _ in answers["lean"]] == [201, 200, 201]


def _first_code() -> str:
    from settlement.catalogue import sample_catalogue

    return sample_catalogue().decode("utf-8-sig").splitlines()[1].split(",", 1)[0]


def test_a_first_answer_is_sent_as_its_idempotency_record(apps) -> None:
    """The body is encoded once: the bytes sent are the stored record's text, and they are what
    a JSON response of the same body renders."""
    from starlette.responses import JSONResponse

    _psn_no, card_no, _factor = apps.card()
    key = secrets.token_hex(8)
    body = {"card_no": card_no, "purpose": "admission"}
    answer = apps.post(
        apps.lean, "/v1/challenges", apps.hospital, body, headers={"Idempotency-Key": key}
    )
    assert answer.status_code == 201
    with apps.lean_app.state.service.db.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT response_body FROM idempotency_record WHERE idempotency_key = ?", (key,)
        ).scalar_one()
    assert answer.content == stored.encode()
    assert answer.content == JSONResponse(answer.json()).body
    replay = apps.post(
        apps.lean, "/v1/challenges", apps.hospital, body, headers={"Idempotency-Key": key}
    )
    assert (replay.content, replay.headers["Idempotent-Replay"]) == (answer.content, "true")
