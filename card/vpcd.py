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

Frames that cannot wedge the slot (``card.md`` §What real cards do, "vpcd
framing").  The driver (vsmartcard ``vpcd.c``, ``vicc_transmit``) sends a PC/SC
client's command APDU as it is and then waits for the answer, holding the slot
(pcscd's presence polls included) until it comes; the wire does not say whether
a 1-byte frame is a control code or a client's 1-byte APDU.  So:

* a 1-byte frame other than ``00``/``01``/``02``/``04`` is an APDU too short to
  parse and is answered ``6700`` (it used to get no answer, which blocked the
  slot and every other client of it for good);
* ``04`` is always the ATR request and answered with the ATR (a client's 1-byte
  APDU ``04`` therefore gets the ATR back: the wire cannot tell them apart);
* after ``00``/``01``/``02`` the driver sends its next frame at once (``04``
  after power on and reset) or with its next presence poll (400 ms after power
  off).  Silence for :data:`STALL_TIMEOUT` means it was a client's 1-byte APDU
  and the driver waits for an answer that would desynchronise the framing if it
  were wrong: the connector drops the connection and reconnects, i.e. the card
  is pulled and re-inserted, and the slot answers again;
* a partial frame that stalls for :data:`STALL_TIMEOUT` is dropped the same way
  (framing cannot be resynchronised inside one connection);
* a lost connection is retried at once, then with a delay that doubles up to
  :data:`RETRY_MAX` while attempts keep failing (it used to retry in a tight
  loop: 36 000 reconnects in 5 s).

The terminal's reader layer refuses APDUs shorter than 4 or longer than 65 535
bytes before they reach pcscd (``terminal.readers.base.check_command``); the
driver cannot frame 65 536 bytes and drops the card instead.

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
from card.sw import SW

log = logging.getLogger(__name__)

#: vsmartcard's default vpcd port (0x8C7B); reader *i* of the rig listens on VPCD_PORT + i.
VPCD_PORT = 0x8C7B

CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04

#: Status word sent back when the card object itself fails (it should never happen).
SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"
#: The answer to a 1-byte frame that is no control code: an APDU too short to parse.
SW_WRONG_LENGTH = SW.WRONG_LENGTH.to_bytes(2, "big")
#: Control codes the driver sends without waiting for an answer.
_UNANSWERED = frozenset((CTRL_OFF, CTRL_ON, CTRL_RESET))
#: Seconds of silence after which a connection that owes the driver an answer (or
#: holds a partial frame) is dropped: 2.5 of pcscd's 400 ms presence polls.
STALL_TIMEOUT = 1.0
#: Longest delay between two connection attempts while they keep failing.
RETRY_MAX = 2.0

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_FRAME = struct.Struct(">H")


def _set_receive_timeout(sock: socket.socket, seconds: float) -> None:
    """Make every ``recv`` give up after ``seconds`` without data.

    ``SO_RCVTIMEO`` keeps the socket blocking, so a read costs one system call
    (a Python socket timeout adds a ``poll`` before every read of the hot path);
    ``recv`` then fails with ``EAGAIN`` (BlockingIOError).  Where the option is
    not available, a Python socket timeout does the same (TimeoutError).
    """
    whole = int(seconds)
    try:
        sock.setsockopt(
            socket.SOL_SOCKET,
            socket.SO_RCVTIMEO,
            struct.pack("ll", whole, int((seconds - whole) * 1_000_000)),
        )
    except (OSError, struct.error):
        sock.settimeout(seconds)
    else:
        sock.settimeout(None)


class VpcdConnector:
    """Keeps one card inserted in the vpcd slot at ``host:port`` until :meth:`stop`.

    Run it in the foreground with :meth:`run` (the CLI) or in a thread with
    :meth:`start` (tests, benchmarks).  ``connected`` is set while pcscd holds
    the connection, ``served`` counts frames handled, ``connections`` the
    connections made, ``attempts`` the connection attempts and ``stalls`` the
    connections dropped because they stalled (see the module docstring).
    ``retry_interval`` is the first delay between failing attempts; it doubles
    up to ``retry_max``.
    """

    def __init__(
        self,
        card: Icc,
        port: int = VPCD_PORT,
        host: str = "127.0.0.1",
        retry_interval: float = 0.1,
        retry_max: float = RETRY_MAX,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.card = card
        self.port = port
        self.host = host
        self.retry_interval = retry_interval
        self.retry_max = max(retry_max, retry_interval)
        self.stall_timeout = stall_timeout
        self.connected = threading.Event()
        self.served = 0
        self.connections = 0
        self.attempts = 0
        self.stalls = 0
        self._stop = threading.Event()
        self._rest = 0.0  # seconds to wait before the next connection (drop)
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

    def drop(self, rest: float = 0.0) -> None:
        """End the current connection and reconnect after ``rest`` seconds: pcscd sees the
        card pulled and re-inserted (a fresh power-on); a client waiting for an answer
        gets an error.  Used by the test bench's ``mute`` fault (:mod:`card.faults`); the
        rest lets the driver and pcscd see the empty slot first (a card back at once
        after a failed command is not noticed)."""
        self._rest = rest
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Connect, serve, reconnect after pcscd restarts; return once stopped.

        A connection that served frames is followed by an immediate reconnect;
        failing attempts (refused, or closed before serving anything) wait
        ``retry_interval`` and then twice as long each time, up to ``retry_max``.
        """
        announced_wait = False
        delay = self.retry_interval
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                if not announced_wait:
                    log.info("waiting for pcscd/vpcd on %s:%d", self.host, self.port)
                    announced_wait = True
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            announced_wait = False
            served_before = self.served
            self._serve_connection(sock)
            rest, self._rest = self._rest, 0.0
            if rest:
                self._stop.wait(rest)
            if self.served > served_before:
                delay = self.retry_interval
            elif not self._stop.is_set():
                self._stop.wait(delay)  # accepted and closed at once: back off as well
                delay = min(delay * 2, self.retry_max)
        log.info("card removed from the vpcd slot on port %d", self.port)

    # --- internals ------------------------------------------------------------------

    def _connect(self) -> socket.socket | None:
        self.attempts += 1
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError:
            return None
        _set_receive_timeout(sock, self.stall_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        if self._stop.is_set():  # stop() raced with connect(): do not insert
            sock.close()
            self._sock = None
            return None
        return sock

    def _serve_connection(self, sock: socket.socket) -> None:
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

    def _power_off(self) -> None:
        try:
            self.card.power_off()
        except Exception:
            log.exception("card power-off failed")

    def _serve(self, sock: socket.socket) -> None:
        """Answer frames until the driver closes the connection or it stalls."""
        buffer = bytearray()
        recv = sock.recv
        quickack = _TCP_QUICKACK
        owed = False  # the last frame was 00/01/02: the driver may wait for an answer
        while True:
            # Frame header, then payload; quick-ACK before every read (see module docstring).
            while True:
                if len(buffer) >= 2:
                    (length,) = _FRAME.unpack_from(buffer)
                    if len(buffer) >= 2 + length:
                        break
                if quickack is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
                try:
                    chunk = recv(65538)
                except (TimeoutError, BlockingIOError):  # STALL_TIMEOUT without a byte
                    if owed or buffer:
                        self._stalled(buffer)
                        return
                    continue  # idle: pcscd is merely slow to poll
                if not chunk:
                    return
                buffer += chunk
            payload = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            answer = self._handle(payload)
            if answer is not None:
                sock.sendall(_FRAME.pack(len(answer)) + answer)
            owed = answer is None
            self.served += 1

    def _stalled(self, buffer: bytearray) -> None:
        self.stalls += 1
        if buffer:
            log.warning(
                "vpcd port %d: partial frame (%d bytes) stalled for %.1f s; dropping the "
                "connection to resynchronise",
                self.port,
                len(buffer),
                self.stall_timeout,
            )
        else:
            log.warning(
                "vpcd port %d: the driver went silent after a control code, so a client "
                "sent it as a 1-byte APDU; re-inserting the card to free the slot",
                self.port,
            )

    def _handle(self, payload: bytes) -> bytes | None:
        card = self.card
        if len(payload) == 1:
            code = payload[0]
            if code == CTRL_ATR:
                return card.atr
            if code not in _UNANSWERED:
                log.info("vpcd port %d: 1-byte APDU %02X answered 6700", self.port, code)
                return SW_WRONG_LENGTH
            if code == CTRL_ON:
                card.power_on()
            elif code == CTRL_RESET:
                card.reset()
            else:
                card.power_off()
            return None
        try:
            return card.transmit(payload)
        except Exception:
            log.exception("card failed on APDU %s", payload.hex())
            return SW_NO_PRECISE_DIAGNOSIS
