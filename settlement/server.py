"""uvicorn's HTTP/1.1 connections with a deadline for the request head (docs/api.md §Limits).

uvicorn closes a keep-alive connection that stays idle, but it has no timeout for a
connection whose request line and headers never complete: a client that opens
900 connections and sends a header byte now and then holds 900 connections (and
their buffers) for as long as it likes. The protocols here give every request
head ``SSCARD_HEADER_TIMEOUT`` seconds from the connection's opening (or, on a
kept-alive connection, from the next request's first byte) to be complete, then
answer ``408 request_timeout`` and close; and a head still incomplete after
``SSCARD_MAX_HEADER_BYTES`` plus 8 KiB for the request line is answered ``431
headers_too_large`` and closed without reading more. A request's body then has
``SSCARD_BODY_TIMEOUT`` seconds from the end of its head to arrive whole: a client
that sends headers (perhaps with a valid key) and then trickles its body for ever
would hold a worker's connection and its request task; it gets ``408 body_timeout``
and the connection is closed, or only the close once an answer was already sent
(413, 401 at the front door before the body was read). The clock stops while the
server itself has stopped reading (flow control: the application has not taken
the body yet). The application counts the body's size (``settlement.api.limits``).

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


@cache
def body_seconds() -> float:
    """Seconds a request body may take after its head: ``SSCARD_BODY_TIMEOUT``."""
    return float(Settings.from_env().body_timeout_s)


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

    flow: Any

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle: Any = None
        self._head_bytes = 0
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_cycle: Any = None
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
        self._check_body()
        if self._head_timer is None:
            return
        if self.cycle is not self._head_cycle:
            self._head_done()
            self._await_body()
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
        self._body_done()
        super().connection_lost(exc)  # type: ignore[misc]

    def _await_body(self) -> None:
        """The head is complete: a body still to come gets its deadline."""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self._body_timer is None:
            self._body_cycle = cycle
            self._body_timer = self.loop.call_later(body_seconds(), self._body_too_slow)

    def _check_body(self) -> None:
        """The body under a deadline has arrived whole (or another request is under way)."""
        if self._body_timer is not None and (
            self.cycle is not self._body_cycle or not self._body_cycle.more_body
        ):
            self._body_done()

    def _body_done(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._body_cycle = None

    def _body_too_slow(self) -> None:
        cycle, self._body_timer = self._body_cycle, None
        if cycle is None or not cycle.more_body:
            return
        # The server stopped reading, or the client waits for its "100 Continue" (sent when
        # the application asks for the body): the wait is not the client's.
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            self._body_timer = self.loop.call_later(body_seconds(), self._body_too_slow)
            return
        self._body_cycle = None
        answered = cycle.response_started
        cycle.disconnected = True  # the application's answer, if any, is no longer sent
        cycle.message_event.set()
        if answered:
            self.transport.close()
            return
        self._refuse(
            refusal(
                408,
                "Request Timeout",
                "body_timeout",
                f"the request body did not arrive within {body_seconds():g} s of its headers",
            )
        )

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
