"""Coverage periods, the resident insurance year and enrolment window, ages (settlement.md)."""

from datetime import date

import pytest

from settlement.rules import (
    CoveragePeriod,
    EnrolmentRefused,
    age_on,
    insurance_year,
    is_covered,
    resident_enrolment,
)
from settlement.rules.coverage import paid_overlap

D = date
EMPLOYEE_OPEN = CoveragePeriod("310", D(2020, 3, 1), None, paid=True)
RESIDENT_YEAR = CoveragePeriod("390", D(2026, 7, 1), D(2027, 6, 30), paid=True)
RESIDENT_UNPAID = CoveragePeriod("390", D(2027, 7, 1), D(2028, 6, 30), paid=False)


@pytest.mark.parametrize(
    ("periods", "scheme", "on", "covered"),
    [
        ([EMPLOYEE_OPEN], "310", D(2020, 3, 1), True),  # first day
        ([EMPLOYEE_OPEN], "310", D(2020, 2, 29), False),  # day before
        ([EMPLOYEE_OPEN], "310", D(2040, 1, 1), True),  # open-ended
        ([EMPLOYEE_OPEN], "390", D(2026, 8, 1), False),  # other scheme
        ([RESIDENT_YEAR], "390", D(2026, 6, 30), False),  # 30 June: previous year
        ([RESIDENT_YEAR], "390", D(2026, 7, 1), True),  # 1 July: first day
        ([RESIDENT_YEAR], "390", D(2027, 6, 30), True),  # last day inclusive
        ([RESIDENT_YEAR], "390", D(2027, 7, 1), False),  # next year not paid for
        ([RESIDENT_YEAR, RESIDENT_UNPAID], "390", D(2027, 7, 1), False),  # unpaid
        ([RESIDENT_YEAR, RESIDENT_UNPAID], "390", D(2027, 6, 30), True),
        (
            [CoveragePeriod("310", D(2026, 1, 1), D(2026, 12, 31), paid=False)],
            "310",
            D(2026, 5, 5),
            False,
        ),
        ([], "310", D(2026, 5, 5), False),
        ([EMPLOYEE_OPEN, RESIDENT_YEAR], "390", D(2026, 12, 1), True),
    ],
)
def test_is_covered(periods, scheme, on, covered):
    assert is_covered(periods, scheme, on) is covered


def test_coverage_period_validation():
    with pytest.raises(ValueError, match="scheme"):
        CoveragePeriod("999", D(2026, 1, 1), None, True)
    with pytest.raises(ValueError, match="ends"):
        CoveragePeriod("310", D(2026, 1, 2), D(2026, 1, 1), True)
    assert CoveragePeriod("310", D(2026, 1, 1), D(2026, 1, 1), True).covers(D(2026, 1, 1))


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (D(2026, 6, 30), (D(2025, 7, 1), D(2026, 6, 30))),
        (D(2026, 7, 1), (D(2026, 7, 1), D(2027, 6, 30))),
        (D(2026, 12, 31), (D(2026, 7, 1), D(2027, 6, 30))),
        (D(2027, 1, 1), (D(2026, 7, 1), D(2027, 6, 30))),
        (D(2028, 2, 29), (D(2027, 7, 1), D(2028, 6, 30))),
    ],
)
def test_insurance_year(day, year):
    assert insurance_year(day) == year


@pytest.mark.parametrize(
    ("applied_on", "coverage"),
    [
        (D(2026, 3, 1), (D(2026, 4, 1), D(2026, 6, 30))),
        (D(2026, 3, 24), (D(2026, 4, 1), D(2026, 6, 30))),  # last accepted day
        (D(2026, 5, 24), (D(2026, 6, 1), D(2026, 6, 30))),  # one month left in the year
        (D(2026, 6, 1), (D(2026, 7, 1), D(2027, 6, 30))),  # June → whole next year
        (D(2026, 6, 24), (D(2026, 7, 1), D(2027, 6, 30))),
        (D(2026, 7, 1), (D(2026, 8, 1), D(2027, 6, 30))),
        (D(2026, 12, 24), (D(2027, 1, 1), D(2027, 6, 30))),  # across the calendar year
        (D(2028, 2, 24), (D(2028, 3, 1), D(2028, 6, 30))),
    ],
)
def test_resident_enrolment_accepted(applied_on, coverage):
    assert resident_enrolment(applied_on) == coverage


@pytest.mark.parametrize(
    "applied_on",
    [
        D(2026, 3, 25),
        D(2026, 3, 31),
        D(2026, 6, 25),
        D(2026, 6, 30),
        D(2026, 12, 25),
        D(2028, 2, 29),
    ],
)
def test_resident_enrolment_refused_after_day_24(applied_on):
    with pytest.raises(EnrolmentRefused) as caught:
        resident_enrolment(applied_on)
    assert caught.value.code == "enrolment_window_closed"
    message = str(caught.value)
    assert "days 1-24" in message and f"day {applied_on.day}" in message
    assert "Apply again from" in message


def test_enrolment_refusal_points_to_the_next_window():
    with pytest.raises(EnrolmentRefused, match=r"Apply again from 2027-01-01 .* 2027-02-01"):
        resident_enrolment(D(2026, 12, 25))


def test_enrolment_then_admission():
    """Enrolled on 24 May: covered from 1 June (paid) to 30 June, not before, not unpaid."""
    start, end = resident_enrolment(D(2026, 5, 24))
    paid = [CoveragePeriod("390", start, end, paid=True)]
    unpaid = [CoveragePeriod("390", start, end, paid=False)]
    assert not is_covered(paid, "390", D(2026, 5, 31))
    assert is_covered(paid, "390", D(2026, 6, 1))
    assert is_covered(paid, "390", D(2026, 6, 30))
    assert not is_covered(paid, "390", D(2026, 7, 1))
    assert not is_covered(unpaid, "390", D(2026, 6, 15))


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (D(2020, 3, 15), D(2020, 3, 15), 0),
        (D(2020, 3, 15), D(2027, 3, 14), 6),
        (D(2020, 3, 15), D(2027, 3, 15), 7),
        (D(2020, 2, 29), D(2027, 2, 28), 6),  # 29 Feb birthday: not yet on 28 Feb
        (D(2020, 2, 29), D(2027, 3, 1), 7),  # ... but on 1 March in a common year
        (D(2020, 2, 29), D(2028, 2, 28), 7),
        (D(2020, 2, 29), D(2028, 2, 29), 8),  # leap year: on the day itself
        (D(2019, 12, 31), D(2026, 12, 30), 6),
        (D(2019, 12, 31), D(2026, 12, 31), 7),
        (D(1950, 1, 1), D(2026, 11, 23), 76),
    ],
)
def test_age_on(birth, day, age):
    assert age_on(birth, day) == age


def test_age_before_birth_is_an_error():
    with pytest.raises(ValueError, match="before the birth date"):
        age_on(D(2026, 1, 2), D(2026, 1, 1))


@pytest.mark.parametrize(
    ("scheme", "day", "year"),
    [
        ("310", D(2026, 6, 30), (D(2026, 1, 1), D(2026, 12, 31))),
        ("310", D(2026, 7, 1), (D(2026, 1, 1), D(2026, 12, 31))),
        ("390", D(2026, 6, 30), (D(2025, 7, 1), D(2026, 6, 30))),
        ("390", D(2026, 7, 1), (D(2026, 7, 1), D(2027, 6, 30))),
    ],
)
def test_benefit_year(scheme, day, year):
    from settlement.rules import benefit_year

    assert benefit_year(scheme, day) == year


def test_benefit_year_unknown_scheme():
    from settlement.rules import benefit_year

    with pytest.raises(ValueError, match="scheme"):
        benefit_year("999", D(2026, 1, 1))


@pytest.mark.parametrize(
    ("periods", "scheme", "start", "end", "clash"),
    [
        ([EMPLOYEE_OPEN], "310", D(2019, 1, 1), D(2020, 2, 29), None),  # ends the day before
        ([EMPLOYEE_OPEN], "310", D(2019, 1, 1), D(2020, 3, 1), EMPLOYEE_OPEN),  # shares a day
        ([EMPLOYEE_OPEN], "310", D(2030, 1, 1), None, EMPLOYEE_OPEN),  # inside an open period
        ([EMPLOYEE_OPEN], "390", D(2030, 1, 1), None, None),  # another scheme
        ([RESIDENT_YEAR], "390", D(2027, 7, 1), D(2028, 6, 30), None),  # the next year
        ([RESIDENT_YEAR], "390", D(2027, 6, 30), None, RESIDENT_YEAR),  # open from its last day
        ([RESIDENT_YEAR], "390", D(2020, 1, 1), None, RESIDENT_YEAR),  # open, starts before
        ([RESIDENT_UNPAID], "390", D(2027, 7, 1), D(2028, 6, 30), None),  # unpaid never clashes
    ],
)
def test_paid_overlap(periods, scheme, start, end, clash):
    assert paid_overlap(periods, scheme, start, end) == clash
