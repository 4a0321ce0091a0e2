"""A request body must arrive within SSCARD_BODY_TIMEOUT of its head (settlement/server.py,
docs/operations.md §Connections and timeouts): an authenticated client that sends its headers
and then trickles its body is answered ``408 body_timeout`` and closed; one answered before
its body was read (401 at the front door) is closed; a body in time is served as always.
Real uvicorn (``python -m settlement serve``, both ``--http`` protocols) and plain sockets."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.settlement.test_operations import _closed_with, _open

# The least SSCARD_BODY_TIMEOUT allows (whole seconds, >= 1): every wait below is a multiple.
BODY_TIMEOUT_S = 1


@pytest.fixture(scope="module", params=["httptools", "h11"])
def slow(request, settlement_service_factory):
    """A service with a short body deadline, on each of uvicorn's HTTP protocols."""
    env = {"SSCARD_BODY_TIMEOUT": str(BODY_TIMEOUT_S)}
    return settlement_service_factory(extra_env=env, http=request.param)


def _head(key: str | None, length: int) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        "POST /v1/challenges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{auth}Idempotency-Key: slow-{time.monotonic_ns()}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _trickle(sock: socket.socket, seconds: float) -> None:
    """One body byte every 0.2 s for ``seconds`` (stops quietly once the server closed)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            sock.sendall(b" ")
        except OSError:
            return
        time.sleep(0.2)


def test_a_trickled_body_is_answered_408_body_timeout_and_closed(slow):
    sock = _open(slow.url)
    try:
        sock.sendall(_head(slow.admin_key, 1000) + b'{"card_no": ')
        started = time.monotonic()
        _trickle(sock, BODY_TIMEOUT_S + 1.5)
        answer = _closed_with(sock, 10)
        took = time.monotonic() - started
    finally:
        sock.close()
    assert answer is not None, "the connection was left open"
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["code"] == "body_timeout" and problem["status"] == 408
    assert f"{BODY_TIMEOUT_S} s" in problem["detail"]
    assert BODY_TIMEOUT_S - 0.5 < took < BODY_TIMEOUT_S + 5, took
    # The service goes on, and its log holds no traceback of the abandoned request.
    assert httpx.get(f"{slow.url}/v1/health", timeout=10).status_code == 200
    assert "Traceback" not in slow.log_tail(20000)


def test_a_client_answered_before_its_body_is_closed_when_it_trickles_on(slow):
    sock = _open(slow.url)
    try:
        sock.sendall(_head(None, 1000) + b"{")  # no key: the front door answers at once
        _trickle(sock, BODY_TIMEOUT_S + 1.5)
        answer = _closed_with(sock, 10)
    finally:
        sock.close()
    assert answer is not None, "the connection was left open"
    assert answer.startswith(b"HTTP/1.1 401 "), answer
    assert b"body_timeout" not in answer  # one answer a request, no second one


def _one_answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer (head and its Content-Length of body) read from ``sock``."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"<closed>"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536) or b"<closed>"
    return head + b"\r\n\r\n" + body


def test_a_slow_body_within_the_deadline_is_served_on_a_kept_alive_connection(slow):
    body = json.dumps({"card_no": "NO-SUCH-CARD", "purpose": "admission"}).encode()
    sock = _open(slow.url)
    try:
        for _ in range(2):  # the deadline is per request, not per connection
            sock.sendall(_head(slow.admin_key, len(body)) + body[:5])
            time.sleep(BODY_TIMEOUT_S / 2)
            sock.sendall(body[5:])
            answer = _one_answer(sock)
            assert answer.startswith((b"HTTP/1.1 403 ", b"HTTP/1.1 404 ")), answer
            assert b"body_timeout" not in answer
            time.sleep(BODY_TIMEOUT_S / 2 + 0.5)  # past the first deadline: nothing comes
        assert _closed_with(sock, 0.5) is None  # still open
    finally:
        sock.close()
