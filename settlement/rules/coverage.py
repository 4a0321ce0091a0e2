"""Coverage: who is insured on which day, resident enrolment, insurance years, ages.

settlement.md, "Coverage":
- 310 employee basic medical: covered while contributions are current (a paid period);
- 390 resident basic medical: insurance year 1 July – 30 June; enrolment accepted on days
  1–24 of a month, effective from the 1st of the next month until the end of that insurance
  year; contributions paid for a whole insurance year; not covered if unpaid;
- a person must be covered on the admission date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from settlement.rules.policy import INSUTYPES

ENROLMENT_LAST_DAY = 24
"""Resident enrolment is accepted on days 1–24 of a month (settlement.md)."""


class EnrolmentRefused(ValueError):
    """A resident enrolment application cannot be accepted; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CoveragePeriod:
    """One coverage period of ``insutype`` ('310'/'390'): from ``start`` to ``end`` inclusive
    (``None`` = open-ended, e.g. a current employment); ``paid`` — contributions received."""

    insutype: str
    start: date
    end: date | None
    paid: bool

    def __post_init__(self) -> None:
        if self.insutype not in INSUTYPES:
            raise ValueError(
                f"insutype (insurance scheme) must be one of {INSUTYPES}, got {self.insutype!r}"
            )
        if self.end is not None and self.end < self.start:
            raise ValueError(f"coverage period ends ({self.end}) before it starts ({self.start})")

    def covers(self, on: date) -> bool:
        """True when this period is paid and ``on`` lies within it (both ends inclusive)."""
        return self.paid and self.start <= on and (self.end is None or on <= self.end)


def is_covered(periods: Iterable[CoveragePeriod], insutype: str, on: date) -> bool:
    """True when some *paid* period of ``insutype`` includes the day ``on`` (both ends inclusive).

    An unpaid period never covers (居民医保 "not covered if unpaid"; 职工医保 "covered while
    contributions are current").
    """
    return any(period.insutype == insutype and period.covers(on) for period in periods)


def paid_overlap(
    periods: Iterable[CoveragePeriod], insutype: str, start: date, end: date | None
) -> CoveragePeriod | None:
    """The first paid period of ``insutype`` sharing a day with ``start`` – ``end`` (``None``:
    open-ended), or None: a day is never paid twice."""
    for period in periods:
        if period.insutype != insutype or not period.paid:
            continue
        if (end is None or period.start <= end) and (period.end is None or start <= period.end):
            return period
    return None


def insurance_year(day: date) -> tuple[date, date]:
    """The resident insurance year containing ``day``: (1 July, 30 June of the next year)."""
    first_year = day.year if day.month >= 7 else day.year - 1
    return date(first_year, 7, 1), date(first_year + 1, 6, 30)


class BenefitYear(NamedTuple):
    """A benefit year: its first and last day (both inclusive)."""

    first_day: date
    last_day: date

    @property
    def year(self) -> int:
        """The year's number as stored (``benefit_year.year``, ``settlement.benefit_year``):
        the calendar year it starts in."""
        return self.first_day.year


def benefit_year(insutype: str, day: date) -> BenefitYear:
    """The year the annual ceiling and "second admission in the same year" count over.

    Project choice (settlement.md says only "annual" / "same year"): the resident scheme (390)
    counts over its insurance year (1 July – 30 June), the employee scheme (310) over the
    calendar year.  The service sums a person's settled fund payments and admissions within
    this year to fill ``SplitRequest.ceiling_used_fen`` and ``prior_admissions_this_year``;
    a stay's benefit year is that of its admission date.
    """
    if insutype == "390":
        return BenefitYear(*insurance_year(day))
    if insutype == "310":
        return BenefitYear(date(day.year, 1, 1), date(day.year, 12, 31))
    raise ValueError(f"insutype (insurance scheme) must be one of {INSUTYPES}, got {insutype!r}")


def resident_enrolment(applied_on: date) -> tuple[date, date]:
    """The coverage (start, end) a resident (390) enrolment applied for on ``applied_on`` gives.

    Accepted on days 1–24: effective from the 1st of the next month until the end (30 June) of
    the insurance year containing that 1st — so an application on 1–24 June starts a whole new
    year on 1 July.  Days 25–31 raise :class:`EnrolmentRefused` (``enrolment_window_closed``).
    """
    if applied_on.day > ENROLMENT_LAST_DAY:
        next_window = _first_of_next_month(applied_on)
        raise EnrolmentRefused(
            "enrolment_window_closed",
            f"resident enrolment is accepted on days 1-{ENROLMENT_LAST_DAY} of a month only; "
            f"{applied_on.isoformat()} is day {applied_on.day}. Apply again from "
            f"{next_window.isoformat()} (coverage would then start on "
            f"{_first_of_next_month(next_window).isoformat()}).",
        )
    start = _first_of_next_month(applied_on)
    return start, insurance_year(start)[1]


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def age_on(birth: date, day: date) -> int:
    """Age in whole years on ``day``.

    A birthday counts from the calendar day itself; someone born on 29 February has their
    birthday on 1 March in common years (they are still younger on 28 February).
    """
    if day < birth:
        raise ValueError(f"{day.isoformat()} is before the birth date {birth.isoformat()}")
    before_birthday = (day.month, day.day) < (birth.month, birth.day)
    return day.year - birth.year - (1 if before_birthday else 0)
