"""Issue #16, run like a real service: JSON log lines without personal data or secrets, a
start-up line, request ids, /metrics in the Prometheus format added up over the workers,
and request heads that must arrive in time (docs/operations.md)."""

from __future__ import annotations

import json
import secrets
import socket
import stat
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import World, code_of, idem, uid

HEADER_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def ops(settlement_service_factory, tmp_path_factory):
    """A service of its own: two workers, its log in a file of a folder it makes, a short
    header deadline."""
    log_file = tmp_path_factory.mktemp("ops") / "logs" / "deep" / "service.jsonl"
    env = {
        "SSCARD_LOG_FILE": str(log_file),
        "SSCARD_LOG_FORMAT": "json",
        "SSCARD_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
    }
    # Two workers import the whole service each: on a loaded 2-core machine (load 20+) that
    # took more than 30 s.
    service = settlement_service_factory(workers=2, extra_env=env, start_timeout=120)
    service.log_file = log_file  # type: ignore[attr-defined]
    return service


def _lines(ops) -> list[dict]:
    text = ops.log_file.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _scrape(ops) -> dict[str, list]:
    answer = httpx.get(f"{ops.url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f.samples for f in text_string_to_metric_families(answer.text)}
    return families


def _value(families: dict, name: str, family: str, **labels) -> float:
    return sum(
        s.value
        for s in families.get(family, [])
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_log_is_json_lines_without_personal_data_or_secrets(ops):
    world = World(ops)
    name = "测试" + secrets.token_hex(3)
    document = "E" + secrets.token_hex(5).upper()
    password = "Pw-" + secrets.token_hex(6)
    psn_no = world.person(
        psn_name=name,
        documents=[{"document_type": "passport", "document_number": document}],
    )
    certno = world.centre.get(f"/v1/people/{psn_no}").json()["certno"]
    desk_key = ops.add_terminal(uid("HO"), kind="hospital", hospital_level=3)
    desk = ops.client(desk_key)
    assert desk.get("/v1/people", params={"certno": certno}).status_code in (200, 403, 404)
    reset = world.centre.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": password},
        headers=idem(),
    )
    assert reset.status_code == 200, reset.text
    url = f"/v1/people/{psn_no}/query-password/verification"
    assert world.centre.post(url, json={"password": password}).json()["valid"] is True
    assert world.centre.post(url, json={"password": password + "x"}).json()["valid"] is False
    token = "tok" + secrets.token_hex(8)
    assert world.centre.get(f"/v1/card-authentications/{token}").status_code == 404
    bad = world.centre.post("/v1/people", json={"psn_no": None, "psn_name": name}, headers=idem())
    assert bad.status_code == 422
    time.sleep(0.5)  # the workers' last lines
    text = ops.log_file.read_text(encoding="utf-8")
    for secret in (name, document, password, certno, desk_key, ops.admin_key, token):
        assert secret not in text, f"{secret!r} is in the log"
    lines = _lines(ops)  # every line is one JSON object
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all("+00:00" in line["time"] for line in lines)  # zone-aware
    start = [line for line in lines if line.get("event") == "start"]
    assert start and start[0]["listen"].startswith("127.0.0.1:")
    assert start[0]["database"].startswith("sqlite:///") and start[0]["workers"] == 2
    access = [line for line in lines if line["logger"] == "settlement.access"]
    routes = {line["route"] for line in access}
    assert "/v1/card-authentications/{token}" in routes
    assert "/v1/people/{psn_no}/query-password/verification" in routes
    refused = [line for line in access if line["route"] == "/v1/card-authentications/{token}"]
    assert refused[-1]["status"] == 404 and refused[-1]["code"]
    desk_line = [line for line in access if line["route"] == "/v1/people"][-1]
    assert desk_line["terminal"] and desk_line["institution"]
    assert all(isinstance(line["latency_ms"], float | int) for line in access)
    assert all(len(line["request_id"]) >= 16 for line in access)


def test_log_file_is_private(ops):
    mode = stat.S_IMODE(ops.log_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(ops.log_file.parent.stat().st_mode) == 0o700


def test_request_id_is_echoed_or_made(ops):
    given = "req-" + secrets.token_hex(6)
    answer = httpx.get(f"{ops.url}/v1/health", headers={"X-Request-ID": given})
    assert answer.headers["x-request-id"] == given
    made = httpx.get(f"{ops.url}/v1/health", headers={"X-Request-ID": "not ok!{}"})
    assert made.headers["x-request-id"] != "not ok!{}" and len(made.headers["x-request-id"]) >= 16
    refused = httpx.get(f"{ops.url}/v1/institutions", headers={"X-Request-ID": given + "b"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == given + "b"
    time.sleep(0.5)
    ids = {line.get("request_id") for line in _lines(ops)}
    assert {given, given + "b", made.headers["x-request-id"]} <= ids


def test_metrics_add_up_over_the_workers(ops):
    before = _scrape(ops)
    for _ in range(30):
        assert httpx.get(f"{ops.url}/v1/health").status_code == 200
    httpx.get(f"{ops.url}/v1/institutions")  # 401 unauthenticated
    world = World(ops)
    psn_no, card = world.insured()
    desk = world.terminal("hospital")
    stay = world.admit(desk, psn_no, card)
    world.fees(desk, stay["mdtrt_id"], [("A", 1, 10_000)])
    world.settle(desk, stay["mdtrt_id"], card)
    scrapes = [_scrape(ops) for _ in range(4)]  # whichever worker answers, the same totals
    name, family = "sscard_http_requests_total", "sscard_http_requests"
    health = [_value(s, name, family, route="/v1/health", status="200") for s in scrapes]
    assert health[0] - _value(before, name, family, route="/v1/health", status="200") >= 30
    assert len(set(health)) == 1, health
    refusals = _value(
        scrapes[-1], "sscard_refusals_total", "sscard_refusals", code="unauthenticated"
    )
    assert refusals >= 1
    settled = _value(
        scrapes[-1], "sscard_settlements_total", "sscard_settlements", kind="settlement"
    )
    assert settled - _value(before, "sscard_settlements_total", "sscard_settlements") >= 1
    hist = "sscard_http_request_duration_seconds"
    count = _value(scrapes[-1], hist + "_count", hist, route="/v1/admissions/{mdtrt_id}/fees")
    assert count >= 1
    assert _value(scrapes[-1], hist + "_bucket", hist, route="/v1/health", le="+Inf") >= 30
    assert "sscard_database_busy" in scrapes[-1]


def _open(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_with(sock: socket.socket, within_s: float) -> bytes | None:
    """What the server sent before closing ``sock`` within ``within_s``; None if still open."""
    sock.settimeout(within_s)
    received = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return received
            received += data
    except TimeoutError:
        return None
    except ConnectionResetError:
        return received


def test_slow_request_heads_are_closed(ops):
    """300 connections that send a request head slowly (or nothing) are all closed after
    SSCARD_HEADER_TIMEOUT; a prompt request on a new connection is answered meanwhile."""
    socks = [_open(ops.url) for _ in range(300)]
    try:
        for i, sock in enumerate(socks):
            if i % 3:
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT_S / 2:  # dribble: still no end
            for sock in socks[1::3]:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            time.sleep(0.2)
        assert httpx.get(f"{ops.url}/v1/health", timeout=10).status_code == 200
        answers = [_closed_with(sock, HEADER_TIMEOUT_S + 8) for sock in socks]
        assert all(answer is not None for answer in answers), "connections left open"
        assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers if answer), answers[1]
        assert b'"code": "request_timeout"' in answers[1]
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 10
    finally:
        for sock in socks:
            sock.close()


def test_keep_alive_connection_stays_usable_and_a_huge_head_is_cut(ops):
    with httpx.Client(base_url=ops.url) as client:  # one kept-alive connection
        for _ in range(3):
            assert client.get("/v1/health").status_code == 200
            time.sleep(0.3)
    sock = _open(ops.url)
    try:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        sent = 0
        try:
            while sent < 200_000:
                sock.sendall(b"X-Big: " + b"a" * 4000 + b"\r\n")
                sent += 4009
        except OSError:
            pass  # closed while sending: the point
        answer = _closed_with(sock, 10)
        assert answer is not None and answer.startswith(b"HTTP/1.1 431"), answer
    finally:
        sock.close()
    health = httpx.get(f"{ops.url}/v1/health")
    assert health.status_code == 200 and code_of(health) is None


@pytest.mark.parametrize(
    ("allow", "client", "status"),
    [
        ("", "127.0.0.1", 200),
        ("", "10.1.2.3", 404),
        ("10.0.0.0/8", "10.1.2.3", 200),
        ("10.0.0.0/8", "127.0.0.1", 404),
        ("none", "127.0.0.1", 404),
    ],
)
def test_metrics_answer_only_the_allowed_networks(tmp_path, allow, client, status):
    import asyncio

    from settlement.config import Settings
    from settlement.main import create_app

    settings = Settings.from_env(
        f"sqlite:///{tmp_path / 'm.db'}",
        environ={"SSCARD_HOME": str(tmp_path), "SSCARD_METRICS_ALLOW": allow},
    )
    app = create_app(settings)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://sscard") as http:
            return await http.get("/metrics")

    answer = asyncio.run(get())
    assert answer.status_code == status, answer.text
    if status == 404:
        assert code_of(answer) == "not_found"
    else:
        assert "sscard_http_requests_total" in answer.text
    app.state.service.db.dispose()


@pytest.fixture
def own_logging():
    """configure() changes process-wide loggers: put them back after the test."""
    import logging

    from settlement.logs import LOGGERS

    saved = [
        (logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).level)
        for n in LOGGERS
    ]
    propagate = [logging.getLogger(n).propagate for n in LOGGERS]
    flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    yield
    for (logger, handlers, level), prop in zip(saved, propagate, strict=True):
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers, logger.level, logger.propagate = handlers, level, prop
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = flags


def test_log_file_reopened_after_rotation_is_private_and_lines_are_json(tmp_path, own_logging):
    import logging
    import os

    from settlement import logs
    from settlement.config import Settings

    path = tmp_path / "var" / "log" / "service.log"
    settings = Settings.from_env(
        f"sqlite:///{tmp_path / 'x.db'}",
        environ={"SSCARD_HOME": str(tmp_path), "SSCARD_LOG_FILE": str(path)},
    )
    old_umask = os.umask(0o022)
    try:
        logs.configure(settings)
        logging.getLogger("settlement").info("before rotation")
        path.rename(path.with_suffix(".log.1"))  # logrotate's move
        logging.getLogger("settlement.access").warning("after rotation")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [line] = [json.loads(text) for text in path.read_text().splitlines()]
    assert line["message"] == "after rotation" and line["logger"] == "settlement.access"
    assert json.loads(path.with_suffix(".log.1").read_text())["message"] == "before rotation"


def test_text_format_and_level(tmp_path, own_logging, capsys):
    import logging

    from settlement import logs
    from settlement.config import Settings

    settings = Settings.from_env(
        f"sqlite:///{tmp_path / 'x.db'}",
        environ={"SSCARD_LOG_FORMAT": "text", "SSCARD_LOG_LEVEL": "warning"},
    )
    logs.configure(settings)
    logging.getLogger("settlement.access").info("a request")  # below the level: no line
    logs.log_fields(logging.getLogger("settlement"), logging.ERROR, "boom", {"status": 500})
    err = capsys.readouterr().err
    assert "a request" not in err
    assert err.endswith("error settlement boom status=500\n") and err[:4].isdigit()
