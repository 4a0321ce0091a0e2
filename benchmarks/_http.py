"""The load generators' HTTP client: one keep-alive HTTP/1.1 connection on a plain socket.

Not a benchmark itself: ``settlement_load.py`` and the benchmarks built on it use it.
"""

from __future__ import annotations

import itertools
import json
import secrets
import socket


class Http:
    """One keep-alive HTTP/1.1 connection on a plain socket; JSON in and out.

    A minimal client (request line, headers, ``Content-Length`` body) so that the
    load generator, which shares the cores with the server, costs as little CPU as
    possible; every request is still a real HTTP request over TCP.
    """

    _run = secrets.token_hex(4)
    _counter = itertools.count()

    def __init__(self, port: int, api_key: str) -> None:
        self.port = port
        self.fixed = (
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {api_key}\r\n"
            "Content-Type: application/json\r\n"
        )
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        return sock

    def call(
        self, method: str, path: str, body: dict | bytes | None = None, idempotent: bool = True
    ):
        payload = (
            body
            if isinstance(body, bytes)
            else (json.dumps(body).encode() if body is not None else b"")
        )
        head = f"{method} {path} HTTP/1.1\r\n{self.fixed}Content-Length: {len(payload)}\r\n"
        if idempotent:
            head += f"Idempotency-Key: {self._run}-{next(self._counter)}\r\n"
        return self.send(head.encode() + b"\r\n" + payload)

    def send(self, request: bytes) -> tuple[int, object]:
        """Send one whole request and read its answer; reconnect once if the kept-alive
        connection was closed."""
        for attempt in range(2):
            try:
                if self.sock is None:
                    self.sock = self._connect()
                self.sock.sendall(request)
                return self._response()
            except OSError:
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def _response(self) -> tuple[int, object]:
        sock, data = self.sock, self.buffer
        while (end := data.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        head = data[:end].decode("latin-1")
        status = int(head[9:12])
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise RuntimeError("chunked responses are not expected from the service")
        start = end + 4
        while len(data) - start < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        content, self.buffer = data[start : start + length], data[start + length :]
        return status, json.loads(content) if content else None
