"""Table tests for the enrolment and contribution dates (issue 20, docs/rules.md §Contributions)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from settlement.rules.contributions import (
    COVERED,
    FLEXIBLE_WORKER,
    PAID,
    PAYABLE,
    PROCESSING,
    RESIDENT,
    PaymentRefused,
    check_payment,
    contribution_state,
    correction_deadline,
    load_rates,
    may_correct,
    order_expiry,
    order_status,
    payable_from,
    payment_window,
    rates_from_mapping,
    year_of,
)
from settlement.rules.coverage import EnrolmentRefused, resident_enrolment
from settlement.rules.working_days import HolidayCalendar

# 2026-10-01 (Thu) .. 10-07 (Wed) National Day; Sat 2026-10-10 worked (调休).
NATIONAL_DAY = HolidayCalendar(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    working_weekends=frozenset({date(2026, 10, 10)}),
)


@pytest.mark.parametrize(
    ("entered_on", "delay", "payable"),
    [
        (date(2026, 6, 10), 3, date(2026, 6, 13)),
        (date(2026, 6, 29), 3, date(2026, 7, 2)),  # across a month end
        (date(2026, 12, 30), 3, date(2027, 1, 2)),  # across a year end
        (date(2028, 2, 27), 3, date(2028, 3, 1)),  # leap February
        (date(2027, 2, 27), 3, date(2027, 3, 2)),  # common February
        (date(2026, 6, 10), 0, date(2026, 6, 10)),  # configured without a delay
        (date(2026, 6, 10), 7, date(2026, 6, 17)),
    ],
)
def test_entry_delay(entered_on, delay, payable):
    assert payable_from(entered_on, delay) == payable


def test_entry_delay_refuses_negative():
    with pytest.raises(ValueError):
        payable_from(date(2026, 6, 10), -1)


@pytest.mark.parametrize(
    ("applied_on", "start", "end"),
    [
        (date(2026, 1, 24), date(2026, 2, 1), date(2026, 6, 30)),
        (date(2026, 1, 1), date(2026, 2, 1), date(2026, 6, 30)),
        (date(2026, 6, 24), date(2026, 7, 1), date(2027, 6, 30)),  # June → a whole new year
        (date(2026, 12, 24), date(2027, 1, 1), date(2027, 6, 30)),  # across a year end
        (date(2027, 2, 24), date(2027, 3, 1), date(2027, 6, 30)),  # short February
        (date(2026, 5, 10), date(2026, 6, 1), date(2026, 6, 30)),  # one month left
    ],
)
def test_enrolment_days_1_to_24(applied_on, start, end):
    assert resident_enrolment(applied_on) == (start, end)


@pytest.mark.parametrize(
    "applied_on",
    [
        date(2026, 1, 25),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 12, 31),
        date(2028, 2, 29),
    ],
)
def test_enrolment_refused_days_25_to_31(applied_on):
    with pytest.raises(EnrolmentRefused) as refused:
        resident_enrolment(applied_on)
    assert refused.value.code == "enrolment_window_closed"


@pytest.mark.parametrize(
    ("year", "coverage_start", "window"),
    [
        (2026, date(2026, 7, 1), (date(2026, 6, 1), date(2026, 6, 30))),
        (2027, date(2026, 7, 1), (date(2027, 6, 1), date(2027, 6, 30))),
        (2026, date(2025, 3, 1), (date(2026, 6, 1), date(2026, 6, 30))),
        # first year starting mid-year: payable until the end of that year
        (2026, date(2026, 12, 1), (date(2026, 6, 1), date(2027, 6, 30))),
        (2027, date(2026, 12, 1), (date(2027, 6, 1), date(2027, 6, 30))),
    ],
)
def test_payment_window(year, coverage_start, window):
    assert payment_window(year, coverage_start) == window


@pytest.mark.parametrize(
    ("year", "on", "entered_on", "coverage_start", "code"),
    [
        (2026, date(2026, 6, 1), date(2025, 1, 3), date(2025, 2, 1), None),
        (2026, date(2026, 6, 30), date(2025, 1, 3), date(2025, 2, 1), None),
        (2026, date(2026, 5, 31), date(2025, 1, 3), date(2025, 2, 1), "outside_payment_window"),
        (2026, date(2026, 7, 1), date(2025, 1, 3), date(2025, 2, 1), "outside_payment_window"),
        (2027, date(2026, 6, 15), date(2025, 1, 3), date(2025, 2, 1), "outside_payment_window"),
        (2025, date(2026, 6, 15), date(2025, 1, 3), date(2025, 2, 1), "outside_payment_window"),
        (2027, date(2027, 6, 15), date(2025, 1, 3), date(2025, 2, 1), None),  # next June
        # entered 20 June, payable 23 June
        (2026, date(2026, 6, 22), date(2026, 6, 20), date(2026, 7, 1), "enrolment_processing"),
        (2026, date(2026, 6, 23), date(2026, 6, 20), date(2026, 7, 1), None),
        # mid-year enrolment pays its first year after June
        (2026, date(2026, 11, 13), date(2026, 11, 10), date(2026, 12, 1), None),
        (2026, date(2026, 11, 12), date(2026, 11, 10), date(2026, 12, 1), "enrolment_processing"),
        (2025, date(2026, 11, 13), date(2026, 11, 10), date(2026, 12, 1), "not_enrolled_for_year"),
    ],
)
def test_check_payment(year, on, entered_on, coverage_start, code):
    kwargs = {"on": on, "entered_on": entered_on, "coverage_start": coverage_start}
    kwargs |= {"year": year, "delay_days": 3}
    if code is None:
        check_payment(**kwargs)
    else:
        with pytest.raises(PaymentRefused) as refused:
            check_payment(**kwargs)
        assert refused.value.code == code


@pytest.mark.parametrize(
    ("entered_on", "deadline"),
    [
        (date(2026, 11, 2), date(2026, 11, 9)),  # Monday → next Monday
        (date(2026, 11, 6), date(2026, 11, 13)),  # Friday → next Friday
        (date(2026, 11, 7), date(2026, 11, 13)),  # entered on a Saturday
        (date(2026, 9, 28), date(2026, 10, 10)),  # Mon; 29, 30 Sep, 8, 9, 10 (worked Sat) Oct
        (date(2026, 9, 30), date(2026, 10, 13)),  # the holiday week counts nothing
        (date(2026, 10, 3), date(2026, 10, 13)),  # entered during the holiday
    ],
)
def test_correction_window_over_holidays(entered_on, deadline):
    assert correction_deadline(entered_on, NATIONAL_DAY) == deadline
    assert may_correct(entered_on, deadline, NATIONAL_DAY)
    assert not may_correct(entered_on, date.fromordinal(deadline.toordinal() + 1), NATIONAL_DAY)


@pytest.mark.parametrize(
    ("on", "paid", "state"),
    [
        (date(2026, 6, 21), False, PROCESSING),
        (date(2026, 6, 23), False, PAYABLE),
        (date(2026, 6, 25), True, PAID),
        (date(2026, 7, 1), True, COVERED),
        (date(2027, 6, 30), True, COVERED),
        (date(2027, 7, 1), True, PAID),  # after the year it paid for
    ],
)
def test_contribution_state(on, paid, state):
    got = contribution_state(
        year=2026,
        on=on,
        entered_on=date(2026, 6, 20),
        coverage_start=date(2026, 7, 1),
        delay_days=3,
        paid=paid,
    )
    assert got.state == state
    assert got.payable_from == date(2026, 6, 23)
    assert (got.covered_from is not None) == paid


@pytest.mark.parametrize(
    ("day", "year"),
    [(date(2026, 6, 30), 2025), (date(2026, 7, 1), 2026), (date(2027, 1, 1), 2026)],
)
def test_year_of(day, year):
    assert year_of(day) == year


def test_rates():
    rates = load_rates()
    resident = rates.amount(RESIDENT, 2026)
    assert resident.pension_fen == 0 and resident.total_fen == resident.medical_fen > 0
    flexible = rates.amount(FLEXIBLE_WORKER, 2026)
    assert flexible.medical_fen > 0 and flexible.pension_fen > 0
    with pytest.raises(PaymentRefused) as refused:
        rates.amount(RESIDENT, 2040)
    assert refused.value.code == "rates_unpublished"


@pytest.mark.parametrize(
    "data",
    [
        {"year": {"2026": {}}},
        {"version": "1", "year": {"x": {}}},
        {"version": "1", "year": {"2026": {"resident_fen": 1}}},
        {
            "version": "1",
            "year": {
                "2026": {"resident_fen": -1, "flexible_medical_fen": 1, "flexible_pension_fen": 1}
            },
        },
    ],
)
def test_bad_rates_refused(data):
    with pytest.raises(ValueError):
        rates_from_mapping(data)


def test_entry_delay_setting():
    from settlement.config import ConfigError, Settings

    settings = Settings.from_env(
        "sqlite://", environ={"SSCARD_ENROLMENT_ENTRY_DELAY_DAYS": "5"}, home=None
    )
    assert settings.enrolment_entry_delay_days == 5
    assert Settings.from_env("sqlite://", environ={}).enrolment_entry_delay_days == 3
    with pytest.raises(ConfigError):
        Settings.from_env("sqlite://", environ={"SSCARD_ENROLMENT_ENTRY_DELAY_DAYS": "-1"})


T0 = datetime(2026, 6, 15, 23, 50, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stored", "expires_at", "now", "ttl_s", "status"),
    [
        ("pending", T0 + timedelta(minutes=30), T0, 1800, "pending"),
        (
            "pending",
            T0 + timedelta(minutes=30),
            T0 + timedelta(minutes=29, seconds=59),
            1800,
            "pending",
        ),
        ("pending", T0 + timedelta(minutes=30), T0 + timedelta(minutes=30), 1800, "expired"),
        ("pending", T0 + timedelta(minutes=30), T0 + timedelta(days=2), 60, "expired"),
        # an order stored before expiry was recorded: created_at + the setting
        ("pending", None, T0 + timedelta(minutes=29), 1800, "pending"),
        ("pending", None, T0 + timedelta(minutes=30), 1800, "expired"),
        ("pending", None, T0 + timedelta(minutes=2), 60, "expired"),
        # the stored expiry wins over a changed setting
        ("pending", T0 + timedelta(hours=2), T0 + timedelta(hours=1), 60, "pending"),
        # confirmed stays confirmed, whenever asked
        ("confirmed", T0 + timedelta(minutes=30), T0 + timedelta(days=400), 1800, "confirmed"),
    ],
)
def test_order_status(stored, expires_at, now, ttl_s, status):
    assert (
        order_status(stored, created_at=T0, expires_at=expires_at, now=now, ttl_s=ttl_s) == status
    )


def test_order_expiry():
    assert order_expiry(T0) == T0 + timedelta(minutes=30)  # across midnight UTC
    assert order_expiry(T0, 60) == T0 + timedelta(minutes=1)
    with pytest.raises(ValueError):
        order_expiry(T0, 0)
