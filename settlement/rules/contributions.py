"""Resident enrolment and contribution payment: the dates and the states (issue 20).

settlement.md §Coverage, as the city publishes it:

- once a person's enrolment data is entered into the insurance system they can pay
  ``entry_delay_days`` (default 3, ``SSCARD_ENROLMENT_ENTRY_DELAY_DAYS``) calendar days later;
  until then a query says the record is still being processed, not "not enrolled";
- resident enrolment is accepted on days 1–24 of a month and takes effect from the 1st of the
  next month (:func:`settlement.rules.coverage.resident_enrolment`);
- the insurance year runs 1 July – 30 June; the contribution is paid once per insurance year;
  the payment window for the next year is 1–30 June;
- an enrolment record may be corrected within 5 working days of entry (the working-day
  calendar of :mod:`settlement.rules.working_days`: the day of entry never counts);
- residents pay the resident rate (insutype 390); flexible workers (灵活就业) pay medical
  (insutype 310) and pension.

Project choices (documented in docs/rules.md §Contributions):

- an insurance year is named by the calendar year it starts in (2026 = 1 July 2026 –
  30 June 2027);
- a person whose coverage starts after 1 July of a year (enrolled mid-year) pays that first
  year from 1 June of its start until its last day (30 June); every later year only in June;
- the state of a person for a year is ``processing`` (entered, not yet payable),
  ``payable``, ``paid`` (paid, coverage not started yet on the day asked) or ``covered``;
- a payment order is ``pending`` until the channel confirms it (``confirmed``); a pending order
  expires ``order_ttl_s`` seconds after its creation (default 30 minutes,
  ``SSCARD_PAYMENT_ORDER_TTL``, as the channels' own payment orders do) and is then
  ``expired``: it can no longer be confirmed, the person pays with a new order.

Pure: no clock, no database. Callers pass the day.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from settlement.rules.working_days import HolidayCalendar

ENTRY_DELAY_DAYS = 3
"""Calendar days from entry until the record can be paid (the city: "three days later")."""

CORRECTION_WORKING_DAYS = 5
"""Working days after entry during which the enrolment record may be corrected."""

RESIDENT = "resident"
FLEXIBLE_WORKER = "flexible_worker"
CATEGORIES: tuple[str, ...] = (RESIDENT, FLEXIBLE_WORKER)
"""Who pays: a resident (居民) or a flexible worker (灵活就业人员)."""

INSUTYPE_OF: Mapping[str, str] = {RESIDENT: "390", FLEXIBLE_WORKER: "310"}
"""The medical insurance type a category's payment covers."""

PROCESSING = "processing"
PAYABLE = "payable"
PAID = "paid"
COVERED = "covered"

ORDER_TTL_S = 1800
"""Seconds a pending payment order can be confirmed (the channels' usual 30 minutes)."""

PENDING = "pending"
CONFIRMED = "confirmed"
EXPIRED = "expired"

RATES_FILE = Path(__file__).resolve().parent.parent / "policy" / "contribution-rates.toml"


class RatesError(ValueError):
    """A contribution-rates file that is incomplete or inconsistent."""


class PaymentRefused(ValueError):
    """A contribution payment cannot be made now; ``code`` is stable (a problem code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def payable_from(entered_on: date, delay_days: int = ENTRY_DELAY_DAYS) -> date:
    """The first day a record entered on ``entered_on`` can be paid."""
    if delay_days < 0:
        raise ValueError("the entry delay must be zero or more days")
    return entered_on + timedelta(days=delay_days)


def correction_deadline(entered_on: date, calendar: HolidayCalendar) -> date:
    """The last day (inclusive) a record entered on ``entered_on`` may be corrected: the 5th
    working day after the day of entry."""
    return calendar.add_working_days(entered_on, CORRECTION_WORKING_DAYS)


def may_correct(entered_on: date, on: date, calendar: HolidayCalendar) -> bool:
    """True while the record may still be corrected on ``on``; afterwards it counts as correct."""
    return entered_on <= on <= correction_deadline(entered_on, calendar)


def year_span(year: int) -> tuple[date, date]:
    """Insurance year ``year``: (1 July ``year``, 30 June ``year + 1``)."""
    return date(year, 7, 1), date(year + 1, 6, 30)


def year_of(day: date) -> int:
    """The insurance year containing ``day``."""
    return day.year if day.month >= 7 else day.year - 1


def payment_window(year: int, coverage_start: date) -> tuple[date, date]:
    """The days (inclusive) on which year ``year`` may be paid by someone whose coverage
    starts on ``coverage_start``: 1–30 June before the year; a first year that starts mid-year
    from that 1 June until the year's last day."""
    first, last = year_span(year)
    opens = date(year, 6, 1)
    if first < coverage_start <= last:
        return opens, last
    return opens, date(year, 6, 30)


def covered_span(year: int, coverage_start: date) -> tuple[date, date]:
    """The days a payment for ``year`` covers: from the later of 1 July and the enrolment's
    start, to 30 June."""
    first, last = year_span(year)
    return max(first, coverage_start), last


def check_payment(
    *, year: int, on: date, entered_on: date, coverage_start: date, delay_days: int
) -> None:
    """Raise :class:`PaymentRefused` unless year ``year`` may be paid on ``on``.

    Codes: ``not_enrolled_for_year`` (the enrolment starts after that year),
    ``enrolment_processing`` (before the entry delay is over),
    ``outside_payment_window`` (not within :func:`payment_window`).
    """
    first, last = year_span(year)
    if coverage_start > last:
        raise PaymentRefused(
            "not_enrolled_for_year",
            f"the enrolment takes effect on {coverage_start.isoformat()}, after insurance year "
            f"{year} ({first.isoformat()} - {last.isoformat()})",
        )
    ready = payable_from(entered_on, delay_days)
    if on < ready:
        raise PaymentRefused(
            "enrolment_processing",
            f"the enrolment record entered on {entered_on.isoformat()} is still being "
            f"processed; it can be paid from {ready.isoformat()}",
        )
    opens, closes = payment_window(year, coverage_start)
    if not opens <= on <= closes:
        raise PaymentRefused(
            "outside_payment_window",
            f"insurance year {year} ({first.isoformat()} - {last.isoformat()}) is paid from "
            f"{opens.isoformat()} to {closes.isoformat()}; today is {on.isoformat()}",
        )


def order_expiry(created_at: datetime, ttl_s: int = ORDER_TTL_S) -> datetime:
    """When a payment order created at ``created_at`` stops being confirmable."""
    if ttl_s < 1:
        raise ValueError("a payment order must live at least one second")
    return created_at + timedelta(seconds=ttl_s)


def order_status(
    stored: str,
    *,
    created_at: datetime,
    expires_at: datetime | None,
    now: datetime,
    ttl_s: int = ORDER_TTL_S,
) -> str:
    """``confirmed``, ``pending`` or ``expired``: a stored ``pending`` order whose expiry
    (``expires_at``, or ``created_at`` + ``ttl_s`` for an order stored without one) is at or
    before ``now`` is expired."""
    if stored != PENDING:
        return stored
    expiry = expires_at if expires_at is not None else order_expiry(created_at, ttl_s)
    return EXPIRED if now >= expiry else PENDING


@dataclass(frozen=True)
class ContributionState:
    """Which state a person is in for one insurance year, and why (``reason``, English)."""

    year: int
    state: str
    reason: str
    payable_from: date
    covered_from: date | None = None
    covered_to: date | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "year": self.year,
            "state": self.state,
            "reason": self.reason,
            "payable_from": self.payable_from.isoformat(),
            "covered_from": self.covered_from.isoformat() if self.covered_from else None,
            "covered_to": self.covered_to.isoformat() if self.covered_to else None,
        }


def contribution_state(
    *,
    year: int,
    on: date,
    entered_on: date,
    coverage_start: date,
    delay_days: int,
    paid: bool,
) -> ContributionState:
    """The state of an enrolled person for insurance year ``year`` on day ``on``."""
    ready = payable_from(entered_on, delay_days)
    if paid:
        start, end = covered_span(year, coverage_start)
        if start <= on <= end:
            state, why = COVERED, f"insurance year {year} is paid; covered until {end}"
        else:
            state, why = PAID, f"insurance year {year} is paid; coverage runs {start} - {end}"
        return ContributionState(year, state, why, ready, start, end)
    if on < ready:
        why = f"entered on {entered_on}; still being processed, can be paid from {ready}"
        return ContributionState(year, PROCESSING, why, ready)
    opens, closes = payment_window(year, coverage_start)
    return ContributionState(
        year, PAYABLE, f"not paid; insurance year {year} is paid from {opens} to {closes}", ready
    )


@dataclass(frozen=True)
class Amount:
    """What one person-year costs: ``medical_fen`` + ``pension_fen`` = ``total_fen``."""

    medical_fen: int
    pension_fen: int
    rates_version: str

    @property
    def total_fen(self) -> int:
        return self.medical_fen + self.pension_fen


@dataclass(frozen=True)
class ContributionRates:
    """The published rates by insurance year (``settlement/policy/contribution-rates.toml``)."""

    version: str
    by_year: Mapping[int, Mapping[str, int]]

    def amount(self, category: str, year: int) -> Amount:
        """The contribution of ``category`` for ``year``; ``PaymentRefused`` with
        ``rates_unpublished`` when the year's rates are not published."""
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
        rates = self.by_year.get(year)
        if rates is None:
            raise PaymentRefused(
                "rates_unpublished",
                f"the contribution rates of insurance year {year} are not published "
                f"(rates version {self.version} has {sorted(self.by_year)})",
            )
        if category == RESIDENT:
            return Amount(rates["resident_fen"], 0, self.version)
        return Amount(rates["flexible_medical_fen"], rates["flexible_pension_fen"], self.version)


_RATE_KEYS = ("resident_fen", "flexible_medical_fen", "flexible_pension_fen")


def rates_from_mapping(data: Mapping[str, object], source: str = "") -> ContributionRates:
    """Build :class:`ContributionRates` from the parsed TOML (``version``, ``[year."N"]``)."""
    where = f" in {source}" if source else ""
    version = data.get("version")
    years = data.get("year")
    if not isinstance(version, str) or not isinstance(years, Mapping):
        raise RatesError(f'contribution rates{where} need a version and [year."N"] tables')
    by_year: dict[int, dict[str, int]] = {}
    for name, table in years.items():
        if not (isinstance(name, str) and name.isdigit()) or not isinstance(table, Mapping):
            raise RatesError(f"year {name!r}{where} must be a table named by its first year")
        if set(table) != set(_RATE_KEYS):
            raise RatesError(f"year {name}{where} must have exactly {_RATE_KEYS}")
        for key in _RATE_KEYS:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RatesError(f"year {name}.{key}{where} must be a non-negative integer (fen)")
        by_year[int(name)] = dict(table)
    return ContributionRates(version, by_year)


@lru_cache(maxsize=4)
def load_rates(path: str | None = None) -> ContributionRates:
    """The packaged contribution rates (or those at ``path``)."""
    file = Path(path) if path else RATES_FILE
    return rates_from_mapping(tomllib.loads(file.read_text(encoding="utf-8")), str(file))
