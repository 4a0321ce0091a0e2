"""The vpcd connector cannot be wedged (``card.md`` §What real cards do, "vpcd framing").

Here a test socket plays vsmartcard's driver (it listens, the connector
connects, frames are a 2-byte big-endian length and the payload), so each
framing rule is checked on its own, without pcscd:

* a 1-byte frame other than the control codes is answered ``6700``; ``04`` gets
  the ATR; ``00``/``01``/``02`` get no answer;
* a connection that stays silent after ``00``/``01``/``02``, or that holds a
  partial frame, is dropped after ``STALL_TIMEOUT`` and made again;
* failed connection attempts are retried with a growing delay.

``test_vpcd_slot.py`` sends the same frames through the real pcscd.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from card import vpcd
from card.vpcd import VpcdConnector

ATR = bytes.fromhex("3B6D000000430100000000000000000033")


class Card:
    """A card of the Icc shape that records what it was asked."""

    atr = ATR

    def __init__(self) -> None:
        self.calls: list[str] = []

    def power_on(self) -> bytes:
        self.calls.append("on")
        return self.atr

    def reset(self) -> bytes:
        self.calls.append("reset")
        return self.atr

    def power_off(self) -> None:
        self.calls.append("off")

    def transmit(self, apdu: bytes) -> bytes:
        self.calls.append(apdu.hex())
        return b"\x90\x00"


class Driver:
    """The driver's side of one vpcd slot: a listening socket and its accepted connection."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> socket.socket:
        self.server.settimeout(timeout)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(timeout)
        return self.conn

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def receive(self) -> bytes:
        assert self.conn is not None
        header = self._exactly(2)
        return self._exactly(struct.unpack(">H", header)[0])

    def _exactly(self, size: int) -> bytes:
        assert self.conn is not None
        data = b""
        while len(data) < size:
            chunk = self.conn.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the connector closed the connection")
            data += chunk
        return data

    def closed_within(self, seconds: float) -> float | None:
        """Seconds until the connector closed the connection, or None if it did not."""
        assert self.conn is not None
        started = time.monotonic()
        self.conn.settimeout(seconds)
        try:
            if self.conn.recv(1) == b"":
                return time.monotonic() - started
        except TimeoutError:
            return None
        raise AssertionError("the connector sent something unasked")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def driver() -> Iterator[Driver]:
    made = Driver()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def connected(driver: Driver) -> Iterator[tuple[Driver, VpcdConnector, Card]]:
    card = Card()
    connector = VpcdConnector(card, port=driver.port)
    connector.start()
    driver.accept()
    try:
        yield driver, connector, card
    finally:
        connector.stop()


def test_a_one_byte_frame_that_is_no_control_code_is_answered_6700(connected) -> None:
    driver, connector, card = connected
    for code in sorted(set(range(256)) - {0x00, 0x01, 0x02, 0x04}):
        driver.send(bytes([code]))
        assert driver.receive() == b"\x67\x00", f"{code:02X}"
        driver.send(bytes.fromhex("00A4040000"))  # the slot goes on answering
        assert driver.receive() == b"\x90\x00"
    assert set(card.calls) == {"00a4040000"}  # no 1-byte frame reached the card
    assert connector.stalls == 0 and connector.connections == 1


def test_atr_request_gets_the_atr_and_control_codes_get_no_answer(connected) -> None:
    driver, connector, card = connected
    driver.send(b"\x04")
    assert driver.receive() == ATR
    for code in (b"\x01", b"\x02", b"\x00"):
        driver.send(code)
        driver.send(b"\x04")  # the driver's next frame (ATR after power on / reset, a poll)
        assert driver.receive() == ATR  # the first answer is the ATR: nothing was sent before
    assert card.calls == ["on", "reset", "off"]
    assert connector.stalls == 0


@pytest.mark.parametrize("code", [0x00, 0x01, 0x02])
def test_silence_after_a_control_code_drops_the_connection(connected, code) -> None:
    """A client's 1-byte APDU 00/01/02 looks like a control code, and the driver waits."""
    driver, connector, _card = connected
    driver.send(bytes([code]))
    dropped_after = driver.closed_within(vpcd.STALL_TIMEOUT + 2.0)
    assert dropped_after is not None, "the connector kept a slot the driver waits on"
    assert dropped_after >= vpcd.STALL_TIMEOUT - 0.1
    assert connector.stalls == 1
    driver.accept()  # the card comes back at once
    driver.send(b"\x04")
    assert driver.receive() == ATR


def test_polls_slower_than_the_stall_timeout_keep_an_idle_connection(connected) -> None:
    driver, connector, _card = connected
    driver.send(b"\x04")
    assert driver.receive() == ATR
    assert driver.closed_within(vpcd.STALL_TIMEOUT + 0.5) is None  # owes nothing: stays
    driver.send(bytes.fromhex("0084000008"))
    assert driver.receive() == b"\x90\x00"
    assert connector.stalls == 0 and connector.connections == 1


@pytest.mark.parametrize("partial", [b"\x00", b"\x00\x05", b"\x00\x05\x00\xa4"])
def test_a_stalled_partial_frame_is_dropped(connected, partial) -> None:
    driver, connector, card = connected
    assert driver.conn is not None
    driver.conn.sendall(partial)
    dropped_after = driver.closed_within(vpcd.STALL_TIMEOUT + 2.0)
    assert dropped_after is not None, "a partial frame held the slot"
    assert connector.stalls == 1
    driver.accept()  # a fresh connection, framing from the start
    driver.send(bytes.fromhex("00A4040000"))
    assert driver.receive() == b"\x90\x00"
    assert card.calls[-1] == "00a4040000"


def test_a_frame_split_across_writes_is_not_a_stall(connected) -> None:
    driver, connector, _card = connected
    assert driver.conn is not None
    frame = struct.pack(">H", 5) + bytes.fromhex("0084000008")
    for byte in frame:  # as the Debian driver writes: length, then payload, in pieces
        driver.conn.sendall(bytes([byte]))
        time.sleep(vpcd.STALL_TIMEOUT / 4)
    assert driver.receive() == b"\x90\x00"
    assert connector.stalls == 0


def test_refused_attempts_are_retried_with_a_growing_delay() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = VpcdConnector(Card(), port=port, retry_interval=0.05, retry_max=0.8)
    connector.start()
    time.sleep(3.0)
    connector.stop()
    # 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 0.8 … : about 7 attempts in 3 s, not thousands.
    assert 4 <= connector.attempts <= 10, connector.attempts


def test_a_driver_that_closes_at_once_is_retried_with_a_growing_delay(driver: Driver) -> None:
    connector = VpcdConnector(Card(), port=driver.port, retry_interval=0.05, retry_max=0.8)
    connector.start()
    accepted: list[float] = []
    deadline = time.monotonic() + 3.0
    try:
        while time.monotonic() < deadline:
            try:
                conn = driver.accept(timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            accepted.append(time.monotonic())
            conn.close()  # accepted, then closed before a frame
    finally:
        connector.stop()
    gaps = [b - a for a, b in itertools.pairwise(accepted)]
    assert 4 <= len(accepted) <= 10, len(accepted)
    assert gaps[-1] > gaps[0] * 4  # the delay grew
    assert connector.served == 0


def test_a_connection_that_served_is_made_again_at_once(driver: Driver) -> None:
    connector = VpcdConnector(Card(), port=driver.port, retry_interval=0.5)
    connector.start()
    try:
        conn = driver.accept()
        for _ in range(3):  # pcscd restarting: the slot closes after serving
            driver.send(b"\x04")
            assert driver.receive() == ATR
            conn.close()
            started = time.monotonic()
            conn = driver.accept()
            assert time.monotonic() - started < 0.4  # no back-off after a good connection
    finally:
        connector.stop()
