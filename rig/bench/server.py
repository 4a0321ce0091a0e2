"""The bench control API: HTTP + JSON on localhost, every request with the bench's token.

``Authorization: Bearer <token>`` on every request (the token is printed by
``python -m card bench`` and written to ``<home>/bench.json``, mode 0600).
Errors are ``application/problem+json`` with a stable ``code``.  Routes
(``docs/testing-your-his.md`` has examples)::

    GET    /v1/health
    GET    /v1/readers                          readers, their cards and faults
    GET    /v1/readers/{i}
    POST   /v1/cards            {profile}       make a card -> 201 card
    POST   /v1/cards/import     {"image": path, "state": "active"|"lost"}  an existing image
    GET    /v1/cards  |  /v1/cards/{id}         cards (PIN tries read from the image)
    POST   /v1/readers/{i}/card {"card": id}    insert        -> 200 reader
    PUT    /v1/readers/{i}/card {"card": id}    swap          -> 200 reader
    DELETE /v1/readers/{i}/card                 remove        -> 200 reader
    POST   /v1/readers/{i}/pinpad {"pin": "123456", "pad": key, "wait_s": 10} (last two optional)
    POST   /v1/readers/{i}/faults {fault}       -> 201 fault  (card.faults)
    GET    /v1/readers/{i}/faults
    DELETE /v1/readers/{i}/faults[/{id}]
    GET    /v1/readers/{i}/log?since=N&limit=M  {"entries": [...], "next": seq}
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from card.faults import Fault, FaultError
from rig.bench.bench import Bench, BenchError
from rig.bench.profiles import Profile, ProfileError

MAX_BODY = 64 * 1024
Handler = Callable[["BenchRequestHandler", dict[str, str]], tuple[int, object]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


def _int(value: str) -> int:
    return int(value)


def _card_id(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("card"), str):
        raise BenchError('the body is {"card": "<card id>"}', "bad_request", 400)
    return body["card"]


@route("GET", r"/v1/health")
def health(req: BenchRequestHandler, _: dict[str, str]) -> tuple[int, object]:
    return 200, {"status": "ok", "readers": len(req.bench.readers)}


@route("GET", r"/v1/readers")
def list_readers(req: BenchRequestHandler, _: dict[str, str]) -> tuple[int, object]:
    return 200, [r.to_json() for r in req.bench.readers.values()]


@route("GET", r"/v1/readers/(?P<i>\d+)")
def get_reader(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    return 200, req.bench.reader(_int(p["i"])).to_json()


@route("POST", r"/v1/cards")
def create_card(req: BenchRequestHandler, _: dict[str, str]) -> tuple[int, object]:
    try:
        profile = Profile.from_json(req.body())
    except ProfileError as exc:
        raise BenchError(str(exc), exc.code, 422) from None
    try:
        card = req.bench.create_card(profile)
    except ProfileError as exc:
        raise BenchError(str(exc), exc.code, 422) from None
    return 201, card.describe()


@route("POST", r"/v1/cards/import")
def import_card(req: BenchRequestHandler, _: dict[str, str]) -> tuple[int, object]:
    body = req.body()
    if not isinstance(body, dict) or not isinstance(body.get("image"), str):
        raise BenchError('the body is {"image": "<path of a card image>"}', "bad_request", 400)
    state = body.get("state", "active")
    if not isinstance(state, str):
        raise BenchError("state is active or lost", "bad_request", 400)
    return 201, req.bench.add_image(Path(body["image"]), state).describe()


@route("GET", r"/v1/cards")
def list_cards(req: BenchRequestHandler, _: dict[str, str]) -> tuple[int, object]:
    return 200, [c.describe() for c in list(req.bench.cards.values())]


@route("GET", r"/v1/cards/(?P<id>[\w-]+)")
def get_card(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    return 200, req.bench.card(p["id"]).describe()


@route("POST", r"/v1/readers/(?P<i>\d+)/card")
def insert_card(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    return 200, req.bench.insert(_int(p["i"]), _card_id(req.body())).to_json()


@route("PUT", r"/v1/readers/(?P<i>\d+)/card")
def swap_card(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    return 200, req.bench.swap(_int(p["i"]), _card_id(req.body())).to_json()


@route("DELETE", r"/v1/readers/(?P<i>\d+)/card")
def remove_card(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    return 200, req.bench.remove(_int(p["i"])).to_json()


@route("POST", r"/v1/readers/(?P<i>\d+)/pinpad")
def type_pin(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    body = req.body()
    pin = body.get("pin") if isinstance(body, dict) else None
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise BenchError('the body is {"pin": "<4 to 12 digits>"}', "bad_request", 400)
    pad = body.get("pad")
    if pad is not None and not isinstance(pad, str | int):
        raise BenchError("pad is the reader key the HIS gave Init", "bad_request", 400)
    wait = body.get("wait_s", 10)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= 60:
        raise BenchError("wait_s is 0 to 60 seconds", "bad_request", 400)
    taken = req.bench.type_pin(_int(p["i"]), pin, pad, float(wait))
    return 200, {"typed": taken}


@route("POST", r"/v1/readers/(?P<i>\d+)/faults")
def add_fault(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    try:
        fault = Fault.from_json(req.body())
    except FaultError as exc:
        raise BenchError(str(exc), "bad_fault", 422) from None
    return 201, req.bench.add_fault(_int(p["i"]), fault).to_json()


@route("GET", r"/v1/readers/(?P<i>\d+)/faults")
def list_faults(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    return 200, [f.to_json() for f in req.bench.reader(_int(p["i"])).layer.faults()]


@route("DELETE", r"/v1/readers/(?P<i>\d+)/faults(?:/(?P<id>\d+))?")
def clear_faults(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    fault_id = int(p["id"]) if p.get("id") else None
    return 200, {"cleared": req.bench.clear_faults(_int(p["i"]), fault_id)}


@route("GET", r"/v1/readers/(?P<i>\d+)/log")
def read_log(req: BenchRequestHandler, p: dict[str, str]) -> tuple[int, object]:
    query = parse_qs(urlsplit(req.path).query)
    try:
        since = int(query.get("since", ["0"])[0])
        limit = min(int(query.get("limit", ["1000"])[0]), 10_000)
    except ValueError:
        raise BenchError("since and limit are integers", "bad_request", 400) from None
    log = req.bench.reader(_int(p["i"])).log
    entries = log.read(since, limit)
    last = int(entries[-1]["seq"]) if entries else since  # type: ignore[call-overload]
    return 200, {"entries": entries, "next": last, "file": str(log.path)}


class BenchRequestHandler(BaseHTTPRequestHandler):
    server_version = "sscard-bench/1"
    bench: Bench
    token: str

    def log_message(self, format: str, *args: object) -> None:
        return None  # requests are in the reader logs; keep the console quiet

    def body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BenchError(f"a request body is at most {MAX_BODY} bytes", "too_large", 413)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BenchError("the body is not JSON", "bad_json", 400) from None

    def _dispatch(self, method: str) -> None:
        try:
            status, payload = self._route(method)
        except BenchError as exc:
            status, payload = exc.status, _problem(exc.status, exc.code, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bench bug becomes a 500, not a dead thread
            status, payload = 500, _problem(500, "bench_failure", f"{type(exc).__name__}: {exc}")
        self._send(status, payload)

    def _route(self, method: str) -> tuple[int, object]:
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            raise BenchError("missing or wrong bench token (Authorization: Bearer …)", "token", 401)
        path = urlsplit(self.path).path.rstrip("/") or "/"
        allowed = False
        for verb, pattern, handler in ROUTES:
            found = pattern.match(path)
            if found:
                allowed = True
                if verb == method:
                    return handler(self, {k: v for k, v in found.groupdict().items() if v})
        if allowed:
            raise BenchError(f"{method} is not allowed on {path}", "method_not_allowed", 405)
        raise BenchError(f"no route {path}", "not_found", 404)

    def _send(self, status: int, payload: object) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        kind = "application/problem+json" if status >= 400 else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def _problem(status: int, code: str, detail: str) -> dict[str, object]:
    return {
        "type": f"https://sscard.invalid/bench/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }


def serve(bench: Bench, token: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start the API in a daemon thread; returns the server (``server_address`` has the port)."""
    handler = type("Handler", (BenchRequestHandler,), {"bench": bench, "token": token})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="bench-api", daemon=True).start()
    return server
