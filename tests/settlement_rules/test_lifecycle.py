"""The stay lifecycle table (settlement/rules/lifecycle.py; nhsa.md §Stay lifecycle)."""

from __future__ import annotations

import pytest

from settlement.rules.lifecycle import STEPS, StayStepRefused, next_status

CASES = [
    # step, from, to or refusal code
    ("discharge", "admitted", "discharged"),
    ("discharge", "discharged", "stay_discharged"),
    ("discharge", "settled", "already_settled"),
    ("discharge", "cancelled", "stay_cancelled"),
    ("cancel_discharge", "discharged", "admitted"),
    ("cancel_discharge", "admitted", "stay_not_discharged"),
    ("cancel_discharge", "settled", "already_settled"),
    ("change_admission", "admitted", "admitted"),
    ("change_admission", "discharged", "stay_discharged"),
    ("cancel_admission", "admitted", "cancelled"),
    ("cancel_admission", "discharged", "stay_discharged"),
    ("cancel_admission", "settled", "already_settled"),
    ("cancel_admission", "cancelled", "stay_cancelled"),
    ("upload_fees", "admitted", "admitted"),
    ("upload_fees", "discharged", "discharged"),
    ("upload_fees", "settled", "already_settled"),
    ("upload_fees", "cancelled", "stay_cancelled"),
    ("cancel_fees", "discharged", "discharged"),
    ("cancel_fees", "settled", "already_settled"),
    ("pre_settle", "discharged", "discharged"),
    ("pre_settle", "cancelled", "stay_cancelled"),
    ("settle", "admitted", "settled"),
    ("settle", "discharged", "settled"),
    ("settle", "settled", "already_settled"),
    ("settle", "cancelled", "stay_cancelled"),
    ("reverse", "settled", "discharged"),
    ("reverse", "discharged", "stay_discharged"),
]


@pytest.mark.parametrize(("step", "status", "expected"), CASES)
def test_step(step, status, expected):
    if expected in ("admitted", "discharged", "settled", "cancelled"):
        assert next_status(step, status) == expected
    else:
        with pytest.raises(StayStepRefused) as refused:
            next_status(step, status)
        assert refused.value.code == expected


def test_an_admission_with_standing_fees_cannot_be_cancelled():
    with pytest.raises(StayStepRefused) as refused:
        next_status("cancel_admission", "admitted", standing_fees=2)
    assert refused.value.code == "fees_standing"
    assert next_status("cancel_admission", "admitted", standing_fees=0) == "cancelled"


def test_every_step_is_in_the_table():
    assert {step for step, _, _ in CASES} == set(STEPS)
