"""Property tests for the date rules: enrolment, insurance years and ages."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from settlement.rules import EnrolmentRefused, age_on, insurance_year, resident_enrolment

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


@given(days)
def test_enrolment_window_and_result(applied_on):
    try:
        start, end = resident_enrolment(applied_on)
    except EnrolmentRefused:
        assert applied_on.day >= 25
        return
    assert applied_on.day <= 24
    assert start.day == 1 and applied_on < start <= applied_on + timedelta(days=31)
    assert (end.month, end.day) == (6, 30) and start <= end
    assert insurance_year(start) == (insurance_year(start)[0], end)
    assert (end - start).days < 366  # never more than one insurance year


@given(days)
def test_insurance_year_contains_the_day_and_is_a_year_long(day):
    first, last = insurance_year(day)
    assert first <= day <= last
    assert (first.month, first.day, last.month, last.day) == (7, 1, 6, 30)
    assert last.year == first.year + 1
    assert insurance_year(first) == insurance_year(last) == (first, last)


@given(days, days)
def test_age_counts_whole_birthdays(a, b):
    birth, day = min(a, b), max(a, b)
    age = age_on(birth, day)
    assert age >= 0
    # Counting anniversaries one by one (29 Feb → 1 March in common years) gives the same.
    count = 0
    while True:
        year = birth.year + count + 1
        try:
            anniversary = birth.replace(year=year)
        except ValueError:
            anniversary = date(year, 3, 1)
        if anniversary > day:
            break
        count += 1
    assert age == count
