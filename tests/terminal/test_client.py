"""The settlement client's retries and errors, against a small real HTTP server.

The server answers scripted statuses so the client's behaviour on each is
visible: a retry must carry the same Idempotency-Key and body; problem+json
codes reach the caller; non-retryable refusals are not retried.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from terminal.client.applications import ApplicationsClient
from terminal.client.http import RetryPolicy, ServiceRefused, ServiceUnavailable
from terminal.client.settlement import SettlementClient


class Script:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict]] = []
        self.seen: list[dict] = []


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "key": self.headers.get("Idempotency-Key"),
                    "auth": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            status, payload = script.answers.pop(0) if script.answers else (200, {})
            data = json.dumps(payload).encode()
            self.send_response(status)
            ctype = "application/problem+json" if status >= 400 else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def problem(status: int, code: str, detail: str = "") -> tuple[int, dict]:
    return status, {
        "type": f"x/{code}",
        "title": code,
        "status": status,
        "detail": detail,
        "code": code,
    }


def client_for(url: str) -> SettlementClient:
    return SettlementClient(url, "sk_test_secret", retry=RetryPolicy(attempts=3, backoff_s=0.01))


def test_retry_reuses_idempotency_key_and_body(server):
    url, script = server
    script.answers = [
        problem(503, "busy"),
        problem(409, "idempotency_in_progress"),
        (201, {"mdtrt_id": "M1"}),
    ]
    with client_for(url) as client:
        answer = client.admit({"psn_no": "P1"}, idempotency_key="k-123")
    assert answer == {"mdtrt_id": "M1"}
    assert [seen["key"] for seen in script.seen] == ["k-123"] * 3
    assert len({seen["body"] for seen in script.seen}) == 1
    assert script.seen[0]["auth"] == "Bearer sk_test_secret"


def test_refusal_carries_code_and_is_not_retried(server):
    url, script = server
    script.answers = [problem(403, "card_lost", "card X1 was reported lost on 2026-11-20")]
    with client_for(url) as client, pytest.raises(ServiceRefused) as info:
        client.challenge("X1", "admission")
    assert info.value.code == "card_lost"
    assert info.value.status == 403
    assert "reported lost" in str(info.value)
    assert len(script.seen) == 1


def test_conflicts_other_than_in_progress_are_final(server):
    url, script = server
    script.answers = [problem(409, "already_settled")]
    with client_for(url) as client, pytest.raises(ServiceRefused) as info:
        client.settle("M1", {"acct_used_flag": True})
    assert info.value.code == "already_settled"
    assert len(script.seen) == 1


def test_gives_up_after_attempts(server):
    url, script = server
    script.answers = [problem(503, "busy")] * 3
    with client_for(url) as client, pytest.raises(ServiceUnavailable):
        client.upload_fees("M1", [{"feedetl_sn": "1"}])
    assert len(script.seen) == 3
    assert len({seen["key"] for seen in script.seen}) == 1


def test_unreachable_service_is_unavailable():
    client = SettlementClient(
        "http://127.0.0.1:9", "k", retry=RetryPolicy(attempts=2, backoff_s=0.0), timeout=1.0
    )
    with client, pytest.raises(ServiceUnavailable, match="cannot reach"):
        client.card("X1")


def test_gets_carry_no_idempotency_key(server):
    url, script = server
    script.answers = [(200, {"card_no": "X1", "status": "active"})]
    with client_for(url) as client:
        assert client.card("X1")["status"] == "active"
    assert script.seen[0]["key"] is None and script.seen[0]["method"] == "GET"


def test_card_production_calls_go_to_the_application_paths(server):
    """ApplicationsClient: each step is a POST to its own path with its own idempotency key;
    ``like`` talks to the same service with the same key."""
    url, script = server
    script.answers = [(200, {"status": "in_progress"})] * 4
    with client_for(url) as settlement, ApplicationsClient.like(settlement) as client:
        client.audit("AP1")
        client.pre_check("AP1", "X00000001")
        client.issue("AP1", "张三", "2026-11-20T15:30:00+08:00")
        client.applications(batch_id="BT1", limit=5000)
    assert [(s["method"], s["path"]) for s in script.seen] == [
        ("POST", "/v1/applications/AP1/audit"),
        ("POST", "/v1/applications/AP1/pre-check"),
        ("POST", "/v1/applications/AP1/issuance"),
        ("GET", "/v1/applications?batch_id=BT1&limit=5000"),
    ]
    assert json.loads(script.seen[0]["body"]) == {}
    assert json.loads(script.seen[1]["body"]) == {"card_no": "X00000001"}
    assert json.loads(script.seen[2]["body"]) == {
        "collected_by": "张三",
        "collected_at": "2026-11-20T15:30:00+08:00",
    }
    keys = [s["key"] for s in script.seen[:3]]
    assert None not in keys and len(set(keys)) == 3 and script.seen[3]["key"] is None
    assert {s["auth"] for s in script.seen} == {"Bearer sk_test_secret"}
