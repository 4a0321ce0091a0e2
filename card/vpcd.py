"""A virtual ICC in a vsmartcard ``vpcd`` reader slot: the card side of the vpcd protocol.

pcscd loads vsmartcard's ``libifdvpcd`` driver, which *listens* on one TCP
port per slot (``/etc/reader.conf.d``: ``DEVICENAME /dev/null:PORT``, see
the reader rig, package ``rig``).  The card is the TCP *client*: connecting is inserting the
card, closing the connection is removing it.  Every message in both
directions is one frame: a 2-byte big-endian length, then the payload.  A
1-byte payload from the reader is a control code::

    00 power off     01 power on     02 reset      04 get ATR (answered with the ATR)

Anything longer is a command APDU, answered with one response APDU frame.
Power on/off/reset get no answer.  pcscd polls each slot every 400 ms with
"get ATR", so ``VirtualCard.atr`` must be cheap and side-effect free.

Speed (issue 4).  The Debian ``libifdvpcd`` writes the 2-byte length and
the payload with two ``send()`` calls on a socket with Nagle's algorithm on,
so the payload waits until the length is acknowledged; a receiver with
delayed ACKs holds that acknowledgement for ~40 ms, which is where the
reference ``vicc``'s 48 ms per APDU goes.  We therefore switch the socket
to quick-ACK mode before every receive (Linux clears ``TCP_QUICKACK`` after
use), disable Nagle on our side (``TCP_NODELAY``) and send each response as
one write (length and payload together).

The connector reconnects when pcscd restarts (the listening port vanishes
and comes back) and gives up only when stopped.  Persistent card state is
the card's business: ``VirtualCard`` writes its image atomically before it
answers, so a killed connector leaves an intact image.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading

from card.icc import Icc

log = logging.getLogger(__name__)

#: vsmartcard's default vpcd port (0x8C7B); reader *i* of the rig listens on VPCD_PORT + i.
VPCD_PORT = 0x8C7B

CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04

#: Status word sent back when the card object itself fails (it should never happen).
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_FRAME = struct.Struct(">H")


class VpcdConnector:
    """Keeps one card inserted in the vpcd slot at ``host:port`` until :meth:`stop`.

    Run it in the foreground with :meth:`run` (the CLI) or in a thread with
    :meth:`start` (tests, benchmarks).  ``connected`` is set while pcscd holds
    the connection, ``served`` counts frames answered (handy for tests).
    """

    def __init__(
        self,
        card: Icc,
        port: int = VPCD_PORT,
        host: str = "127.0.0.1",
        retry_interval: float = 0.1,
    ) -> None:
        self.card = card
        self.port = port
        self.host = host
        self.retry_interval = retry_interval
        self.connected = threading.Event()
        self.served = 0
        self.connections = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"VpcdConnector({self.host}:{self.port}, connected={self.connected.is_set()})"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Serve in a daemon thread; returns the thread."""
        self._thread = threading.Thread(target=self.run, name=f"vpcd-{self.port}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 5.0) -> None:
        """Remove the card: close the connection and stop reconnecting."""
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Connect, serve, reconnect after pcscd restarts; return once stopped."""
        announced_wait = False
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                if not announced_wait:
                    log.info("waiting for pcscd/vpcd on %s:%d", self.host, self.port)
                    announced_wait = True
                self._stop.wait(self.retry_interval)
                continue
            announced_wait = False
            self.connections += 1
            self.connected.set()
            log.info("card inserted in the vpcd slot on port %d", self.port)
            try:
                self._serve(sock)
            except OSError as exc:
                if not self._stop.is_set():
                    log.info("vpcd connection on port %d lost: %s", self.port, exc)
            finally:
                self.connected.clear()
                self._sock = None
                sock.close()
                self._power_off()
            if not self._stop.is_set():
                log.info("pcscd closed the slot on port %d; reconnecting", self.port)
        log.info("card removed from the vpcd slot on port %d", self.port)

    # --- internals ------------------------------------------------------------------

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError:
            return None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        if self._stop.is_set():  # stop() raced with connect(): do not insert
            sock.close()
            self._sock = None
            return None
        return sock

    def _power_off(self) -> None:
        try:
            self.card.power_off()
        except Exception:
            log.exception("card power-off failed")

    def _serve(self, sock: socket.socket) -> None:
        buffer = bytearray()
        recv_into = sock.recv
        quickack = _TCP_QUICKACK
        while True:
            # Frame header, then payload; quick-ACK before every read (see module docstring).
            while True:
                if len(buffer) >= 2:
                    (length,) = _FRAME.unpack_from(buffer)
                    if len(buffer) >= 2 + length:
                        break
                if quickack is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
                chunk = recv_into(65538)
                if not chunk:
                    return
                buffer += chunk
            payload = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            answer = self._handle(payload)
            if answer is not None:
                sock.sendall(_FRAME.pack(len(answer)) + answer)
            self.served += 1

    def _handle(self, payload: bytes) -> bytes | None:
        card = self.card
        if len(payload) == 1:
            code = payload[0]
            if code == CTRL_ATR:
                return card.atr
            if code == CTRL_ON:
                card.power_on()
            elif code == CTRL_RESET:
                card.reset()
            elif code == CTRL_OFF:
                card.power_off()
            else:
                log.warning("unknown vpcd control code %02X ignored", code)
            return None
        try:
            return card.transmit(payload)
        except Exception:
            log.exception("card failed on APDU %s", payload.hex())
            return SW_NO_PRECISE_DIAGNOSIS
