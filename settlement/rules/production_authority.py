"""Who may do each card production step: one authority table (issuance.md; project choice
where the spec is silent).

====  ===============================  =========================================
step  what                             who
====  ===============================  =========================================
1     application accepted             card centre (single, or an employer's batch)
2     data entry and audit             card centre
3     comparison                       the partner bank (or the card centre)
4     pre-check and registration       card centre
5     printing and personalisation     card centre (its terminal writes the card)
6     bank account opening             the application's own partner bank
7     issuance registration            card centre or a bank branch
====  ===============================  =========================================

An administrator key may do the desk work of steps 1–4 and corrections, but
never writes a card nor opens an account. A loss is reported at the issuing
bank or the card centre (issuance.md §Loss). A bank branch acts only on the
applications and cards of its own bank (:func:`bank_branch_may_act`).

Roles are the institution kinds of ``settlement.rules.roles`` (plus ``admin``);
the values in :data:`AUTHORITY` are in the order the refusal message names
them. Pure: no web, no database.
"""

from __future__ import annotations

from enum import Enum

from settlement.rules.application_flow import Step
from settlement.rules.roles import ADMIN, BANK_BRANCH, CARD_CENTRE


class Action(str, Enum):
    """What one may do with a card application; the value is the audit action's name."""

    READ = "application.read"
    LIST = "application.list"
    ACCEPT = "application.accept"
    ACCEPT_BATCH = "application.accept_batch"
    AUDIT = "application.audit"
    COMPARE = "application.compare"
    PRECHECK = "application.precheck"
    ORDER = "application.order"  # read the personalisation order (step 5)
    PERSONALISED = "application.personalised"
    OPEN_ACCOUNT = "application.open_account"
    ACCOUNT_OPENED = "application.account_opened"
    ISSUE = "application.issue"
    REJECT = "application.reject"  # a rejection entered by a person (see REJECTERS)
    CORRECT = "application.correct"
    WITHDRAW = "application.withdraw"
    REPORT_LOSS = "card.loss"


#: Who may do what (the rejection's roles depend on the step: :data:`REJECTERS`).
AUTHORITY: dict[Action, tuple[str, ...]] = {
    Action.READ: (CARD_CENTRE, BANK_BRANCH, ADMIN),
    Action.LIST: (CARD_CENTRE, BANK_BRANCH, ADMIN),
    Action.ACCEPT: (CARD_CENTRE, ADMIN),
    Action.ACCEPT_BATCH: (CARD_CENTRE, ADMIN),
    Action.AUDIT: (CARD_CENTRE, ADMIN),
    Action.COMPARE: (BANK_BRANCH, CARD_CENTRE, ADMIN),
    Action.PRECHECK: (CARD_CENTRE, ADMIN),
    Action.ORDER: (CARD_CENTRE,),
    Action.PERSONALISED: (CARD_CENTRE,),
    Action.OPEN_ACCOUNT: (BANK_BRANCH,),
    Action.ACCOUNT_OPENED: (BANK_BRANCH,),
    Action.ISSUE: (CARD_CENTRE, BANK_BRANCH),
    Action.REJECT: (CARD_CENTRE, ADMIN),
    Action.CORRECT: (CARD_CENTRE, ADMIN),
    Action.WITHDRAW: (CARD_CENTRE, ADMIN),
    Action.REPORT_LOSS: (BANK_BRANCH, CARD_CENTRE),
}

#: A rejection at the bank's own steps (comparison, account opening) may come from the bank.
REJECTERS: dict[Step, tuple[str, ...]] = {
    Step.COMPARED: (BANK_BRANCH, CARD_CENTRE, ADMIN),
    Step.ACCOUNT_OPENED: (BANK_BRANCH, CARD_CENTRE, ADMIN),
}


def roles_for(action: Action, step: Step | None = None) -> tuple[str, ...]:
    """The roles that may do ``action`` (for :attr:`Action.REJECT`, at ``step``)."""
    if action is Action.REJECT and step is not None:
        return REJECTERS.get(step, AUTHORITY[Action.REJECT])
    return AUTHORITY[action]


def may(role: str, action: Action, step: Step | None = None) -> bool:
    """Whether an institution of kind ``role`` may do ``action`` (at ``step``)."""
    return role in roles_for(action, step)


def bank_branch_may_act(role: str, own_bank: str | None, subject_bank: str | None) -> bool:
    """A bank branch acts only on its own bank's applications; other roles are not bound."""
    return role != BANK_BRANCH or own_bank == subject_bank
