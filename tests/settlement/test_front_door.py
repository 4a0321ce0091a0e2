"""Issue #16, the front door: size limits before the body is read, authentication before the
body, a per-key rate limit, private database files (docs/api.md §Limits, §Files)."""

from __future__ import annotations

import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from settlement.api.limits import RateLimiter

from .conftest import code_of, idem


@pytest.fixture(scope="module")
def svc(settlement_service_factory):
    return settlement_service_factory(
        extra_env={"SSCARD_RATE_LIMIT": "0", "SSCARD_MAX_BODY_BYTES": "1000000"}
    )


def raw_request(url: str, head: str, body_chunks=(), timeout: float = 10.0) -> bytes:
    """Send ``head`` (and the chunks, as long as the server reads them); the answer's bytes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed without reading the rest: the point
        answer = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                if b"\r\n\r\n" in answer and b'"code"' in answer:
                    break
        except OSError:
            pass
        return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_declared_body_over_the_limit_is_refused_before_it_is_read(svc):
    head = (
        "POST /v1/probe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {svc.admin_key}\r\nContent-Length: 2000000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_request(svc.url, head)  # no body sent at all: the answer must not wait for it
    assert status_of(answer) == 413
    assert b'"body_too_large"' in answer
    assert time.monotonic() - started < 5


def test_streamed_body_over_the_limit_is_refused(svc):
    admin = svc.client()

    def chunks():
        for _ in range(20):
            yield b" " * 100_000

    answer = admin.post(
        "/v1/institutions",
        content=chunks(),
        headers={**idem(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413, answer.text
    assert code_of(answer) == "body_too_large"


def test_body_within_the_limit_still_works(svc):
    assert svc.client().post("/v1/probe").status_code == 201


def test_no_key_is_refused_before_the_body_is_read(svc):
    head = (
        "POST /v1/institutions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 900000\r\n\r\n"
    )
    answer = raw_request(svc.url, head)  # the body never comes
    assert status_of(answer) == 401
    assert b'"unauthenticated"' in answer


def test_wrong_key_is_refused_before_the_body_is_read(svc):
    head = (
        "POST /v1/institutions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer sk_nosuchkey_0123456789abcdef\r\nContent-Length: 900000\r\n\r\n"
    )
    assert status_of(raw_request(svc.url, head)) == 401


def test_oversized_headers_are_refused(svc):
    head = (
        "GET /v1/health HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"X-Filler-{i}: {'a' * 1000}\r\n" for i in range(40))
        + "\r\n"
    )
    answer = raw_request(svc.url, head)
    assert status_of(answer) in (400, 431), answer[:200]


def test_public_paths_need_no_key(svc):
    import httpx

    assert httpx.get(svc.url + "/v1/health").status_code == 200
    assert httpx.get(svc.url + "/v1/openapi.json").status_code == 200


def _rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_fifty_concurrent_100mb_uploads_without_a_key_keep_the_server_small(svc, framing):
    """50 clients each sending 100 MB without a key: every one is refused before its body is
    read (413 for an announced size over the limit, which is checked first; 401 for a chunked
    body) and the server process stays under 200 MB resident (issue #16)."""
    pid = svc.process.pid
    data = b"x" * (1 << 20)
    if framing == "chunked":
        chunk = b"%x\r\n" % len(data) + data + b"\r\n"
        framing_header, expected = "Transfer-Encoding: chunked", 401
    else:
        chunk = data
        framing_header, expected = f"Content-Length: {100 << 20}", 413
    statuses: list[int] = []

    def upload() -> None:
        head = (
            "POST /v1/institutions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"{framing_header}\r\n\r\n"
        )
        answer = raw_request(svc.url, head, (chunk for _ in range(100)), timeout=60)
        statuses.append(status_of(answer) if answer else 0)

    threads = [threading.Thread(target=upload) for _ in range(50)]
    peak = 0
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _rss_kib(pid)[0])
        time.sleep(0.05)
    peak = max(peak, _rss_kib(pid)[1])  # the process's high-water mark over its whole life
    assert statuses == [expected] * 50
    assert peak < 200 * 1024, f"server peaked at {peak // 1024} MB resident"


def test_rate_limit_answers_429_with_retry_after(settlement_service_factory):
    svc = settlement_service_factory(extra_env={"SSCARD_RATE_LIMIT": "1", "SSCARD_RATE_BURST": "3"})
    admin = svc.client()
    answers = [admin.post("/v1/probe") for _ in range(6)]
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert code_of(limited[0]) == "rate_limited"
    assert int(limited[0].headers["Retry-After"]) >= 1


def test_token_bucket_refills_at_the_rate():
    limiter = RateLimiter(rate=2, burst=2)
    assert limiter.wait_s("k", now=0.0) == 0
    assert limiter.wait_s("k", now=0.0) == 0
    assert limiter.wait_s("k", now=0.0) == pytest.approx(0.5)
    assert limiter.wait_s("k", now=0.5) == 0
    assert limiter.wait_s("other", now=0.5) == 0


def test_sqlite_files_are_private(tmp_path):
    from settlement.store.db import Database

    folder = tmp_path / "new" / "home"
    db = Database(f"sqlite:///{folder / 'settlement.db'}")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        for name in ("settlement.db", "settlement.db-wal", "settlement.db-shm"):
            mode = stat.S_IMODE((folder / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        db.dispose()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_json_not_in_utf8_is_refused(svc, encoding):
    body = '{"code": "HX1", "name": "x", "kind": "pharmacy"}'.encode(encoding)
    answer = svc.client().post(
        "/v1/institutions", content=body, headers={**idem(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and code_of(answer) == "malformed_body", answer.text


def test_a_catalogue_file_may_start_with_a_byte_order_mark(svc):
    """Only JSON bodies must be BOM-free: the catalogue file (text/csv) is read UTF-8 with or
    without BOM (Excel's "CSV UTF-8"); the front door refused it as malformed JSON."""
    csv = "med_list_codg,med_list_name,chrgitm_lv,med_chrgitm_type,selfpay_prop,pric_uplmt_amt\n"
    csv += "BOM1,带 BOM 的目录,01,09,,\n"
    answer = svc.client().post(
        "/v1/catalogue",
        params={"source": "excel.csv"},
        content=csv.encode("utf-8-sig"),
        headers={**idem(), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["entry_count"] == 1


@pytest.mark.parametrize(
    "name", ["Evil\u202eexe.txt", "nul\x00byte", "two\nlines", "iso\u2066late"]
)
def test_control_and_bidi_characters_in_names_are_refused(svc, name):
    admin = svc.client()
    body = {"code": "HX2", "name": name, "kind": "pharmacy"}
    answer = admin.post("/v1/institutions", json=body, headers=idem())
    assert answer.status_code == 422 and code_of(answer) == "validation_error", answer.text
    person = {
        "psn_no": "PX1",
        "psn_name": name,
        "brdy": "1980-01-01",
        "certno": "430102198001010011",
    }
    answer = admin.post("/v1/people", json=person, headers=idem())
    assert answer.status_code == 422 and code_of(answer) == "validation_error", answer.text


def test_ordinary_names_still_pass(svc):
    body = {"code": "HX3", "name": "长沙市第一医院 (东院)", "kind": "pharmacy"}
    assert svc.client().post("/v1/institutions", json=body, headers=idem()).status_code == 201
