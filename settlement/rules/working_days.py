"""Working days for the card-production service targets (issuance.md §Service targets).

Batch issuance must reach the collection notice within 30 working days of the
application, single (sporadic, 零星) issuance within 5. A working day is a
weekday that is not a public holiday, plus the weekend days that the State
Council's holiday notice turns into working days (调休上班). Both lists come from a
small TOML file the card centre edits once a year::

    # holidays.toml
    holidays = ["2026-10-01", "2026-10-02", ...]      # 法定节假日 (days off)
    working_weekends = ["2026-09-27", "2026-10-10"]   # 调休上班 (weekend days worked)

Rules used here (project choice, documented so that the card centre, the API
and the tests agree):

* Days are counted in the card centre's local time: the calendar's ``tz``, which
  the service sets to its business time zone (``SSCARD_TIMEZONE``, default
  Asia/Shanghai, UTC+08:00).
* The day of application itself never counts; the deadline is the N-th
  working day after the application day. An application made on a Saturday
  therefore has Monday as working day 1.
* An application is late when the target event (the collection notice) has
  not happened by the end of the deadline day, local time.
* The holiday file covers a known span (``valid_through``, or the end of the
  last year it lists). A due date beyond it is *provisional*: the next year's
  holidays are not known yet, so the answer says so (``calendar_through``,
  ``provisional``) instead of silently counting next year's holidays as
  working days.

Everything here is pure: no clock, no database. Callers pass ``now``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

#: The card centres' local time (China Standard Time, no daylight saving) when no other is given.
LOCAL_TIME = timezone(timedelta(hours=8), "CST")

#: Working-day targets from application to collection notice (issuance.md).
BATCH_TARGET_WORKING_DAYS = 30
SINGLE_TARGET_WORKING_DAYS = 5


class CalendarError(ValueError):
    """A holiday file that cannot be read, or a naive datetime."""


@dataclass(frozen=True)
class HolidayCalendar:
    """Weekends, public holidays and the weekend days worked instead (调休)."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    working_weekends: frozenset[date] = field(default_factory=frozenset)
    #: The last day whose holidays are known (``None``: no statement, never provisional).
    valid_through: date | None = None
    #: The time zone whose calendar days are counted (the service's business time zone).
    tz: tzinfo = LOCAL_TIME

    def __post_init__(self) -> None:
        clash = self.holidays & self.working_weekends
        if clash:
            days = ", ".join(sorted(d.isoformat() for d in clash))
            raise CalendarError(f"days listed both as holiday and as working weekend: {days}")

    @classmethod
    def from_toml(cls, path: Path | str, *, tz: tzinfo = LOCAL_TIME) -> HolidayCalendar:
        """Read ``holidays`` and ``working_weekends`` (ISO dates) from a TOML file;
        days are counted in ``tz``."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CalendarError(f"no holiday file at {path}") from exc
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CalendarError(f"cannot read holiday file {path}: {exc}") from exc
        holidays = _parse_days(data.get("holidays", []), path, "holidays")
        working_weekends = _parse_days(data.get("working_weekends", []), path, "working_weekends")
        through = data.get("valid_through")
        if through is None:
            listed = holidays | working_weekends
            through = date(max(d.year for d in listed), 12, 31) if listed else None
        else:
            [through] = _parse_days([through], path, "valid_through")
        return cls(
            holidays=holidays, working_weekends=working_weekends, valid_through=through, tz=tz
        )

    def local_day(self, moment: datetime) -> date:
        """The calendar day of a timezone-aware moment in this calendar's time zone."""
        return local_day(moment, self.tz)

    def covers(self, day: date) -> bool:
        """Whether ``day``'s holidays are known (always, when the calendar states no span)."""
        return self.valid_through is None or day <= self.valid_through

    def is_working_day(self, day: date) -> bool:
        """Monday–Friday unless a holiday; Saturday/Sunday only when listed as worked."""
        if day in self.holidays:
            return False
        if day in self.working_weekends:
            return True
        return day.weekday() < 5

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself never counts)."""
        if count < 0:
            raise ValueError("count must be zero or more working days")
        day = start
        remaining = count
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``: how many have been used since ``start``."""
        if end <= start:
            return 0
        return sum(
            1
            for offset in range(1, (end - start).days + 1)
            if self.is_working_day(start + timedelta(days=offset))
        )


def _parse_days(values: object, path: Path, key: str) -> frozenset[date]:
    if not isinstance(values, list):
        raise CalendarError(f"{path}: {key} must be a list of dates")
    days: set[date] = set()
    for value in values:
        if isinstance(value, date) and not isinstance(value, datetime):
            days.add(value)  # TOML local dates arrive as date objects
            continue
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError as exc:
            raise CalendarError(f"{path}: {key} has {value!r}, not a YYYY-MM-DD date") from exc
    return frozenset(days)


def local_day(moment: datetime, tz: tzinfo = LOCAL_TIME) -> date:
    """The calendar day in ``tz`` (default: the card centre's) of a timezone-aware moment."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError("times must be timezone-aware")
    return moment.astimezone(tz).date()


def target_working_days(batch: bool) -> int:
    """30 working days for batch issuance, 5 for single (sporadic) issuance."""
    return BATCH_TARGET_WORKING_DAYS if batch else SINGLE_TARGET_WORKING_DAYS


@dataclass(frozen=True)
class Deadline:
    """One application measured against its target."""

    applied_on: date
    target_working_days: int
    due_on: date
    late: bool
    working_days_used: int
    #: The holiday file's last known day, and whether ``due_on`` lies beyond it.
    calendar_through: date | None = None
    provisional: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "applied_on": self.applied_on.isoformat(),
            "target_working_days": self.target_working_days,
            "due_on": self.due_on.isoformat(),
            "late": self.late,
            "working_days_used": self.working_days_used,
            "calendar_through": self.calendar_through.isoformat()
            if self.calendar_through
            else None,
            "provisional": self.provisional,
        }


def deadline(
    calendar: HolidayCalendar,
    applied_at: datetime,
    target_days: int,
    *,
    now: datetime,
    reached_at: datetime | None = None,
) -> Deadline:
    """Due date and lateness of an application.

    ``reached_at`` is when the target event (collection notice) happened, or
    ``None`` while it is still pending, in which case ``now`` is measured.
    """
    applied_on = calendar.local_day(applied_at)
    due_on = calendar.add_working_days(applied_on, target_days)
    measured_on = calendar.local_day(reached_at if reached_at is not None else now)
    return Deadline(
        applied_on=applied_on,
        target_working_days=target_days,
        due_on=due_on,
        late=measured_on > due_on,
        working_days_used=calendar.working_days_between(applied_on, measured_on),
        calendar_through=calendar.valid_through,
        provisional=not calendar.covers(due_on),
    )
