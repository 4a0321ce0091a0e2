"""Stay rules (settlement/rules/stays.py): the admission and discharge time windows, the
benefit year of a stay, and which stays count as prior (docs/api.md §Admission times,
§Second admission)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from settlement.rules.coverage import BenefitYear, benefit_year
from settlement.rules.stays import (
    CLOCK_SKEW,
    StayStart,
    StayTimeError,
    began_before,
    check_admission_time,
    check_discharge_time,
    prior_admissions,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("begntime", "backdate_days", "refused"),
    [
        (NOW, 30, False),
        (NOW + CLOCK_SKEW, 30, False),  # the skew is tolerated
        (NOW + CLOCK_SKEW + MINUTE, 30, True),  # beyond it: in the future
        (NOW - 30 * DAY, 30, False),  # the back-dating limit itself
        (NOW - 30 * DAY - MINUTE, 30, True),
        (NOW - 3 * DAY, 2, True),  # a shorter limit
        (NOW - 3 * DAY, 5, False),
    ],
)
def test_admission_time_window(begntime, backdate_days, refused):
    if refused:
        with pytest.raises(StayTimeError) as caught:
            check_admission_time(begntime, NOW, backdate_days)
        assert caught.value.code == "admission_time_invalid"
        assert begntime.isoformat() in str(caught.value)
    else:
        check_admission_time(begntime, NOW, backdate_days)


def test_admission_time_messages_say_which_end():
    with pytest.raises(StayTimeError, match="in the future"):
        check_admission_time(NOW + DAY, NOW, 30)
    with pytest.raises(StayTimeError, match="more than 30 days in the past"):
        check_admission_time(NOW - 31 * DAY, NOW, 30)


@pytest.mark.parametrize(
    ("endtime", "begntime", "message"),
    [
        (NOW, NOW - DAY, None),
        (NOW - DAY, NOW - DAY, None),  # discharged at the admission instant
        (NOW - DAY - MINUTE, NOW - DAY, "before the admission's begntime"),
        (NOW + CLOCK_SKEW, NOW - DAY, None),
        (NOW + CLOCK_SKEW + MINUTE, NOW - DAY, "in the future"),
    ],
)
def test_discharge_time_window(endtime, begntime, message):
    if message is None:
        check_discharge_time(endtime, begntime, NOW)
    else:
        with pytest.raises(StayTimeError, match=message) as caught:
            check_discharge_time(endtime, begntime, NOW)
        assert caught.value.code == "discharge_time_invalid"


@pytest.mark.parametrize(
    ("insutype", "adm_date", "year", "first_day", "last_day"),
    [
        ("310", date(2026, 1, 1), 2026, date(2026, 1, 1), date(2026, 12, 31)),
        ("310", date(2026, 12, 31), 2026, date(2026, 1, 1), date(2026, 12, 31)),
        ("390", date(2026, 6, 30), 2025, date(2025, 7, 1), date(2026, 6, 30)),
        ("390", date(2026, 7, 1), 2026, date(2026, 7, 1), date(2027, 6, 30)),
        ("390", date(2027, 1, 15), 2026, date(2026, 7, 1), date(2027, 6, 30)),
    ],
)
def test_benefit_year_of_a_stay(insutype, adm_date, year, first_day, last_day):
    """One benefit_year: its number (as stored) is the calendar year its first day is in."""
    found = benefit_year(insutype, adm_date)
    assert found == BenefitYear(first_day, last_day)
    assert found.year == year


T = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("other", "stay", "before"),
    [
        (StayStart("M2", T - MINUTE), StayStart("M1", T), True),  # began earlier
        (StayStart("M1", T + MINUTE), StayStart("M2", T), False),  # began later
        (StayStart("M1", T), StayStart("M2", T), True),  # same instant: mdtrt_id decides
        (StayStart("M2", T), StayStart("M1", T), False),
        (StayStart("M1", T), StayStart("M1", T), False),  # never before itself
    ],
)
def test_began_before(other, stay, before):
    assert began_before(other, stay) is before


@pytest.mark.parametrize(
    ("settled", "expected"),
    [
        ([], 0),
        ([StayStart("M0", T - DAY)], 1),
        ([StayStart("M0", T - DAY), StayStart("M9", T - 2 * DAY)], 2),
        # Settled earlier but admitted later (admission order, not settlement order).
        ([StayStart("M0", T + DAY)], 0),
        ([StayStart("M5", T)], 0),  # the stay itself is not prior to itself
        ([StayStart("M4", T), StayStart("M6", T)], 1),  # same instant: M4 < M5 only
    ],
)
def test_prior_admissions(settled, expected):
    assert prior_admissions(StayStart("M5", T), settled) == expected
