"""The hospital day: every patient's stay driven through the real terminal flows.

Each registration desk is a worker thread with its own reader and terminal
(API key + PSAM). Visits (admission, discharge) are handled in simulated-clock
order per desk; a discharge waits until the same stay's admission is done.
Forgetful PIN typists block their card at the desk, take it to a partner
bank branch (or, at the designated PIN-service hospital, to that hospital's
own desk) where the SSSE PIN is reset through ``terminal.flows.pins``, and
come back. Outcomes go into the :class:`~hospital_sim.ledger.Ledger`.

Nothing here decides a settlement: the service does, through the flows in
``terminal.flows.desk`` (settlement.md, docs/api.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from hospital_sim.fees import FeeLine
from hospital_sim.ledger import Ledger, PinService, Refusal, Settlement
from hospital_sim.population import (
    EXPECTED_REFUSAL,
    KIND_EXEMPTION,
    SETTLING_KINDS,
    PatientKind,
    Stay,
)
from hospital_sim.slots import Slot
from hospital_sim.world import Terminal, World
from rig.conf import RigError
from terminal.client.http import ServiceRefused
from terminal.flows import desk as desk_flow
from terminal.flows import pins as pin_flow
from terminal.flows.common import CardRefused
from terminal.readers.base import ReaderError
from terminal.session import CardSession, WrongPin

READER_ATTEMPTS = 4
READER_RETRY_S = 1.5

DEPARTMENTS = ("internal medicine", "surgery", "cardiology", "obstetrics", "paediatrics")
DIAGNOSES = ("pneumonia", "appendicitis", "fracture of femur", "angina", "childbirth")


def _not_after_now(moment: datetime) -> datetime:
    """The simulated wall clock, capped at the real now: the service refuses admission and
    discharge times in the future (docs/api.md §Admission and discharge times). A safety net
    only: the simulated days end before the run starts (run.last_close), so nothing is
    capped unless the machine's clock steps back."""
    return min(moment, datetime.now(moment.tzinfo))


class VisitFailed(Exception):
    """A stay could not go on (already recorded in the ledger)."""


@dataclass(order=True)
class Visit:
    at: datetime
    seq: int
    step: str = field(compare=False)  # "admit" | "discharge"
    stay: Stay = field(compare=False)


@dataclass
class StayState:
    admitted: threading.Event = field(default_factory=threading.Event)
    mdtrt_id: str | None = None
    failed: bool = False
    #: the bill by catalogue class (chrgitm_lv → fen) as the service answered each line
    by_class: dict[str, int] = field(default_factory=dict)


def wrong_pin(pin: str) -> str:
    """A PIN that is certainly not ``pin`` (the holder's slip)."""
    return f"{(int(pin) + 1) % 10**6:06d}"


def typed(pins: list[str]) -> Callable[[str], str]:
    """A PIN pad the holder types ``pins`` into, one per prompt."""
    queue = list(pins)

    def entry(prompt: str) -> str:
        if not queue:
            raise VisitFailed(f"the holder has no more PINs to type at {prompt!r}")
        return queue.pop(0)

    return entry


def fee_body(line: FeeLine) -> dict:
    body = {
        "feedetl_sn": line.serial,
        "med_list_codg": line.item_code,
        "med_list_name": line.item_name,
        "cnt": line.quantity,
        "pric": line.unit_price,
    }
    if line.refunds:
        body["init_feedetl_sn"] = line.refunds
    return body


class HospitalDay:
    """Runs all visits of a population on the provisioned world."""

    def __init__(
        self,
        world: World,
        desk_slots: dict[str, Slot],
        branch_slots: dict[str, Slot],
        ledger: Ledger,
        *,
        on_stay_done: Callable[[Stay], None] | None = None,
    ) -> None:
        self.world = world
        self.desk_slots = desk_slots
        self.branch_slots = branch_slots
        self.branch_locks = {code: threading.Lock() for code in branch_slots}
        self.ledger = ledger
        self.on_stay_done = on_stay_done or (lambda stay: None)
        self.states = {stay.patient.psn_no: StayState() for stay in world.population.stays}
        self._pins_lock = threading.Lock()

    # --- orchestration -------------------------------------------------------------

    def plan(self) -> dict[str, list[Visit]]:
        queues: dict[str, list[Visit]] = {code: [] for code in self.desk_slots}
        seq = 0
        for stay in self.world.population.stays:
            queues[stay.desk.code].append(Visit(stay.admitted_at, seq, "admit", stay))
            queues[stay.discharge_desk.code].append(
                Visit(stay.discharged_at, seq + 1, "discharge", stay)
            )
            seq += 2
        for visits in queues.values():
            visits.sort()
        return queues

    def run(self) -> None:
        queues = self.plan()
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=self._desk_worker,
                args=(code, visits, errors),
                name=f"desk {code}",
                daemon=True,  # Ctrl-C ends the run without waiting for the desks
            )
            for code, visits in queues.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _desk_worker(self, code: str, visits: list[Visit], errors: list[BaseException]) -> None:
        try:
            for visit in visits:
                state = self.states[visit.stay.patient.psn_no]
                if visit.step == "admit":
                    try:
                        self._visit_safely(self.admit, visit.stay, state)
                    finally:
                        state.admitted.set()
                    if state.failed:
                        self.on_stay_done(visit.stay)
                else:
                    state.admitted.wait()
                    if not state.failed:
                        self._visit_safely(self.discharge, visit.stay, state)
                        self.on_stay_done(visit.stay)
        except BaseException as exc:  # noqa: BLE001 - a worker must never die silently
            errors.append(exc)
            for state in self.states.values():
                state.admitted.set()

    def _visit_safely(self, step: Callable[[Stay, StayState], None], stay: Stay, state) -> None:
        try:
            step(stay, state)
        except VisitFailed:
            state.failed = True
        except (ServiceRefused, CardRefused) as exc:
            state.failed = True
            self._refused(stay, step.__name__, exc.code, stay.admitted_at)
        except Exception as exc:  # noqa: BLE001 - an unplanned failure is an outcome to report
            state.failed = True
            self.ledger.problem(
                f"{stay.patient.psn_no} ({stay.patient.kind.value}) {step.__name__}: "
                f"{type(exc).__name__}: {exc}"
            )

    # --- helpers -------------------------------------------------------------------

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ledger.timed(operation, (time.perf_counter() - start) * 1000)

    def _refused(self, stay: Stay, step: str, code: str, at: datetime) -> None:
        kind = stay.patient.kind
        expected = EXPECTED_REFUSAL.get(kind) == code or (
            kind is PatientKind.FORGETFUL_PIN and code == "pin_blocked"
        )
        self.ledger.refused(Refusal(stay.patient.psn_no, kind.value, step, code, at, expected))

    def _pin_of(self, card_no: str) -> str:
        with self._pins_lock:
            return self.world.pins[card_no]

    def _exemption(self, stay: Stay) -> dict[str, str]:
        person = stay.patient
        kind = KIND_EXEMPTION[person.kind].value
        if person.kind is PatientKind.CHILD_NO_CARD:
            return desk_flow.exemption_evidence(
                kind, household_register_no=person.household_register_no
            )
        if person.kind is PatientKind.FOREIGN_NO_CARD and person.document is not None:
            return desk_flow.exemption_evidence(
                kind,
                document_type=person.document.kind,
                document_number=person.document.number,
            )
        return desk_flow.exemption_evidence(
            kind, receipt_no=self.world.receipts[person.psn_no], certno=person.ssn
        )

    def _card_visit(self, stay: Stay, slot: Slot, terminal: Terminal, work) -> object:
        """Put the patient's card into ``slot`` and run ``work(session)`` on it.

        When the reader fails (pcscd restarted, card lost contact) the clerk
        takes the card out and starts the visit again, as at a real desk; at
        most :data:`READER_ATTEMPTS` times. Once ``work`` has returned, a failure
        while taking the card out no longer matters (the service has acted).
        """
        image = self.world.cards[stay.patient.card.card_number]  # type: ignore[union-attr]
        for attempt in range(1, READER_ATTEMPTS + 1):
            done, result = False, None
            try:
                inserting = time.perf_counter()
                with slot.session(image) as connection:
                    # Card into the reader until the terminal holds a session: the reader's
                    # part of every card visit below (pcscd notices a new card by polling).
                    self.ledger.timed("card insertion", (time.perf_counter() - inserting) * 1000)
                    session = CardSession(connection, terminal.psam, connection.atr)
                    result = work(session)
                    done = True
                return result
            except (ReaderError, RigError) as exc:
                if done:
                    return result
                if attempt == READER_ATTEMPTS:
                    raise
                self.ledger.reader_retry(f"{slot.name}: {type(exc).__name__}: {exc}")
                time.sleep(READER_RETRY_S)
        raise VisitFailed("unreachable")

    # --- PIN service ---------------------------------------------------------------

    def reset_pin(self, stay: Stay) -> None:
        """The blocked holder has the SSSE PIN reset and chooses a new one."""
        card_no = stay.patient.card.card_number  # type: ignore[union-attr]
        new_pin = f"{(int(self._pin_of(card_no)) * 7 + 13) % 10**6:06d}"
        hospital = stay.desk.hospital
        if hospital.pin_service:
            # Designated tertiary hospital: its own desk may unblock and reset.
            terminal = self.world.desks[stay.desk.code]
            slot = self.desk_slots[stay.desk.code]
            where, place, lock = hospital.code, "PIN-service hospital", None
        else:
            branch = stay.pin_service_branch or self.world.population.branches[0]
            terminal = self.world.branches[branch.code]
            slot = self.branch_slots[branch.code]
            where, place = branch.code, "bank branch"
            lock = self.branch_locks[branch.code]
        with self.timed("pin reset"):
            if lock is not None:
                with lock:
                    result = self._card_visit(
                        stay,
                        slot,
                        terminal,
                        lambda s: pin_flow.unblock_ssse_pin(s, terminal.client, new_pin=new_pin),
                    )
            else:
                result = self._card_visit(
                    stay,
                    slot,
                    terminal,
                    lambda s: pin_flow.unblock_ssse_pin(s, terminal.client, new_pin=new_pin),
                )
        with self._pins_lock:
            self.world.pins[card_no] = new_pin
        self.ledger.pin_serviced(
            PinService(card_no, where, result.operation, stay.admitted_at, place)
        )

    # --- admission -----------------------------------------------------------------

    def admit(self, stay: Stay, state: StayState) -> None:
        person = stay.patient
        terminal = self.world.desks[stay.desk.code]
        slot = self.desk_slots[stay.desk.code]
        dept = DEPARTMENTS[int(person.psn_no) % len(DEPARTMENTS)]
        dise = DIAGNOSES[int(person.psn_no) % len(DIAGNOSES)]
        if person.kind in KIND_EXEMPTION:
            with self.timed("admission"):
                admission = desk_flow.admit_exempt(
                    terminal.client,
                    person.psn_no,
                    self._exemption(stay),
                    dept_name=dept,
                    dise_name=dise,
                    insutype=person.scheme or "390",
                    begntime=_not_after_now(stay.admitted_at),
                )
        else:
            admission = self._admit_with_card(stay, terminal, slot, dept, dise)
        self.ledger.admitted()
        state.mdtrt_id = admission.mdtrt_id
        if person.kind not in SETTLING_KINDS:
            self.ledger.problem(
                f"{person.psn_no} ({person.kind.value}) was admitted; expected a refusal"
            )
        self._upload_fees(stay, state, terminal, admission.mdtrt_id)

    def _admit_with_card(self, stay: Stay, terminal: Terminal, slot: Slot, dept: str, dise: str):
        card_no = stay.patient.card.card_number  # type: ignore[union-attr]
        pin = self._pin_of(card_no)
        wrong = min(stay.wrong_pin_tries, 3)
        pins = [wrong_pin(pin)] * wrong + ([pin] if wrong < 3 else [])

        def work(session: CardSession):
            return desk_flow.admit_with_card(
                session,
                terminal.client,
                typed(pins),
                dept_name=dept,
                dise_name=dise,
                begntime=_not_after_now(stay.admitted_at),
                pin_attempts=len(pins),
            )

        try:
            with self.timed("admission"):
                admission = self._card_visit(stay, slot, terminal, work)
        except WrongPin as exc:
            for _ in range(wrong):
                self.ledger.wrong_pin()
            if exc.tries_left != 0:
                raise
            self._refused(stay, "admission", "pin_blocked", stay.admitted_at)
            if stay.gives_up_after_block:
                # Goes home with the blocked card; the card and the service must both
                # still say "blocked" at the end of the day (invariant).
                raise VisitFailed(f"{stay.patient.psn_no} went home with a blocked card")
            self.reset_pin(stay)
            new_pin = self._pin_of(card_no)

            def retry(session: CardSession):
                return desk_flow.admit_with_card(
                    session,
                    terminal.client,
                    typed([new_pin]),
                    dept_name=dept,
                    dise_name=dise,
                    begntime=_not_after_now(stay.admitted_at),
                )

            with self.timed("admission"):
                return self._card_visit(stay, slot, terminal, retry)
        for _ in range(wrong):
            self.ledger.wrong_pin()
        return admission

    def _upload_fees(self, stay: Stay, state: StayState, terminal: Terminal, mdtrt_id: str) -> None:
        lines = [fee_body(line) for line in stay.fee_lines]
        # A long stay uploads its fees day by day; a short one at once.
        chunks = 3 if stay.long_stay else 1
        size = -(-len(lines) // chunks)
        for start in range(0, len(lines), size):
            with self.timed("fee upload"):
                answer = desk_flow.upload_fees(
                    terminal.client, mdtrt_id, lines[start : start + size]
                )
            for line in answer["result"]:  # the catalogue classed each line
                level = line["chrgitm_lv"]
                state.by_class[level] = state.by_class.get(level, 0) + line["det_item_fee_sumamt"]
        self.ledger.uploaded(len(lines), sum(1 for line in stay.fee_lines if line.quantity < 0))

    # --- discharge -----------------------------------------------------------------

    def discharge(self, stay: Stay, state: StayState) -> None:
        terminal = self.world.desks[stay.discharge_desk.code]
        receipt = self._settle(stay, state, terminal)
        if stay.reverse_after_settle:
            with self.timed("reversal"):
                terminal.client.reverse(receipt.setl_id, "fee correction after discharge")
            self.ledger.reversed_(receipt.setl_id)
            self._settle(stay, state, terminal)

    def _settle(self, stay: Stay, state: StayState, terminal: Terminal) -> desk_flow.Receipt:
        person = stay.patient
        if state.mdtrt_id is None:
            raise VisitFailed(f"{person.psn_no}: discharge without an admission")
        if person.kind in KIND_EXEMPTION:
            with self.timed("discharge"):
                receipt = desk_flow.discharge_exempt(
                    terminal.client,
                    state.mdtrt_id,
                    self._exemption(stay),
                    acct_used_flag=stay.use_account,
                    endtime=_not_after_now(stay.discharged_at),
                )
            proof = KIND_EXEMPTION[person.kind].value
        else:
            slot = self.desk_slots[stay.discharge_desk.code]
            pin = self._pin_of(person.card.card_number)  # type: ignore[union-attr]

            def work(session: CardSession):
                return desk_flow.discharge_with_card(
                    session,
                    terminal.client,
                    typed([pin]),
                    state.mdtrt_id,
                    acct_used_flag=stay.use_account,
                    endtime=_not_after_now(stay.discharged_at),
                )

            with self.timed("discharge"):
                receipt = self._card_visit(stay, slot, terminal, work)
            proof = "card"
        s = receipt.settlement
        self.ledger.settled(
            Settlement(
                setl_id=receipt.setl_id,
                mdtrt_id=state.mdtrt_id,
                psn_no=person.psn_no,
                hospital=stay.discharge_desk.hospital.code,
                desk=stay.discharge_desk.code,
                kind=person.kind.value,
                proof=proof,
                settled_at=stay.discharged_at,
                sim_day=stay.day,
                long_stay=stay.long_stay,
                medfee_sumamt=s["medfee_sumamt"],
                fund_pay_sumamt=s["fund_pay_sumamt"],
                psn_part_amt=s["psn_part_amt"],
                acct_pay=s["acct_pay"],
                psn_cash_pay=s["psn_cash_pay"],
                insutype=s.get("insutype", person.scheme or ""),
                by_class=dict(state.by_class),
                overlmt_selfpay=s.get("overlmt_selfpay", 0),
            )
        )
        return receipt
