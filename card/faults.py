"""A fault layer between the vpcd framing and the card: a card that misbehaves on demand.

A reader of the test bench (``rig.bench``) serves its card through a
:class:`FaultLayer`: an :class:`~card.icc.Icc` that hands every frame to the card
inside it unless a :class:`Fault` says otherwise.  The faults are those of real
cards in real readers (issue 18), each visible through pcscd to any PC/SC client:

``delay``   every matching APDU is answered ``ms`` milliseconds late;
``sw``      matching APDUs never reach the card and are answered ``sw``;
``mute``    from the ``after``-th matching APDU on the card says nothing; after
            ``ms`` milliseconds (or when the fault is cleared) the reader gives up:
            the vpcd connection drops, pcscd reports the card removed and inserted
            again (a fresh power-on), and the waiting client's transmit fails;
``tear``    the ``after``-th matching APDU runs with the power cut after the card's
            first durable write (``card.md`` §Persistence and tearing): whatever the
            card wrote first stays, nothing after it happens, no answer leaves, and
            the card is out of the reader.  A torn VERIFY therefore costs a try even
            with the right PIN (the decrement is written before the comparison);
``remove``  the ``after``-th matching APDU never reaches the card: ``ms``
            milliseconds after it arrived the card is pulled out of the reader.

``match`` is a hex prefix of the command APDU (``"0020"`` = VERIFY, ``"00B2"`` =
READ RECORD); empty matches every APDU.  ``count`` limits how often a ``delay``
or ``sw`` fault fires (None: until cleared); ``mute``, ``tear`` and ``remove``
fire once and are gone.  ATR polls and power control are never faulted: pcscd
keeps seeing a card unless a fault takes it out.

The layer does not know the vpcd connection; its owner passes ``drop`` (end the
connection, the connector reconnects: card re-inserted) and ``pull`` (card out
for good) callbacks, and ``on_apdu`` to log every exchange.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from card.icc import Icc
from card.image import CardStorageError

KINDS = ("delay", "sw", "mute", "tear", "remove")
#: Faults that fire once and are gone.
ONE_SHOT = frozenset(("mute", "tear", "remove"))
#: The longest a mute or a remove may hold a command (milliseconds).
MAX_HOLD_MS = 600_000
#: Answer given to the vpcd framing for a command whose answer never leaves (never sent).
_LOST = b"\x6f\x00"

_ids = itertools.count(1)


class FaultError(ValueError):
    """A fault description that cannot be applied; the message says what to fix."""


@dataclass
class Fault:
    """One fault on one reader (see the module docstring for the kinds)."""

    kind: str
    match: bytes = b""
    after: int = 1
    ms: int = 0
    sw: bytes = b""
    count: int | None = None
    id: int = field(default_factory=lambda: next(_ids))
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultError(f"fault kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not 1 <= self.after <= 1_000_000:
            raise FaultError("after counts matching APDUs: 1 to 1000000")
        if not 0 <= self.ms <= MAX_HOLD_MS:
            raise FaultError(f"ms is 0 to {MAX_HOLD_MS}")
        if self.kind == "sw" and len(self.sw) != 2:
            raise FaultError("an sw fault needs a 2-byte status word, e.g. 6A82")
        if self.kind == "delay" and self.ms == 0:
            raise FaultError("a delay fault needs ms > 0")
        if self.count is not None and not 1 <= self.count <= 1_000_000:
            raise FaultError("count is 1 to 1000000 (or absent: until cleared)")
        if len(self.match) > 16:
            raise FaultError("match is a command prefix of at most 16 bytes")

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from ``{"kind": ..., "match": "0020", "after": 1, "ms": 0, "sw": "6A82"}``."""
        if not isinstance(data, dict):
            raise FaultError("a fault is a JSON object with a kind")
        unknown = set(data) - {"kind", "match", "after", "ms", "sw", "count"}
        if unknown:
            raise FaultError(f"unknown fault fields: {sorted(unknown)}")
        try:
            return cls(
                kind=str(data.get("kind", "")),
                match=bytes.fromhex(str(data.get("match") or "")),
                after=_int(data.get("after", 1), "after"),
                ms=_int(data.get("ms", 0), "ms"),
                sw=bytes.fromhex(str(data.get("sw") or "")),
                count=None if data.get("count") is None else _int(data["count"], "count"),
            )
        except ValueError as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"match and sw are hex: {exc}") from None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "match": self.match.hex().upper(),
            "after": self.after,
            "ms": self.ms,
            "sw": self.sw.hex().upper() or None,
            "count": self.count,
            "seen": self.seen,
            "fired": self.fired,
        }

    def due(self, apdu: bytes) -> bool:
        """Count ``apdu`` if it matches; True when the fault fires on it."""
        if not apdu.startswith(self.match):
            return False
        self.seen += 1
        if self.seen < self.after:
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        self.fired += 1
        return True

    @property
    def spent(self) -> bool:
        if self.kind in ONE_SHOT:
            return self.fired > 0
        return self.count is not None and self.fired >= self.count


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{name} is an integer")
    return value


Observer = Callable[[dict[str, object]], None]


class FaultLayer:
    """The card of one reader behind its faults; an :class:`Icc` for the vpcd connector.

    ``card`` may be swapped while no connector serves it.  ``drop`` and ``pull`` are
    set by the owner (see the module docstring); ``on_apdu`` receives one dict per
    APDU: ``command``, ``response`` (bytes), ``ms``, and ``fault`` (a kind or None).
    """

    def __init__(self, card: Icc | None = None, on_apdu: Observer | None = None) -> None:
        self.card = card
        self.on_apdu = on_apdu
        self.drop: Callable[[str], None] = lambda reason: None
        self.pull: Callable[[str], None] = lambda reason: None
        self._faults: list[Fault] = []
        self._holding: set[int] = set()  # ids of mute faults holding a command now
        self._lock = threading.Lock()
        self._released = threading.Event()  # set: stop holding commands (card removed)

    # --- faults ------------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        """Clear one fault (or all); how many were cleared.  Held commands end."""
        with self._lock:
            before = len(self._faults) + len(self._holding)
            self._faults = [f for f in self._faults if fault_id is not None and f.id != fault_id]
            self._holding = {i for i in self._holding if fault_id is not None and i != fault_id}
            return before - len(self._faults) - len(self._holding)

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def release(self) -> None:
        """End every held command now (the card leaves the reader)."""
        self._released.set()

    def rearm(self) -> None:
        """A new card: commands may be held again."""
        self._released.clear()

    # --- Icc --------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self._card().atr

    def power_on(self) -> bytes:
        return self._card().power_on()

    def reset(self) -> bytes:
        return self._card().reset()

    def power_off(self) -> None:
        self._card().power_off()

    def _card(self) -> Icc:
        if self.card is None:
            raise RuntimeError("no card in this fault layer")
        return self.card

    def transmit(self, apdu: bytes) -> bytes:
        started = time.perf_counter()
        fired: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.due(apdu):
                    fired.append(fault)
            self._faults = [f for f in self._faults if not f.spent]
        answer, lost = self._apply(apdu, fired)
        if self.on_apdu is not None:
            self.on_apdu(
                {
                    "command": apdu,
                    "response": None if lost else answer,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "fault": ",".join(f.kind for f in fired) or None,
                }
            )
        return answer

    def _apply(self, apdu: bytes, fired: list[Fault]) -> tuple[bytes, bool]:
        """The answer and whether it is lost (never leaves the reader)."""
        answer: bytes | None = None
        for fault in fired:
            if fault.kind == "delay":
                self._released.wait(fault.ms / 1000)
            elif fault.kind == "sw":
                answer = fault.sw
            elif fault.kind == "mute":
                self._hold(fault)
                self.drop("mute")
                return _LOST, True
            elif fault.kind == "remove":
                self._released.wait(fault.ms / 1000)
                self.pull("remove")
                return _LOST, True
            elif fault.kind == "tear":
                self._torn(apdu)
                self.pull("tear")
                return _LOST, True
        if answer is None:
            answer = self._card().transmit(apdu)
        return answer, False

    def _hold(self, fault: Fault) -> None:
        """Say nothing for ``fault.ms`` (0: until cleared) or until the card is removed."""
        deadline = time.monotonic() + (fault.ms or MAX_HOLD_MS) / 1000
        with self._lock:
            self._holding.add(fault.id)
        try:
            while time.monotonic() < deadline and not self._released.is_set():
                with self._lock:
                    if fault.id not in self._holding:
                        return
                self._released.wait(0.02)
        finally:
            with self._lock:
                self._holding.discard(fault.id)

    def _torn(self, apdu: bytes) -> None:
        """Run ``apdu`` with the power cut after the card's first durable write."""
        card = self._card()
        image = getattr(card, "image", None)
        if image is None:  # not a card with storage: the command is simply lost
            return
        commit = image.commit
        writes = 0

        def first_write_only() -> None:
            nonlocal writes
            if writes:
                raise CardStorageError("power cut (tear)")
            writes += 1
            commit()

        image.commit = first_write_only
        try:
            card.transmit(apdu)
        finally:
            del image.commit
