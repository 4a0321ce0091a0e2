"""The replay model: steps of a public reader's sequence, and a runner for two transports.

A :class:`Source` is the sequence one public reader sends, step by step, each
:class:`Step` citing the line it comes from and saying what that reader needs
back (accepted status words, the data length it ends up with) and how it reads
the answer (``parse``, compared with a named fact of the test card).

Two ways to play a source (issue #12, "raw mode" and "T=0-aware mode"):

* :func:`play_raw` sends exactly the reader's bytes over a bare exchange and
  follows ``61xx``/``6Cxx`` the way that reader (or the reader library it is
  written against) does — its :class:`FollowUp` — so each step also records the
  first answer a T=0 card gives to those exact bytes.
* :func:`play_t0` sends the same bytes through a T=0-aware transport (the
  terminal's reader layer, which does GET RESPONSE and Le correction itself).

:func:`problems` compares the outcome with the steps and the card's facts and
returns readable mismatches (empty when the reader would have been satisfied).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple


class Answer(NamedTuple):
    """A response APDU: data and status word (SW1 SW2 as one int)."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def __str__(self) -> str:
        return (self.data.hex() + f"{self.sw:04x}").upper()


#: One exchange on the wire: command bytes → answer.
Exchange = Callable[[bytes], Answer]
#: How a reader follows up the first answer to a command: (send, command, first) → final.
FollowUp = Callable[[Exchange, bytes, Answer], Answer]


def get_response(cla: int, length: int) -> bytes:
    """``00 C0 00 00 xx`` (ISO/IEC 7816-4 §7.6.1) with the class of the command it follows."""
    return bytes([cla & 0x03, 0xC0, 0x00, 0x00, length])


def with_le(apdu: bytes, le: int) -> bytes:
    """The reader's own Le correction: the last byte replaced (all readers here do this)."""
    return apdu[:-1] + bytes([le])


def no_follow_up(send: Exchange, apdu: bytes, first: Answer) -> Answer:
    """The reader takes the first answer as it is (it accepts ``61xx`` as success)."""
    return first


def get_response_on_61(send: Exchange, apdu: bytes, first: Answer) -> Answer:
    """A reader library that fetches ``61xx`` data with one GET RESPONSE and Le correction on
    ``6Cxx`` (ISO/IEC 7816-3 §10.3.3 / 7816-4 §5.1.3, what T=0 reader libraries do)."""
    answer = first
    if answer.sw1 == 0x6C:
        answer = send(with_le(apdu, answer.sw2))
    if answer.sw1 == 0x61:
        fetched = send(get_response(apdu[0], answer.sw2))
        answer = Answer(answer.data + fetched.data, fetched.sw)
    return answer


@dataclass(frozen=True)
class Step:
    """One command of a reader's sequence.

    ``apdu`` is the reader's hex string, or a function of the run so far for
    commands that carry challenges or cryptograms. ``accept`` lists the status
    words the reader treats as success, ``x`` as a wildcard nibble (``61xx``).
    ``length`` is the data length the reader ends up with (after its own
    follow-up), ``None`` when it does not depend on it. ``parse`` is how the
    reader reads the answer's data; the result must equal ``facts[fact]``.
    ``raw_first`` is the status word a T=0 card must give first to exactly
    these bytes (checked in raw mode), e.g. ``611E`` for SELECT without Le.
    """

    name: str
    apdu: str | Callable[[Run], bytes]
    cite: str
    accept: tuple[str, ...] = ("9000",)
    length: int | None = None
    parse: Callable[[bytes], object] | None = None
    fact: str | None = None
    raw_first: str | None = None


@dataclass(frozen=True)
class Source:
    """A public reader's sequence: where it comes from and how it follows up ``61xx``/``6Cxx``."""

    name: str
    repo: str
    commit: str
    path: str
    follow_up: FollowUp
    steps: tuple[Step, ...]
    note: str = ""


@dataclass
class Outcome:
    step: Step
    apdu: bytes
    first: Answer | None  # the first answer on the wire (raw mode only)
    final: Answer
    parsed: object = None


@dataclass
class Run:
    """One play of a source against one card: the answers so far and the card's keys."""

    source: Source
    algorithm: str  # "3des" or "sm4"
    keys: dict[int, bytes] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    wire: list[tuple[bytes, Answer]] = field(default_factory=list)

    def challenges(self) -> list[bytes]:
        """Data of every GET CHALLENGE answered so far, oldest first."""
        return [o.final.data for o in self.outcomes if o.apdu[1:2] == b"\x84"]

    def trace(self) -> str:
        return "\n".join(f"  > {c.hex().upper()}\n  < {a}" for c, a in self.wire)


def _apdu(step: Step, run: Run) -> bytes:
    return bytes.fromhex(step.apdu) if isinstance(step.apdu, str) else step.apdu(run)


def _recording(send: Exchange, run: Run) -> Exchange:
    def recorded(apdu: bytes) -> Answer:
        answer = send(apdu)
        run.wire.append((apdu, answer))
        return answer

    return recorded


def _finish(run: Run, step: Step, apdu: bytes, first: Answer | None, final: Answer) -> None:
    parsed = None
    if step.parse is not None and final.sw == 0x9000:
        try:
            parsed = step.parse(final.data)
        except (ValueError, IndexError, UnicodeDecodeError) as error:
            parsed = f"<parse failed: {error}>"
    run.outcomes.append(Outcome(step, apdu, first, final, parsed))


def play_raw(source: Source, send: Exchange, run: Run) -> Run:
    """Exactly the reader's bytes on a bare exchange, its own ``61xx``/``6Cxx`` follow-up."""
    wire = _recording(send, run)
    for step in source.steps:
        apdu = _apdu(step, run)
        first = wire(apdu)
        _finish(run, step, apdu, first, source.follow_up(wire, apdu, first))
    return run


def play_t0(source: Source, transmit: Exchange, run: Run) -> Run:
    """The reader's bytes through a T=0-aware transport (no follow-up of the reader's own)."""
    wire = _recording(transmit, run)
    for step in source.steps:
        apdu = _apdu(step, run)
        _finish(run, step, apdu, None, wire(apdu))
    return run


def sw_matches(pattern: str, sw: int) -> bool:
    return re.fullmatch(pattern.lower().replace("x", "[0-9a-f]"), f"{sw:04x}") is not None


def problems(run: Run, facts: dict[str, object]) -> list[str]:
    """What would have made the reader fail or read wrong values; empty when all is well."""
    found = []
    for n, outcome in enumerate(run.outcomes, 1):
        step = outcome.step
        where = f"step {n} {step.name} ({step.cite}) {outcome.apdu.hex().upper()}"
        first = outcome.first
        if first is not None and step.raw_first and not sw_matches(step.raw_first, first.sw):
            found.append(f"{where}: first answer {first}, a T=0 card answers {step.raw_first}")
        final = outcome.final
        if not any(sw_matches(p, final.sw) for p in step.accept):
            found.append(f"{where}: answered {final}, the reader accepts {step.accept}")
            continue
        if step.length is not None and len(final.data) != step.length:
            found.append(f"{where}: {len(final.data)} data bytes, the reader expects {step.length}")
        if step.fact is not None and outcome.parsed != facts[step.fact]:
            found.append(
                f"{where}: the reader reads {outcome.parsed!r}, the card holds "
                f"{step.fact} = {facts[step.fact]!r}"
            )
    return found


# --- how the readers here decode values ----------------------------------------------------


def gbk_c_string(data: bytes) -> str:
    """A C string in GBK: up to the first NUL (what ``strcpy``/``CString`` keep)."""
    return data.split(b"\x00", 1)[0].decode("gbk")


def hex_upper(data: bytes) -> str:
    return data.hex().upper()


def tlv_value(data: bytes) -> bytes:
    """The value of a one-record TLV answer: ``data[2 : 2 + data[1]]`` (tag, length, value)."""
    if len(data) < 2 or len(data) < 2 + data[1]:
        raise ValueError(f"not a tag-length-value record: {data.hex()}")
    return data[2 : 2 + data[1]]


def ber_tlv(data: bytes) -> list[tuple[bytes, bytes]]:
    """Strict BER-TLV (ISO/IEC 8825-1 as EMV 4.3 Book 3 Annex B uses it): [(tag, value)].

    Independent of ``card.tlv``; raises ValueError on anything an EMV terminal
    could not parse (truncated tag, length or value, indefinite length).
    """
    items, i = [], 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):  # padding between objects (Book 3 Annex B)
            i += 1
            continue
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        if i >= len(data):
            raise ValueError(f"truncated tag at {start}: {data.hex()}")
        tag = data[start:i]
        length = data[i]
        i += 1
        if length == 0x80 or length > 0x82:
            raise ValueError(f"length form {length:02x} at {i - 1}: {data.hex()}")
        if length in (0x81, 0x82):
            size = length - 0x80
            length = int.from_bytes(data[i : i + size], "big")
            i += size
        if i + length > len(data):
            raise ValueError(f"value of {tag.hex()} runs past the end: {data.hex()}")
        items.append((tag, data[i : i + length]))
        i += length
    return items


def tlv_find(data: bytes, *path: bytes) -> bytes | None:
    """The value at a path of tags through constructed objects, or None."""
    value: bytes | None = data
    for tag in path:
        if value is None:
            return None
        value = dict(ber_tlv(value)).get(tag)
    return value
