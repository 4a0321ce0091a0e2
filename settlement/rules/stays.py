"""Inpatient stays: the admission and discharge time windows, and which stays count as prior.

Pure functions (no web, no database), tested from tables in
``tests/settlement_rules/test_stays.py``.

- docs/api.md §Admission times: a stay is registered on its real day. ``begntime`` lies within
  [now − the back-dating limit, now + the clock skew]: the benefit year, the child's age and the
  coverage are all decided by the admission date, so it cannot be chosen freely. ``endtime`` is
  not before ``begntime`` and not in the future (the same skew).
- docs/api.md §Second admission (settlement.md "halved for a second or later admission in the
  same year"): a settled stay of the same person and the same ``insutype`` whose admission date
  lies in the same benefit year (:func:`settlement.rules.coverage.benefit_year`) counts as prior
  when it *began* earlier — admission order, not the order of settlements; two stays that began
  at the same instant are ordered by ``mdtrt_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from settlement.rules.clock import CLOCK_SKEW


class StayTimeError(ValueError):
    """A stay's time is outside its window; ``code`` is stable for problem+json responses.

    Codes: ``admission_time_invalid``, ``discharge_time_invalid``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_admission_time(begntime: datetime, now: datetime, backdate_days: int) -> None:
    """``begntime`` within [now − ``backdate_days``, now + :data:`CLOCK_SKEW`], else
    :class:`StayTimeError` (``admission_time_invalid``). ``backdate_days`` is a setting
    (``SSCARD_ADMISSION_BACKDATE_DAYS``, 30 by default: ``settlement.config``)."""
    if begntime > now + CLOCK_SKEW:
        raise StayTimeError(
            "admission_time_invalid",
            f"begntime {begntime.isoformat()} is in the future (service time {now.isoformat()})",
        )
    if begntime < now - timedelta(days=backdate_days):
        raise StayTimeError(
            "admission_time_invalid",
            f"begntime {begntime.isoformat()} is more than {backdate_days} days in the past; "
            "admissions are registered within that window of their real time",
        )


def check_discharge_time(endtime: datetime, begntime: datetime, now: datetime) -> None:
    """``endtime`` not before the admission's ``begntime`` and not after now + :data:`CLOCK_SKEW`,
    else :class:`StayTimeError` (``discharge_time_invalid``)."""
    if endtime < begntime:
        raise StayTimeError(
            "discharge_time_invalid",
            f"endtime {endtime.isoformat()} is before the admission's begntime {begntime.isoformat()}",
        )
    if endtime > now + CLOCK_SKEW:
        raise StayTimeError(
            "discharge_time_invalid",
            f"endtime {endtime.isoformat()} is in the future (service time {now.isoformat()})",
        )


@dataclass(frozen=True, slots=True)
class StayStart:
    """When a stay began, and its ``mdtrt_id`` (the tie-break between equal ``begntime``)."""

    mdtrt_id: str
    begntime: datetime


def began_before(other: StayStart, stay: StayStart) -> bool:
    """True when ``other`` began before ``stay`` (by ``begntime``, then ``mdtrt_id``).

    A stay never began before itself.
    """
    return (other.begntime, other.mdtrt_id) < (stay.begntime, stay.mdtrt_id)


def prior_admissions(stay: StayStart, settled_same_year: Iterable[StayStart]) -> int:
    """How many of the person's settled stays of the same ``insutype`` and benefit year count as
    prior to ``stay`` (``SplitRequest.prior_admissions_this_year``).

    ``settled_same_year`` are the settled stays whose admission date lies in the benefit year of
    ``stay``'s admission date; ``stay`` itself may be among them (it is not counted).
    """
    return sum(1 for other in settled_same_year if began_before(other, stay))
