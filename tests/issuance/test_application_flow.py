"""The seven-step state machine: order, rejections, corrections, replacement (issuance.md)."""

import pytest

from settlement.rules.application_flow import (
    FlowError,
    Kind,
    Reason,
    Status,
    Step,
    complete,
    correct,
    reject,
    resume_step,
    start,
    withdraw,
)


def run(state, *steps):
    for step in steps:
        state = complete(state, step)
    return state


def test_whole_path_in_order():
    state = start(Kind.SINGLE)
    assert state.next_step is Step.ACCEPTED
    state = run(state, *Step)
    assert state.status is Status.ISSUED
    assert state.next_step is None
    assert state.collection_notice_sent


def test_steps_cannot_be_skipped_or_repeated():
    state = complete(start(Kind.BATCH), Step.ACCEPTED)
    with pytest.raises(FlowError) as err:
        complete(state, Step.COMPARED)
    assert err.value.code == "step_out_of_order"
    with pytest.raises(FlowError):
        complete(state, Step.ACCEPTED)
    issued = run(state, *list(Step)[1:])
    with pytest.raises(FlowError) as err:
        complete(issued, Step.ISSUED)
    assert err.value.code == "already_issued"


@pytest.mark.parametrize(
    ("step", "reason", "resume"),
    [
        (Step.AUDITED, Reason.MISSING_PHOTO, Step.AUDITED),
        (Step.AUDITED, Reason.MISSING_IDENTITY_DOCUMENT, Step.AUDITED),
        (Step.COMPARED, Reason.POLICE_REGISTER_MISMATCH, Step.AUDITED),
        (Step.COMPARED, Reason.BANK_RECORD_MISMATCH, Step.AUDITED),
        (Step.COMPARED, Reason.NOT_IN_POLICE_REGISTER, Step.AUDITED),
        (Step.REGISTERED, Reason.ACTIVE_CARD_EXISTS, Step.REGISTERED),
    ],
)
def test_return_waits_for_correction_then_resumes(step, reason, resume):
    state = run(start(Kind.SINGLE), *[s for s in Step if s < step])
    returned = reject(state, step, reason)
    assert returned.status is Status.RETURNED
    assert returned.returned_at is step and returned.reason is reason
    assert returned.next_step is None
    with pytest.raises(FlowError) as err:
        complete(returned, step)
    assert err.value.code == "awaiting_correction"
    assert resume_step(returned) is resume
    resumed = correct(returned)
    assert resumed.status is Status.IN_PROGRESS
    assert resumed.next_step is resume
    assert run(resumed, *[s for s in Step if s >= resume]).status is Status.ISSUED


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (Step.PERSONALISED, Reason.PERSONALISATION_FAILED),
        (Step.ACCOUNT_OPENED, Reason.BANK_WRITE_FAILED),
    ],
)
def test_production_faults_stay_in_house(step, reason):
    state = run(start(Kind.BATCH), *[s for s in Step if s < step])
    failed = reject(state, step, reason)
    assert failed.status is Status.IN_PROGRESS
    assert failed.next_step is step
    assert failed.reason is reason
    with pytest.raises(FlowError, match="corrected"):
        correct(failed)
    assert complete(failed, step).reason is None


def test_reason_must_belong_to_step():
    state = run(start(Kind.SINGLE), Step.ACCEPTED)
    with pytest.raises(FlowError) as err:
        reject(state, Step.AUDITED, Reason.ACTIVE_CARD_EXISTS)
    assert err.value.code == "reason_not_for_step"
    with pytest.raises(FlowError) as err:
        reject(state, Step.COMPARED, Reason.BANK_RECORD_MISMATCH)
    assert err.value.code == "step_out_of_order"


def test_replacement_runs_steps_four_to_seven():
    state = start(Kind.REPLACEMENT)
    assert state.done == 3
    assert state.next_step is Step.REGISTERED
    with pytest.raises(FlowError):
        complete(state, Step.ACCEPTED)
    returned = reject(state, Step.REGISTERED, Reason.ACTIVE_CARD_EXISTS)
    assert correct(returned).next_step is Step.REGISTERED
    assert (
        run(state, Step.REGISTERED, Step.PERSONALISED, Step.ACCOUNT_OPENED, Step.ISSUED).status
        is Status.ISSUED
    )


def test_withdraw():
    state = withdraw(run(start(Kind.SINGLE), Step.ACCEPTED))
    assert state.status is Status.WITHDRAWN
    with pytest.raises(FlowError) as err:
        complete(state, Step.AUDITED)
    assert err.value.code == "withdrawn"
    with pytest.raises(FlowError):
        withdraw(run(start(Kind.SINGLE), *Step))
