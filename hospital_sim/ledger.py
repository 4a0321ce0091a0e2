"""What the simulation saw happen: settlements, refusals, exemptions, PIN services, timings.

The desks write here as they work; the summary table, the HTML report and the
invariant checks all read the same :class:`Ledger` through :func:`summarise`,
so the numbers in the table and in the report cannot disagree.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Settlement:
    """One discharge settlement (2304) as the desk's receipt showed it."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    hospital: str
    desk: str
    kind: str  # PatientKind value
    proof: str  # "card" or the exemption kind
    settled_at: datetime  # simulated wall clock
    medfee_sumamt: int
    fund_pay_sumamt: int
    psn_part_amt: int
    acct_pay: int
    psn_cash_pay: int
    reversed: bool = False
    insutype: str = ""  # 310 employee / 390 resident
    sim_day: date | None = None  # the simulated day; a day's window may straddle midnight
    long_stay: bool = False  # admitted days before the discharge day
    #: the bill by catalogue class (chrgitm_lv 01 甲 / 02 乙 / 03 丙, fen), as the service
    #: classed each fee line (issue 14)
    by_class: dict[str, int] = field(default_factory=dict)
    overlmt_selfpay: int = 0  # above the catalogue's price ceilings (fen)

    @property
    def day_label(self) -> str:
        """The simulated day it belongs to (ISO date), for the per-day figures."""
        return (self.sim_day or self.settled_at.date()).isoformat()


@dataclass(frozen=True)
class Refusal:
    """A request the service (or the terminal) refused, with its stable code."""

    psn_no: str
    kind: str
    step: str  # admission | discharge | pin | ...
    code: str
    at: datetime
    expected: bool  # the plan said this person must be refused with this code


@dataclass(frozen=True)
class PinService:
    """A PIN unblock / reset at a bank branch or PIN-service hospital."""

    card_number: str
    where: str  # institution code
    operation: str  # unblock | reset
    at: datetime
    place: str = "bank branch"  # "bank branch" | "PIN-service hospital"


@dataclass
class Ledger:
    """Thread-safe record of one run (the desks run in parallel threads)."""

    settlements: list[Settlement] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    pin_services: list[PinService] = field(default_factory=list)
    wrong_pins: int = 0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unexpected: list[str] = field(default_factory=list)
    admissions: int = 0
    reversals: int = 0
    fee_lines: int = 0
    refund_lines: int = 0  # negative-quantity fee lines (refunds of earlier lines)
    reader_retries: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settled(self, settlement: Settlement) -> None:
        with self._lock:
            self.settlements.append(settlement)

    def reversed_(self, setl_id: str) -> None:
        with self._lock:
            self.reversals += 1
            for i, s in enumerate(self.settlements):
                if s.setl_id == setl_id:
                    self.settlements[i] = _replace_reversed(s)

    def refused(self, refusal: Refusal) -> None:
        with self._lock:
            self.refusals.append(refusal)
            if not refusal.expected:
                self.unexpected.append(
                    f"{refusal.psn_no} ({refusal.kind}) refused at {refusal.step}: {refusal.code}"
                )

    def admitted(self) -> None:
        with self._lock:
            self.admissions += 1

    def uploaded(self, lines: int, refunds: int = 0) -> None:
        with self._lock:
            self.fee_lines += lines
            self.refund_lines += refunds

    def pin_serviced(self, service: PinService) -> None:
        with self._lock:
            self.pin_services.append(service)

    def wrong_pin(self) -> None:
        with self._lock:
            self.wrong_pins += 1

    def timed(self, operation: str, ms: float) -> None:
        with self._lock:
            self.latencies_ms[operation].append(ms)

    def reader_retry(self, what: str) -> None:
        with self._lock:
            self.reader_retries.append(what)

    def problem(self, message: str) -> None:
        with self._lock:
            self.unexpected.append(message)


def _replace_reversed(s: Settlement) -> Settlement:
    from dataclasses import replace

    return replace(s, reversed=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """The figures of a run; the table and the report print exactly these."""

    patients: int
    admissions: int
    settlements: int  # standing (not reversed) settlements
    reversals: int
    fee_lines: int
    card_proven: int
    exemptions: dict[str, int]
    refusals: dict[str, int]
    pin_services: dict[str, int]
    wrong_pins: int
    fund: int  # fen, standing settlements only
    account: int
    cash: int
    total: int
    per_hour: dict[int, int]  # hour of day -> standing settlements, summed over all days
    per_hospital: dict[str, dict[str, int]]
    latency_ms: dict[str, dict[str, float]]  # operation -> {n, p50, p90, p99, max}
    unexpected: tuple[str, ...]
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> outcome counts
    reader_retries: int = 0
    per_scheme: dict[str, dict[str, int]] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)  # discharge day -> settlements
    #: discharge day -> hour of that day -> settlements (what the per-hour charts show)
    per_day_hour: dict[str, dict[int, int]] = field(default_factory=dict)
    refund_lines: int = 0  # fee lines refunding an earlier line (negative quantity)
    long_stays: int = 0  # standing settlements of stays admitted days before discharge
    #: billed money by catalogue class 甲/乙/丙 (fen, standing settlements only)
    by_class: dict[str, int] = field(default_factory=dict)
    overlmt_selfpay: int = 0  # paid by the patients above the catalogue's price ceilings

    def as_json(self) -> dict:
        return {
            "patients": self.patients,
            "admissions": self.admissions,
            "settlements": self.settlements,
            "reversals": self.reversals,
            "fee_lines": self.fee_lines,
            "card_proven": self.card_proven,
            "exemptions": dict(self.exemptions),
            "refusals": dict(self.refusals),
            "pin_services": dict(self.pin_services),
            "wrong_pins": self.wrong_pins,
            "fund": self.fund,
            "account": self.account,
            "cash": self.cash,
            "total": self.total,
            "per_hour": {str(h): n for h, n in sorted(self.per_hour.items())},
            "per_hospital": self.per_hospital,
            "latency_ms": self.latency_ms,
            "unexpected": list(self.unexpected),
            "by_kind": self.by_kind,
            "reader_retries": self.reader_retries,
            "per_scheme": self.per_scheme,
            "per_day": self.per_day,
            "refund_lines": self.refund_lines,
            "long_stays": self.long_stays,
            "by_class": dict(self.by_class),
            "overlmt_selfpay": self.overlmt_selfpay,
            "per_day_hour": {
                day: {str(h): n for h, n in sorted(hours.items())}
                for day, hours in self.per_day_hour.items()
            },
        }


def summarise(ledger: Ledger, patients: int, kinds: dict[str, int] | None = None) -> Summary:
    """Fold the ledger into the figures of the summary table and the report.

    ``kinds`` (patient kind -> patients planned) adds the outcome of each kind.
    """
    standing = [s for s in ledger.settlements if not s.reversed]
    exemptions = Counter(s.proof for s in standing if s.proof != "card")
    refusals = Counter(r.code for r in ledger.refusals)
    pins = Counter(f"{p.operation} at {p.place}" for p in ledger.pin_services)
    per_hour: Counter[int] = Counter(s.settled_at.hour for s in standing)
    per_hospital: dict[str, dict[str, int]] = {}
    for s in standing:
        row = per_hospital.setdefault(s.hospital, {"settlements": 0, "total": 0, "fund": 0})
        row["settlements"] += 1
        row["total"] += s.medfee_sumamt
        row["fund"] += s.fund_pay_sumamt
    per_scheme: dict[str, dict[str, int]] = {}
    for s in standing:
        row = per_scheme.setdefault(
            s.insutype or "?", {"settlements": 0, "total": 0, "fund": 0, "account": 0, "cash": 0}
        )
        row["settlements"] += 1
        row["total"] += s.medfee_sumamt
        row["fund"] += s.fund_pay_sumamt
        row["account"] += s.acct_pay
        row["cash"] += s.psn_cash_pay
    per_day = Counter(s.day_label for s in standing)
    per_day_hour: dict[str, Counter[int]] = defaultdict(Counter)
    for s in standing:
        per_day_hour[s.day_label][s.settled_at.hour] += 1
    latency = {
        op: {
            "n": len(values),
            "p50": round(percentile(values, 50), 2),
            "p90": round(percentile(values, 90), 2),
            "p99": round(percentile(values, 99), 2),
            "max": round(max(values), 2),
        }
        for op, values in sorted(ledger.latencies_ms.items())
        if values
    }
    by_kind: dict[str, dict[str, int]] = {}
    for kind, planned in (kinds or {}).items():
        by_kind[kind] = {
            "patients": planned,
            "settled": len({s.psn_no for s in standing if s.kind == kind}),
            "refused": len({r.psn_no for r in ledger.refusals if r.kind == kind}),
        }
    return Summary(
        by_class=class_totals(standing),
        overlmt_selfpay=sum(s.overlmt_selfpay for s in standing),
        by_kind=by_kind,
        reader_retries=len(ledger.reader_retries),
        per_scheme=dict(sorted(per_scheme.items())),
        per_day=dict(sorted(per_day.items())),
        per_day_hour={day: dict(sorted(h.items())) for day, h in sorted(per_day_hour.items())},
        patients=patients,
        admissions=ledger.admissions,
        settlements=len(standing),
        reversals=ledger.reversals,
        fee_lines=ledger.fee_lines,
        refund_lines=ledger.refund_lines,
        long_stays=sum(1 for s in standing if s.long_stay),
        card_proven=sum(1 for s in standing if s.proof == "card"),
        exemptions=dict(sorted(exemptions.items())),
        refusals=dict(sorted(refusals.items())),
        pin_services=dict(sorted(pins.items())),
        wrong_pins=ledger.wrong_pins,
        fund=sum(s.fund_pay_sumamt for s in standing),
        account=sum(s.acct_pay for s in standing),
        cash=sum(s.psn_cash_pay for s in standing),
        total=sum(s.medfee_sumamt for s in standing),
        per_hour=dict(sorted(per_hour.items())),
        per_hospital=dict(sorted(per_hospital.items())),
        latency_ms=latency,
        unexpected=tuple(ledger.unexpected),
    )


#: chrgitm_lv → the class name the report shows.
CLASS_NAMES = {"01": "甲", "02": "乙", "03": "丙"}


def class_totals(settlements: list[Settlement]) -> dict[str, int]:
    """Billed money by catalogue class 甲/乙/丙 (fen), every class shown."""
    totals = dict.fromkeys(CLASS_NAMES.values(), 0)
    for s in settlements:
        for level, fen in s.by_class.items():
            totals[CLASS_NAMES.get(level, level)] = (
                totals.get(CLASS_NAMES.get(level, level), 0) + fen
            )
    return totals


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separators, e.g. ``12,345.60``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"
