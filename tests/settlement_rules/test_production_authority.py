"""Who may do each card production step: the authority table, row by row."""

import pytest

from settlement import authority
from settlement.rules.application_flow import Step
from settlement.rules.production_authority import (
    ADMIN,
    AUTHORITY,
    BANK_BRANCH,
    CARD_CENTRE,
    Action,
    bank_branch_may_act,
    may,
    roles_for,
)

HOSPITAL = "hospital"
PHARMACY = "pharmacy"

# action: (card centre, bank branch, admin); hospitals and pharmacies may do none of them.
TABLE = {
    Action.READ: (True, True, True),
    Action.LIST: (True, True, True),
    Action.ACCEPT: (True, False, True),
    Action.ACCEPT_BATCH: (True, False, True),
    Action.AUDIT: (True, False, True),
    Action.COMPARE: (True, True, True),
    Action.PRECHECK: (True, False, True),
    Action.ORDER: (True, False, False),
    Action.PERSONALISED: (True, False, False),
    Action.OPEN_ACCOUNT: (False, True, False),
    Action.ACCOUNT_OPENED: (False, True, False),
    Action.ISSUE: (True, True, False),
    Action.REJECT: (True, False, True),
    Action.CORRECT: (True, False, True),
    Action.WITHDRAW: (True, False, True),
    Action.REPORT_LOSS: (True, True, False),
}


def test_the_table_covers_every_action():
    assert set(TABLE) == set(Action) == set(AUTHORITY)


@pytest.mark.parametrize("action", list(Action))
def test_who_may_do_what(action):
    centre, bank, admin = TABLE[action]
    assert may(CARD_CENTRE, action) is centre
    assert may(BANK_BRANCH, action) is bank
    assert may(ADMIN, action) is admin
    assert not may(HOSPITAL, action) and not may(PHARMACY, action)


@pytest.mark.parametrize(
    ("step", "bank_may_reject"),
    [
        (Step.ACCEPTED, False),
        (Step.AUDITED, False),
        (Step.COMPARED, True),  # the bank's own comparison
        (Step.REGISTERED, False),
        (Step.PERSONALISED, False),
        (Step.ACCOUNT_OPENED, True),  # the bank's own write of the financial application
        (Step.ISSUED, False),
    ],
)
def test_a_bank_rejects_only_at_its_own_steps(step, bank_may_reject):
    assert may(BANK_BRANCH, Action.REJECT, step) is bank_may_reject
    assert may(CARD_CENTRE, Action.REJECT, step) and may(ADMIN, Action.REJECT, step)


def test_refusal_messages_name_the_roles_in_table_order():
    assert roles_for(Action.COMPARE) == (BANK_BRANCH, CARD_CENTRE, ADMIN)
    assert roles_for(Action.ISSUE) == (CARD_CENTRE, BANK_BRANCH)


@pytest.mark.parametrize(
    ("role", "own", "subject", "allowed"),
    [
        (BANK_BRANCH, "102", "102", True),
        (BANK_BRANCH, "102", "103", False),
        (BANK_BRANCH, None, "103", False),
        (CARD_CENTRE, None, "103", True),
        (ADMIN, None, "102", True),
    ],
)
def test_a_bank_branch_acts_for_its_own_bank_only(role, own, subject, allowed):
    assert bank_branch_may_act(role, own, subject) is allowed


def test_roles_are_the_services_institution_kinds():
    """The rule's role names are the ones the service authenticates (settlement.authority)."""
    assert (CARD_CENTRE, BANK_BRANCH, ADMIN) == (
        authority.CARD_CENTRE,
        authority.BANK_BRANCH,
        authority.ADMIN,
    )
