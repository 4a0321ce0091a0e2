"""The reader contract: the names every reader implementation and every caller share.

This is the *transport* layer of the terminal (``shared/style.md``): it moves
command APDUs to a card and response APDUs back, and knows nothing about
SSSE or EMV.  Everything above it (``terminal.session``) sees a
:class:`CardConnection` with an ``atr`` and ``transmit(apdu) -> Response``.

Names (the contract used by the terminal flows and the hospital simulation)::

    Response(data: bytes, sw: int)        a NamedTuple: ``data, sw = conn.transmit(apdu)``
    Reader                                 protocol: name, card_present(), wait_for_card(),
                                           wait_for_removal(), connect() -> CardConnection,
                                           close(); usable as a context manager
    CardConnection                         protocol: reader_name, atr, transmit(apdu),
                                           transmit_raw(apdu), reset(), disconnect(),
                                           close(); usable as a context manager
    check_command(apdu)                    refuses a command APDU no reader can carry

    ReaderError                            base of every error below
    ├── PcscdNotRunning                    the PC/SC daemon is not reachable
    ├── NoReader                           no reader, or no reader of that name
    ├── NoCard                             no card in the reader (or none arrived in time)
    ├── CardRemoved                        the card left mid-session (or pcscd restarted)
    ├── CardStillPresent                   wait_for_removal() timed out
    ├── InvalidCommand                     the command APDU is shorter than 4 or longer
    │                                      than 65 535 bytes (refused before sending)
    └── CardUnresponsive                   the card is present but did not answer / the
                                           exchange failed (a failed PC/SC exchange is
                                           CardRemoved when the reader says the card left)

The implementations (``terminal.readers.pcsc.PcscReader``,
``terminal.readers.inprocess.InProcessReader``) import this module only; the
factory that picks a PC/SC reader (``open_reader`` …) is :mod:`terminal.readers`.

Whoever opens a reader closes it: a ``PcscReader`` holds a PC/SC context (a
connection and a thread in pcscd, which refuses new ones after a few hundred)
until :meth:`close`; ``with open_reader(...) as reader:`` does that.

Transmission follows ISO/IEC 7816-3 T=0 at the APDU level (``card.md``
§Physical layer, §Commands "Case-4 behaviour like a T=0 card"):
:func:`exchange_t0` repeats a command with the corrected Le when the card
answers ``6Cxx`` and fetches pending data with GET RESPONSE (``00 C0 00 00
xx``) while the card answers ``61xx``, concatenating the pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, Self, runtime_checkable

from card.sw import SW

#: INS of GET RESPONSE (ISO/IEC 7816-4 §7.6.1).
INS_GET_RESPONSE = 0xC0
#: A card that keeps answering 61xx more often than this is broken, not chatty.
MAX_GET_RESPONSE_ROUNDS = 64


#: Status words by name from the card's one table (card/sw.py), as plain ints for the hot path.
_SW_OK = int(SW.OK)
_SW1_WRONG_LE = SW.WRONG_LE >> 8  # 6Cxx: the right Le is xx
_SW1_BYTES_AVAILABLE = SW.BYTES_AVAILABLE >> 8  # 61xx: xx bytes wait for GET RESPONSE


class ReaderError(Exception):
    """Something between the terminal and the card went wrong; the message says what to do."""


class PcscdNotRunning(ReaderError):
    """The PC/SC daemon (pcscd) is not running or not reachable."""

    def __init__(self, detail: str = "") -> None:
        message = (
            "pcscd (the PC/SC daemon) is not running: start it with "
            "`python -m card rig start` (or `sudo systemctl start pcscd`), then retry"
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class NoReader(ReaderError):
    """No smart-card reader is attached, or none has the requested name."""


class NoCard(ReaderError):
    """The reader is empty (or no card arrived before the timeout)."""


class CardRemoved(ReaderError):
    """The card was removed (or its reader went away) during the session."""


class CardStillPresent(ReaderError, TimeoutError):
    """The card was not removed before the timeout."""


class CardUnresponsive(ReaderError):
    """The card or the reader did not complete an exchange."""


class InvalidCommand(ReaderError, ValueError):
    """A command APDU no reader can carry; refused before it is sent."""


#: ISO/IEC 7816-4 §5.1: a command APDU has a 4-byte header (CLA INS P1 P2).
MIN_COMMAND_LENGTH = 4
#: The longest command the vpcd driver can frame (a 2-byte length); longer ones make
#: it drop the card (``card.md`` §What real cards do, "vpcd framing").
MAX_COMMAND_LENGTH = 0xFFFF


def check_command(apdu: bytes) -> None:
    """Refuse a command APDU shorter than 4 or longer than 65 535 bytes (InvalidCommand).

    Every reader implementation calls this before sending, so a bad command
    never reaches pcscd: a 1-byte command can block a vpcd slot, a 65 536-byte
    one makes the driver drop the card.
    """
    if not MIN_COMMAND_LENGTH <= len(apdu) <= MAX_COMMAND_LENGTH:
        raise InvalidCommand(
            f"a command APDU has {MIN_COMMAND_LENGTH} to {MAX_COMMAND_LENGTH} bytes "
            f"(CLA INS P1 P2 [Lc data] [Le]), not {len(apdu)}: nothing was sent to the card"
        )


class Response(NamedTuple):
    """A response APDU split into its data field and its status word (SW1 SW2 as one int)."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == _SW_OK

    @classmethod
    def from_bytes(cls, rapdu: bytes) -> Response:
        """Split ``data || SW1 SW2``; a response shorter than two bytes is a broken exchange."""
        if len(rapdu) < 2:
            raise CardUnresponsive(
                f"the card answered {len(rapdu)} byte(s), not a status word: "
                "remove and re-insert the card"
            )
        return cls(bytes(rapdu[:-2]), (rapdu[-2] << 8) | rapdu[-1])

    def __bytes__(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")


@runtime_checkable
class CardConnection(Protocol):
    """A powered card in a reader, ready for APDUs (what ``terminal.session`` uses)."""

    reader_name: str
    atr: bytes

    def transmit(self, apdu: bytes) -> Response: ...

    def transmit_raw(self, apdu: bytes) -> Response: ...

    def reset(self) -> bytes: ...

    def disconnect(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Reader(Protocol):
    """One card slot; :meth:`close` releases what it holds (and ends its connections)."""

    name: str

    def card_present(self) -> bool: ...

    def wait_for_card(self, timeout: float | None = None) -> None: ...

    def wait_for_removal(self, timeout: float | None = None) -> None: ...

    def connect(self) -> CardConnection: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def with_le(apdu: bytes, le: int) -> bytes:
    """The same command with its Le set to ``le`` (short APDUs; cases 1-4 of ISO 7816-4 §5.1)."""
    if len(apdu) < 4:
        raise ValueError("a command APDU has at least four bytes (CLA INS P1 P2)")
    if len(apdu) == 4:  # case 1
        return apdu + bytes([le])
    if len(apdu) == 5:  # case 2: the fifth byte is Le
        return apdu[:4] + bytes([le])
    lc = apdu[4]
    if len(apdu) == 5 + lc:  # case 3
        return apdu + bytes([le])
    return apdu[: 5 + lc] + bytes([le])  # case 4


def exchange_t0(send: Callable[[bytes], Response], apdu: bytes) -> Response:
    """One logical exchange: Le correction on ``6Cxx``, GET RESPONSE chaining on ``61xx``."""
    response = send(apdu)
    if response.sw1 == _SW1_WRONG_LE:
        response = send(with_le(apdu, response.sw2))
    data = response.data
    rounds = 0
    while response.sw1 == _SW1_BYTES_AVAILABLE:
        rounds += 1
        if rounds > MAX_GET_RESPONSE_ROUNDS:
            raise CardUnresponsive(
                f"the card kept answering 61xx after {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE "
                "commands: remove the card"
            )
        response = send(bytes([apdu[0] & 0x03, INS_GET_RESPONSE, 0, 0, response.sw2]))
        data += response.data
    return Response(data, response.sw)
