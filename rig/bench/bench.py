"""The test bench: the rig's readers, cards made from profiles, faults and logs (issue 18).

One :class:`Bench` per bench process.  A reader of the bench is a rig reader
(:mod:`rig.conf`) with a :class:`~card.faults.FaultLayer` and a
:class:`~rig.log.ReaderLog`; a card goes in through a
:class:`~card.vpcd.VpcdConnector` thread of this process
(:func:`rig.insert.insert_in_thread`), so pcscd — and every PC/SC program —
sees each insertion, removal and fault as with a real reader.  The reader is
claimed while it holds a card (other test processes cannot put a second card
into it) and the card image is held (one card, one reader).

A card is re-read from its image file on every insertion: what a torn command
left on "the chip" is what the next insertion sees (``card.md`` §Persistence and
tearing).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from card.faults import Fault, FaultLayer
from card.icc import VirtualCard
from card.image import CardImage, CardImageError
from card.keystore import KeyStore
from rig import claims
from rig.bench.log import ReaderLog
from rig.bench.profiles import Profile, describe
from rig.conf import RigError, RigReader
from rig.insert import InsertedCard, insert_in_thread
from terminal.client.http import ServiceError, ServiceRefused
from terminal.client.settlement import SettlementClient
from terminal.readerlib.pinpad import PinPadError, type_pins
from terminal.readers.base import ReaderError
from terminal.readers.pcsc import PcscReader, list_readers

#: How long an insertion or removal may take to show in pcscd (its polls are 400 ms).
PCSCD_WAIT = 5.0
#: After a fault pulled a card, the slot rests this long before the next card goes in:
#: the vpcd driver and pcscd finish the failed command and notice the empty slot on
#: their next presence poll (400 ms); a card connecting before that is not seen.
SETTLE_AFTER_PULL = 1.0


class BenchError(Exception):
    """A request the bench refuses; ``code`` is stable, ``status`` the HTTP status."""

    def __init__(self, message: str, code: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class BenchCard:
    id: str
    path: Path
    profile: Profile | None = None
    reader: int | None = None  # the reader it is in
    state: str | None = None  # an imported card's state (active, lost)

    def describe(self) -> dict[str, object]:
        try:
            image = CardImage.load(self.path)
        except CardImageError as exc:
            return {"id": self.id, "image": str(self.path), "error": str(exc), "reader": None}
        shown = {**describe(self.id, image, self.profile), "reader": self.reader}
        if self.state is not None:
            shown["state"] = self.state
        return shown


@dataclass
class BenchReader:
    rig: RigReader
    log: ReaderLog
    layer: FaultLayer
    card: BenchCard | None = None
    inserted: InsertedCard | None = None
    hold: claims.CardHold | None = None
    pulled_at: float = 0.0  # time.monotonic() when a fault last took the card out
    lock: threading.RLock = field(default_factory=threading.RLock)

    def to_json(self) -> dict[str, object]:
        return {
            **self.rig.to_json(),
            "card": self.card.id if self.card else None,
            "claimed_by_pid": claims.claimed_by(self.rig.index),
            "faults": [f.to_json() for f in self.layer.faults()],
            "log_seq": self.log.last_seq,
        }


class Bench:
    """Readers, cards, faults and logs of one bench process (see the module docstring)."""

    def __init__(
        self,
        home: Path,
        readers: list[RigReader],
        keystore: KeyStore,
        service: SettlementClient | None = None,
    ) -> None:
        self.home = home
        self.keystore = keystore
        self.service = service  # for states that live in the service (lost)
        self.cards: dict[str, BenchCard] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        (home / "cards").mkdir(parents=True, exist_ok=True)
        self.readers = {r.index: self._reader(r) for r in readers}

    def _reader(self, rig_reader: RigReader) -> BenchReader:
        log = ReaderLog(rig_reader.index, self.home / "logs")
        layer = FaultLayer(on_apdu=log.apdu)
        reader = BenchReader(rig_reader, log, layer)
        layer.drop = lambda reason: self._dropped(reader, reason)
        layer.pull = lambda reason: self._pulled(reader, reason)
        return reader

    # --- cards ---------------------------------------------------------------------

    def create_card(self, profile: Profile) -> BenchCard:
        with self._lock:
            card_id = f"c{next(self._ids)}"
        path = self.home / "cards" / f"{card_id}.json"
        profile.make(path, self.keystore)
        card = BenchCard(card_id, path, profile)
        self.cards[card_id] = card
        return card

    def add_image(self, image: Path, state: str = "active") -> BenchCard:
        """Register an existing card image (a demo world's card) with the bench.

        ``state`` ``lost`` reports the card lost to the settlement service (the bench's
        ``--service-url`` / ``--service-key``, a card centre's or the issuing bank
        branch's key): a loss lives in the service, not on the chip.
        """
        if state not in ("active", "lost"):
            raise BenchError("an imported card's state is active or lost", "bad_request", 400)
        try:
            loaded = CardImage.load(image)
        except CardImageError as exc:
            raise BenchError(str(exc), "bad_image", 422) from None
        if state == "lost":
            self._report_loss(loaded.card_number or "")
        with self._lock:
            card_id = f"c{next(self._ids)}"
        card = BenchCard(card_id, image.resolve(), state=state)
        self.cards[card_id] = card
        return card

    def _report_loss(self, card_no: str) -> None:
        if self.service is None:
            raise BenchError(
                "a lost card needs the settlement service: start the bench with "
                "--service-url and --service-key (a card centre key)",
                "needs_service",
            )
        try:
            self.service.report_loss(card_no, reason="test bench")
        except ServiceRefused as exc:
            raise BenchError(
                f"the service refused the loss: {exc}", "service_refused", 502
            ) from None
        except ServiceError as exc:
            raise BenchError(
                f"the service is unreachable: {exc}", "service_unavailable", 502
            ) from None

    def card(self, card_id: str) -> BenchCard:
        try:
            return self.cards[card_id]
        except KeyError:
            raise BenchError(f"no card {card_id!r} on this bench", "unknown_card", 404) from None

    def reader(self, index: int) -> BenchReader:
        try:
            return self.readers[index]
        except KeyError:
            raise BenchError(
                f"no reader {index}; the bench has readers {sorted(self.readers)}",
                "unknown_reader",
                404,
            ) from None

    # --- insert, remove, swap -----------------------------------------------------

    def insert(self, index: int, card_id: str) -> BenchReader:
        reader, card = self.reader(index), self.card(card_id)
        with reader.lock:
            if reader.card is not None:
                raise BenchError(
                    f"reader {index} holds card {reader.card.id}: remove it first or swap",
                    "reader_busy",
                )
            self._insert(reader, card)
        return reader

    def _insert(self, reader: BenchReader, card: BenchCard) -> None:
        if card.reader is not None:
            raise BenchError(
                f"card {card.id} is in reader {card.reader}: a card is in one reader at a time",
                "card_in_reader",
            )
        try:
            hold = claims.hold_image(card.path)
        except RigError as exc:
            raise BenchError(str(exc), "card_in_reader") from None
        rest = reader.pulled_at + SETTLE_AFTER_PULL - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        try:
            reader.layer.card = VirtualCard.open(card.path)
            reader.layer.rearm()
            inserted = insert_in_thread(reader.layer, reader.rig.index)
        except (RigError, CardImageError) as exc:
            hold.release()
            raise BenchError(str(exc), "reader_unavailable") from None
        reader.card, reader.inserted, reader.hold, card.reader = (
            card,
            inserted,
            hold,
            reader.rig.index,
        )
        reader.log.event("inserted", card=card.id, atr=reader.layer.atr.hex().upper())
        try:
            _wait_pcscd(reader.rig.name, present=True)
        except BenchError:
            self._take_out(reader, "removed", detail="pcscd did not see the card")
            raise

    def remove(self, index: int) -> BenchReader:
        reader = self.reader(index)
        with reader.lock:
            if reader.card is None:
                raise BenchError(f"reader {index} is empty", "reader_empty")
            self._take_out(reader, "removed")
        _wait_pcscd(reader.rig.name, present=False)
        return reader

    def swap(self, index: int, card_id: str) -> BenchReader:
        """Take the reader's card out (if any) and put ``card_id`` in."""
        reader, card = self.reader(index), self.card(card_id)
        with reader.lock:
            if reader.card is not None and reader.card.id == card_id:
                raise BenchError(f"card {card_id} is in reader {index} already", "card_in_reader")
            if card.reader is not None:
                raise BenchError(
                    f"card {card_id} is in reader {card.reader}", "card_in_reader", 409
                )
            old = reader.card.id if reader.card else None
            if reader.card is not None:
                self._take_out(reader, "removed")
                _wait_pcscd(reader.rig.name, present=False)
            self._insert(reader, card)
            reader.log.event("swapped", old=old, new=card_id)
        return reader

    def _take_out(self, reader: BenchReader, event: str, **fields: object) -> None:
        """Card out: end held commands, stop the connector, release claim and image."""
        reader.layer.release()
        inserted, reader.inserted = reader.inserted, None
        if inserted is not None:
            inserted.remove()
        hold, reader.hold = reader.hold, None
        if hold is not None:
            hold.release()
        card, reader.card = reader.card, None
        if card is not None:
            card.reader = None
            reader.log.event(event, card=card.id, **fields)

    def _pulled(self, reader: BenchReader, reason: str) -> None:
        """A fault took the card out (called from the connector thread: never joins it)."""
        reader.pulled_at = time.monotonic()
        self._take_out(reader, "torn" if reason == "tear" else "pulled", fault=reason)

    def _dropped(self, reader: BenchReader, reason: str) -> None:
        inserted = reader.inserted
        reader.log.event("muted", detail="the reader gave up: connection dropped, card reset")
        if inserted is not None and inserted.connector is not None:
            inserted.connector.drop(rest=SETTLE_AFTER_PULL)

    def close(self) -> None:
        for reader in self.readers.values():
            with reader.lock:
                self._take_out(reader, "removed", detail="bench stopped")
            reader.log.close()

    # --- faults, PIN pad ------------------------------------------------------------

    def add_fault(self, index: int, fault: Fault) -> Fault:
        reader = self.reader(index)
        reader.layer.add(fault)
        reader.log.event("fault_set", fault=fault.to_json())
        return fault

    def clear_faults(self, index: int, fault_id: int | None = None) -> int:
        reader = self.reader(index)
        cleared = reader.layer.clear(fault_id)
        reader.log.event("faults_cleared", fault=fault_id, cleared=cleared)
        return cleared

    def type_pin(
        self, index: int, pin: str, pad: str | int | None = None, wait_s: float = 10.0
    ) -> int:
        """Type ``pin`` on the reader's virtual PIN pad (the reader library's ``VerifyPIN``).

        The pad is keyed like the library's ``Init`` reader: by default the reader's
        position in pcscd's list.  Waits up to ``wait_s`` for the library to open the pad.
        """
        reader = self.reader(index)
        key = pad if pad is not None else _pcscd_position(reader.rig.name)
        try:
            taken = type_pins(key, [pin], timeout=wait_s)
        except PinPadError as exc:
            raise BenchError(str(exc), "pinpad_unavailable") from None
        reader.log.event("pin_typed", pad=str(key), digits=len(pin))
        return taken


def _pcscd_position(name: str) -> int:
    try:
        names = list_readers()
    except ReaderError as exc:
        raise BenchError(str(exc), "pcscd_unavailable", 503) from None
    if name not in names:
        raise BenchError(f"pcscd does not list {name}", "pcscd_unavailable", 503)
    return names.index(name)


def _wait_pcscd(name: str, present: bool) -> None:
    """Return once pcscd reports the reader's card present (or gone)."""
    try:
        with PcscReader(name) as reader:
            if present:
                reader.wait_for_card(PCSCD_WAIT)
            else:
                reader.wait_for_removal(PCSCD_WAIT)
    except ReaderError as exc:
        raise BenchError(f"pcscd did not show the change in {name}: {exc}", "pcscd_slow", 504)
