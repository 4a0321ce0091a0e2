"""uvicorn's HTTP/1.1 connections with a deadline for the request head (docs/api.md §Limits).

uvicorn closes a keep-alive connection that stays idle, but it has no timeout for a
connection whose request line and headers never complete: a client that opens
900 connections and sends a header byte now and then holds 900 connections (and
their buffers) for as long as it likes. The protocols here give every request
head ``SSCARD_HEADER_TIMEOUT`` seconds from the connection's opening (or, on a
kept-alive connection, from the next request's first byte) to be complete, then
answer ``408 request_timeout`` and close; and a head still incomplete after
``SSCARD_MAX_HEADER_BYTES`` plus 8 KiB for the request line is answered ``431
headers_too_large`` and closed without reading more. A body has no deadline here
(uploads may be slow); the application counts its size (``settlement.api.limits``).

``python -m settlement serve`` passes :data:`PROTOCOLS` ``[--http]`` to uvicorn;
the workers read the two settings from their environment like all others.
"""

from __future__ import annotations

import asyncio
import json
from functools import cache
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from settlement.config import Settings

#: Room for the request line beside the header section.
REQUEST_LINE_BYTES = 8192


@cache
def head_limits() -> tuple[float, int]:
    """(seconds, bytes) a request head may take: ``SSCARD_HEADER_TIMEOUT`` and
    ``SSCARD_MAX_HEADER_BYTES`` + :data:`REQUEST_LINE_BYTES`."""
    settings = Settings.from_env()
    return float(settings.header_timeout_s), settings.max_header_bytes + REQUEST_LINE_BYTES


def refusal(status: int, reason: str, code: str, detail: str) -> bytes:
    """A complete problem+json answer that closes the connection."""
    body = json.dumps({"status": status, "code": code, "title": reason, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class HeadDeadline:
    """The deadline and size cap of a request head, mixed into a uvicorn HTTP protocol.

    A head is awaited from the connection's opening and whenever data arrives after
    the previous answer is complete; it is complete when the protocol makes the new
    request's cycle (``self.cycle`` changes), which both uvicorn protocols do as soon
    as the headers are parsed.
    """

    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle: Any = None
        self._head_bytes = 0
        self._await_head()

    def _await_head(self) -> None:
        seconds, _ = head_limits()
        self._head_cycle = self.cycle
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(seconds, self._head_too_slow)

    def _head_done(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._between_messages():
            self._await_head()
        super().data_received(data)  # type: ignore[misc]
        if self._head_timer is None:
            return
        if self.cycle is not self._head_cycle:
            self._head_done()
            return
        self._head_bytes += len(data)
        if self._head_bytes > head_limits()[1]:
            self._head_done()
            self._refuse(
                refusal(
                    431,
                    "Request Header Fields Too Large",
                    "headers_too_large",
                    f"the request head exceeds {head_limits()[1]} bytes",
                )
            )

    def _between_messages(self) -> bool:
        """No request is under way: the next bytes begin a new request head.

        A request answered before its body was read (413, 401 at the front door)
        is still being received until its last body byte: those bytes are body,
        not the head of the next request on the connection."""
        cycle = self.cycle
        return cycle is None or (cycle.response_complete and not cycle.more_body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)  # type: ignore[misc]

    def _head_too_slow(self) -> None:
        self._head_timer = None
        seconds, _ = head_limits()
        self._refuse(
            refusal(
                408,
                "Request Timeout",
                "request_timeout",
                f"the request line and headers did not arrive within {seconds:g} s",
            )
        )

    def _refuse(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


class HttpToolsWithDeadline(HeadDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol (the default) with :class:`HeadDeadline`."""


class H11WithDeadline(HeadDeadline, H11Protocol):
    """uvicorn's h11 protocol with :class:`HeadDeadline`."""


#: ``serve --http`` → the protocol class uvicorn is given.
PROTOCOLS = {
    "auto": HttpToolsWithDeadline,
    "httptools": HttpToolsWithDeadline,
    "h11": H11WithDeadline,
}
