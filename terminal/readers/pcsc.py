"""PC/SC readers through pyscard and the real pcscd (PC/SC Workgroup spec part 5).

Uses pyscard's thin ``smartcard.scard`` layer (SCardEstablishContext,
SCardGetStatusChange, SCardConnect, SCardTransmit) rather than its
object layer, so that every PC/SC return code maps onto one of the
:mod:`terminal.readers.base` errors with a message telling the user what to do.
The protocol is T=0 (``card.md`` §Physical layer).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Self

from terminal.readers.base import (
    CardRemoved,
    CardStillPresent,
    CardUnresponsive,
    NoCard,
    NoReader,
    PcscdNotRunning,
    ReaderError,
    Response,
    check_command,
    exchange_t0,
)

try:
    from smartcard import scard
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise ReaderError(
        "pyscard is not installed: `pip install pyscard` (needs libpcsclite-dev and swig)"
    ) from exc

#: Return codes meaning the daemon went away (not running, or restarted under us).
_NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_F_COMM_ERROR}
_GONE = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_INVALID_HANDLE,
    scard.SCARD_W_RESET_CARD,
    *_NO_SERVICE,
}
#: Longest slice of one SCardGetStatusChange call, so that a restart of pcscd is noticed.
_WAIT_SLICE_MS = 1000
#: How long a wait survives pcscd being away (a restart) before giving up.
RESTART_GRACE = 10.0
#: ``SCardStatus`` state bit "no card in the reader" (pcsclite.h; pyscard does not export it).
_SCARD_ABSENT = 0x0002
#: After a failed exchange, how long to wait for pcscd to notice that the card left
#: (it polls presence every 400 ms) before calling the card present but mute.
REMOVAL_GRACE = 1.5


def _describe(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult).strip()} (0x{hresult & 0xFFFFFFFF:08X})"


class _Context:
    """A PC/SC context that re-establishes itself after pcscd restarts, until closed.

    Each established context is a connection (and a thread) in pcscd, which
    refuses new ones ("Access denied") once it serves a few hundred: a context
    must be released (:meth:`close`) when its owner is done with it.
    """

    def __init__(self, owner: str = "the PC/SC context") -> None:
        self._handle: int | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._owner = owner

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self) -> int:
        with self._lock:
            if self._closed:
                raise ReaderError(f"{self._owner} is closed: open the reader again")
            if self._handle is None:
                hresult, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hresult in _NO_SERVICE:
                    raise PcscdNotRunning(_describe(hresult))
                if hresult == scard.SCARD_E_NO_ACCESS:
                    raise ReaderError(
                        f"pcscd refuses another client ({_describe(hresult)}): too many PC/SC "
                        "contexts are open; close() readers that are no longer used"
                    )
                if hresult != scard.SCARD_S_SUCCESS:
                    raise ReaderError(f"cannot talk to pcscd: {_describe(hresult)}")
                self._handle = handle
            return self._handle

    def drop(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            scard.SCardReleaseContext(handle)

    def close(self) -> None:
        """Release the context for good (SCardReleaseContext); later calls raise ReaderError."""
        with self._lock:
            self._closed = True
        self.drop()

    def call(self, function, *args):
        """Call ``function(context, *args)``; retry once with a fresh context after a restart."""
        result = function(self.get(), *args)
        if result[0] in _NO_SERVICE or result[0] == scard.SCARD_E_INVALID_HANDLE:
            self.drop()
            result = function(self.get(), *args)
            if result[0] in _NO_SERVICE:
                raise PcscdNotRunning(_describe(result[0]))
        return result


_shared = _Context()


def list_readers() -> list[str]:
    """Names of all readers pcscd knows; an empty list when there are none."""
    hresult, names = _shared.call(scard.SCardListReaders, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot list readers: {_describe(hresult)}")
    return list(names)


def open_reader(which: str | int | None = None) -> PcscReader:
    """A reader by exact name, unique fragment of its name, or index in :func:`list_readers`."""
    names = list_readers()
    if not names:
        raise NoReader(
            "pcscd sees no reader: configure virtual readers with `python -m card rig setup` "
            "or plug in a reader"
        )
    if which is None:
        return PcscReader(names[0])
    if isinstance(which, int):
        if not 0 <= which < len(names):
            raise NoReader(f"there is no reader {which}; readers: {names}")
        return PcscReader(names[which])
    if which in names:
        return PcscReader(which)
    matches = [name for name in names if which.lower() in name.lower()]
    if len(matches) == 1:
        return PcscReader(matches[0])
    if not matches:
        raise NoReader(f"no reader named like {which!r}; readers: {names}")
    raise NoReader(f"{which!r} matches several readers {matches}: give the full name")


def _states(context: _Context, names: list[str], timeout: float | None) -> list:
    """Current states of ``names`` (one SCardGetStatusChange with UNAWARE states)."""
    hresult, states = context.call(
        scard.SCardGetStatusChange, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in names]
    )
    if hresult == scard.SCARD_E_UNKNOWN_READER:
        raise NoReader(f"pcscd does not know reader(s) {names}: see `python -m card rig status`")
    if hresult != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot read reader state: {_describe(hresult)}")
    return states


def _states_after_restart(context: _Context, names: list[str], deadline: float | None) -> list:
    """Reader states once pcscd is back (it restarted, or is reloading its readers).

    Gives pcscd :data:`RESTART_GRACE` seconds (or until ``deadline``) to come back
    and list the readers again; then the usual errors apply.
    """
    grace = time.monotonic() + RESTART_GRACE
    limit = grace if deadline is None else min(grace, max(deadline, time.monotonic()))
    while True:
        try:
            return _states(context, names, 0)
        except (PcscdNotRunning, NoReader):
            context.drop()
            if time.monotonic() >= limit:
                raise
            time.sleep(0.1)


def _wait(
    context: _Context, names: list[str], want_card: bool, timeout: float | None
) -> str | None:
    """Wait until one of ``names`` has (or has no) card; the reader's name, or None on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    states = _states(context, names, timeout)
    while True:
        for name, event, _atr in states:
            present = bool(event & scard.SCARD_STATE_PRESENT) and not (
                event & scard.SCARD_STATE_MUTE
            )
            if present == want_card:
                return name
        if deadline is None:
            slice_ms = _WAIT_SLICE_MS
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            slice_ms = max(1, min(_WAIT_SLICE_MS, int(left * 1000)))
        current = [(name, event & ~scard.SCARD_STATE_CHANGED) for name, event, _atr in states]
        try:
            hresult, new_states = context.call(scard.SCardGetStatusChange, slice_ms, current)
        except PcscdNotRunning:
            hresult = scard.SCARD_E_NO_SERVICE
        if hresult == scard.SCARD_E_TIMEOUT:
            continue
        if hresult in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
            states = _states_after_restart(context, names, deadline)
            continue
        if hresult == scard.SCARD_E_INVALID_HANDLE or hresult in _NO_SERVICE:
            states = _states_after_restart(context, names, deadline)
            continue
        if hresult != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"waiting for a card failed: {_describe(hresult)}")
        states = new_states


def wait_for_any_card(timeout: float | None = None, names: list[str] | None = None) -> PcscReader:
    """The first of ``names`` (default: all readers) that holds a card."""
    names = names or list_readers()
    if not names:
        raise NoReader("pcscd sees no reader: run `python -m card rig setup`")
    name = _wait(_shared, names, True, timeout)
    if name is None:
        raise NoCard(f"no card was inserted within {timeout} s: insert a card")
    return PcscReader(name)


class PcscReader:
    """One PC/SC reader (slot) known to pcscd.

    The reader owns a PC/SC context of its own (established on first use, so
    that blocking waits of different readers do not queue behind each other).
    :meth:`close` (or leaving a ``with`` block) disconnects the reader's open
    connections and releases the context; a reader that is merely dropped
    releases it when garbage-collected.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._context = _Context(f"the reader {name!r}")
        self._connections: weakref.WeakSet[PcscConnection] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, self._context.close)

    def __repr__(self) -> str:
        state = ", closed" if self._context.closed else ""
        return f"PcscReader({self.name!r}{state})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._context.closed

    def close(self) -> None:
        """Disconnect open connections (resetting their cards) and release the PC/SC context.

        Idempotent. A closed reader raises :class:`ReaderError` when used again.
        """
        for connection in list(self._connections):
            connection.disconnect()
        self._finalizer()

    def card_present(self) -> bool:
        ((_name, event, _atr),) = _states(self._context, [self.name], 0)
        return bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE

    def atr(self) -> bytes:
        """The ATR of the card in the reader, without connecting (empty if no card)."""
        ((_name, _event, atr),) = _states(self._context, [self.name], 0)
        return bytes(atr)

    def wait_for_card(self, timeout: float | None = None) -> None:
        if _wait(self._context, [self.name], True, timeout) is None:
            raise NoCard(f"no card was inserted into {self.name!r} within {timeout} s")

    def wait_for_removal(self, timeout: float | None = None) -> None:
        if _wait(self._context, [self.name], False, timeout) is None:
            raise CardStillPresent(
                f"the card is still in {self.name!r} after {timeout} s: ask the holder to "
                "take it out"
            )

    def connect(self, exclusive: bool = False) -> PcscConnection:
        """Power the card and open a T=0 session (shared unless ``exclusive``)."""
        share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        hresult, handle, _protocol = self._context.call(
            scard.SCardConnect, self.name, share, scard.SCARD_PROTOCOL_T0
        )
        if hresult in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
            raise NoCard(f"no card in {self.name!r}: insert a card and retry")
        if hresult in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD):
            raise CardUnresponsive(
                f"the card in {self.name!r} does not answer: remove and re-insert it"
            )
        if hresult in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
            raise NoReader(f"no reader {self.name!r}: see `python -m card rig status`")
        if hresult == scard.SCARD_E_PROTO_MISMATCH:
            raise ReaderError(f"the card in {self.name!r} does not speak T=0")
        if hresult == scard.SCARD_E_SHARING_VIOLATION:
            raise ReaderError(
                f"another program holds the card in {self.name!r} exclusively: close it"
            )
        if hresult != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"cannot connect to {self.name!r}: {_describe(hresult)}")
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(handle)
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
            raise CardRemoved(f"the card left {self.name!r} while connecting: re-insert it")
        connection = PcscConnection(self.name, handle, bytes(atr), self._context, self)
        self._connections.add(connection)
        return connection


class PcscConnection:
    """A T=0 session with the card in one PC/SC reader; :meth:`close` ends it."""

    def __init__(
        self,
        reader_name: str,
        handle: int,
        atr: bytes,
        context: _Context | None = None,
        reader: PcscReader | None = None,
    ) -> None:
        self.reader_name = reader_name
        self.atr = atr
        self._handle: int | None = handle
        self._context = context
        # Keeps the reader (whose context the handle lives in) from being collected, and
        # so its context released, while this connection is in use.
        self._reader = reader

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def _lost(self, hresult: int) -> ReaderError:
        self._handle = None
        if hresult == scard.SCARD_W_RESET_CARD:
            return CardRemoved(
                f"another program reset the card in {self.reader_name!r}: the session is lost, "
                "start again"
            )
        if hresult in _NO_SERVICE or hresult == scard.SCARD_E_INVALID_HANDLE:
            return CardRemoved(
                f"pcscd stopped or restarted during the session with {self.reader_name!r}: "
                "the session is lost; connect again once pcscd runs (`python -m card rig status`)"
            )
        return CardRemoved(
            f"the card was removed from {self.reader_name!r} during the session: "
            "re-insert it and start again"
        )

    def card_gone(self, grace: float = REMOVAL_GRACE) -> bool:
        """Whether the card has left the reader, asked of pcscd after a failed exchange.

        SCardStatus on the handle first (``SCARD_W_REMOVED_CARD`` or an absent
        card); if the card still looks present, SCardGetStatusChange waits up to
        ``grace`` seconds for pcscd's next presence poll (every 400 ms for vpcd
        and most USB readers) to notice that it went.  False means the card is
        still there: it is present but did not answer.
        """
        handle = self._handle
        if handle is None:
            return True
        hresult, _reader, state, _protocol, _atr = scard.SCardStatus(handle)
        if hresult in _GONE:
            return True
        if hresult == scard.SCARD_S_SUCCESS and state & _SCARD_ABSENT:
            return True
        if self._context is None or grace <= 0:
            return False
        try:
            ((_name, event, _atr),) = _states(self._context, [self.reader_name], 0)
            insertions = event >> 16  # pcsc-lite counts card events in the upper 16 bits
            deadline = time.monotonic() + grace
            while event & scard.SCARD_STATE_PRESENT and event >> 16 == insertions:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0:
                    return False
                current = [(self.reader_name, event & ~scard.SCARD_STATE_CHANGED)]
                hresult, states = self._context.call(scard.SCardGetStatusChange, left_ms, current)
                if hresult == scard.SCARD_E_TIMEOUT:
                    return False
                if hresult != scard.SCARD_S_SUCCESS:
                    return True  # the reader itself went away
                ((_name, event, _atr),) = states
        except ReaderError:
            return True  # pcscd or the reader went away: the session is gone either way
        return True

    def transmit_raw(self, apdu: bytes) -> Response:
        """One command APDU, one response APDU, no T=0 helpers.

        A failed exchange is :class:`CardRemoved` when the card has left the
        reader (see :meth:`card_gone`), :class:`CardUnresponsive` when it is
        still there but did not answer.  A command no reader can carry is
        :class:`InvalidCommand`, and nothing is sent.
        """
        check_command(apdu)
        if self._handle is None:
            raise CardRemoved(f"the connection to {self.reader_name!r} is closed: connect again")
        hresult, rapdu = scard.SCardTransmit(self._handle, scard.SCARD_PCI_T0, list(apdu))
        if hresult != scard.SCARD_S_SUCCESS:
            if hresult in _GONE or self.card_gone():
                raise self._lost(hresult if hresult in _GONE else scard.SCARD_W_REMOVED_CARD)
            raise CardUnresponsive(
                f"the card in {self.reader_name!r} is present but the exchange failed: "
                f"{_describe(hresult)}; remove and re-insert the card"
            )
        return Response.from_bytes(bytes(rapdu))

    def transmit(self, apdu: bytes) -> Response:
        return exchange_t0(self.transmit_raw, bytes(apdu))

    def reset(self) -> bytes:
        """Warm reset (SCardReconnect with SCARD_RESET_CARD); returns the new ATR."""
        if self._handle is None:
            raise CardRemoved(f"the connection to {self.reader_name!r} is closed: connect again")
        hresult, _protocol = scard.SCardReconnect(
            self._handle, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0, scard.SCARD_RESET_CARD
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._lost(hresult)
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._handle)
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._lost(hresult)
        self.atr = bytes(atr)
        return self.atr

    def disconnect(self, reset: bool = True) -> None:
        """End the session; by default reset the card so no verified PIN outlives it."""
        handle, self._handle = self._handle, None
        if handle is not None:
            disposition = scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD
            scard.SCardDisconnect(handle, disposition)

    def close(self) -> None:
        """Release the card handle (SCardDisconnect, resetting the card); idempotent."""
        self.disconnect()
