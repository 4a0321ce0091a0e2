"""Deadline arithmetic around weekends, holidays and worked weekends (issuance.md targets)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.rules.working_days import (
    LOCAL_TIME,
    CalendarError,
    HolidayCalendar,
    deadline,
    local_day,
    target_working_days,
)

# 2026-10-01 (Thu) .. 10-07 (Wed) National Day; Sat 2026-10-10 worked (调休).
NATIONAL_DAY = HolidayCalendar(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    working_weekends=frozenset({date(2026, 10, 10)}),
)
PLAIN = HolidayCalendar()


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=LOCAL_TIME)


@pytest.mark.parametrize(
    ("start", "count", "due"),
    [
        (date(2026, 11, 2), 5, date(2026, 11, 9)),  # Monday + 5 → next Monday
        (date(2026, 11, 6), 1, date(2026, 11, 9)),  # Friday + 1 → Monday
        (date(2026, 11, 7), 1, date(2026, 11, 9)),  # Saturday + 1 → Monday
        (date(2026, 11, 8), 5, date(2026, 11, 13)),  # Sunday + 5 → Friday
        (date(2026, 11, 2), 0, date(2026, 11, 2)),
        (date(2026, 11, 2), 30, date(2026, 12, 14)),  # six whole weeks
    ],
)
def test_weekends_are_skipped(start, count, due):
    assert PLAIN.add_working_days(start, count) == due


def test_holidays_are_skipped_and_worked_weekend_counts():
    # Tue 2026-09-29 + 5: Wed 30 (1), Oct 1-7 off, Thu 8 (2), Fri 9 (3), Sat 10 worked (4),
    # Sun 11 off, Mon 12 (5).
    assert NATIONAL_DAY.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 12)
    assert PLAIN.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 6)
    assert NATIONAL_DAY.is_working_day(date(2026, 10, 10))
    assert not NATIONAL_DAY.is_working_day(date(2026, 10, 5))  # a Monday in the holiday


def test_working_days_between_is_inverse_of_add():
    for start in (date(2026, 9, 26) + timedelta(days=i) for i in range(20)):
        for n in range(0, 35, 7):
            due = NATIONAL_DAY.add_working_days(start, n)
            assert NATIONAL_DAY.working_days_between(start, due) == n


def test_deadline_single_and_batch_and_lateness():
    applied = at(2026, 9, 29)
    single = deadline(NATIONAL_DAY, applied, target_working_days(False), now=at(2026, 10, 12, 23))
    assert single.due_on == date(2026, 10, 12)
    assert not single.late
    assert single.working_days_used == 5
    late = deadline(NATIONAL_DAY, applied, 5, now=at(2026, 10, 13, 0))
    assert late.late
    reached = deadline(NATIONAL_DAY, applied, 5, now=at(2026, 12, 1), reached_at=at(2026, 10, 9))
    assert not reached.late  # measured at the collection notice, not today
    batch = deadline(NATIONAL_DAY, applied, target_working_days(True), now=applied)
    assert batch.target_working_days == 30
    assert NATIONAL_DAY.working_days_between(date(2026, 9, 29), batch.due_on) == 30


def test_local_day_uses_beijing_time_and_refuses_naive():
    # 2026-11-06 17:00 UTC is Saturday 01:00 in Beijing.
    assert local_day(datetime(2026, 11, 6, 17, tzinfo=UTC)) == date(2026, 11, 7)
    with pytest.raises(CalendarError):
        local_day(datetime(2026, 11, 6, 17))


def test_holiday_file(tmp_path):
    path = tmp_path / "holidays.toml"
    path.write_text(
        'holidays = ["2026-10-01", 2026-10-02]\nworking_weekends = ["2026-10-10"]\n',
        encoding="utf-8",
    )
    cal = HolidayCalendar.from_toml(path)
    assert cal.holidays == {date(2026, 10, 1), date(2026, 10, 2)}
    assert cal.working_weekends == {date(2026, 10, 10)}
    path.write_text('holidays = ["2026-13-01"]\n', encoding="utf-8")
    with pytest.raises(CalendarError, match="not a YYYY-MM-DD"):
        HolidayCalendar.from_toml(path)
    path.write_text('holidays = ["2026-10-10"]\nworking_weekends = ["2026-10-10"]\n')
    with pytest.raises(CalendarError, match="both"):
        HolidayCalendar.from_toml(path)
    with pytest.raises(CalendarError, match="no holiday file"):
        HolidayCalendar.from_toml(tmp_path / "missing.toml")


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    count=st.integers(min_value=0, max_value=60),
    holidays=st.frozensets(
        st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 3, 31)), max_size=20
    ),
)
def test_add_working_days_properties(start, count, holidays):
    cal = HolidayCalendar(holidays=holidays)
    due = cal.add_working_days(start, count)
    assert cal.working_days_between(start, due) == count
    if count:
        assert cal.is_working_day(due)  # the due day itself is a working day
        assert due > start
    assert cal.add_working_days(start, count + 1) > due  # one more day is strictly later
    # A holiday can only push a deadline later, never earlier.
    assert due >= PLAIN.add_working_days(start, count)


def test_due_date_beyond_the_holiday_file_is_provisional(tmp_path):
    """A due date in a year the holiday file does not list yet is flagged, not trusted."""
    path = tmp_path / "holidays.toml"
    path.write_text('holidays = ["2026-10-01"]\nworking_weekends = ["2026-10-10"]\n')
    cal = HolidayCalendar.from_toml(path)
    assert cal.valid_through == date(2026, 12, 31)
    december = datetime(2026, 12, 21, 10, tzinfo=LOCAL_TIME)
    batch = deadline(cal, december, 30, now=december)
    assert batch.due_on.year == 2027 and batch.provisional
    assert batch.to_json()["calendar_through"] == "2026-12-31"
    assert batch.to_json()["provisional"] is True
    single = deadline(cal, december, 5, now=december)
    assert single.due_on == date(2026, 12, 28) and not single.provisional
    # An explicit span in the file wins; a calendar that states no span is never provisional.
    path.write_text('valid_through = 2027-06-30\nholidays = ["2026-10-01"]\n')
    assert not deadline(HolidayCalendar.from_toml(path), december, 30, now=december).provisional
    assert not deadline(HolidayCalendar(), december, 30, now=december).provisional
