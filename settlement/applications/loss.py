"""Loss and replacement (挂失补卡, issuance.md §Loss).

The holder reports the loss at the issuing bank (or the card centre): the old
card is blocked at once (``lost``, refused for settlement from this moment),
the bank freezes its account, a replacement receipt is issued, and a
replacement application starts at step 4 with steps 1–3 carried over from the
lost card's holder record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from settlement.applications.common import (
    AccountChange,
    change_account_status,
    event,
    new_id,
    require,
    state_of,
)
from settlement.applications.registers import Registers
from settlement.applications.schemas import LossIn
from settlement.applications.views import view
from settlement.cards import report_loss
from settlement.problems import Problem
from settlement.proof import load_card
from settlement.rules.application_flow import Kind, Status, Step
from settlement.rules.production_authority import Action, bank_branch_may_act
from settlement.rules.working_days import target_working_days
from settlement.schemas import CardActionIn
from settlement.service import Principal
from settlement.store import applications as store

#: The steps a replacement takes over from the lost card (its holder record was checked then).
CARRIED_OVER = (Step.ACCEPTED, Step.AUDITED, Step.COMPARED)


@dataclass(frozen=True)
class ReadyMadeCardDefaults:
    """What a replacement takes when the lost card was not produced through an application
    here (a card registered ready-made, e.g. by the hospital simulation): the person record
    holds no nation, identity document, scheme or bank, so these stand in."""

    naty: str = "01"  # GB 3304 ethnic group code: Han (the card's EF06 default)
    psn_cert_type: str = "id_card"
    insutype: str = "310"  # employee basic medical insurance
    bank_code: str = "102"  # the first partner bank (card.keystore.DEFAULT_BANKS)


READY_MADE_CARD = ReadyMadeCardDefaults()


def _require_issuing_bank(principal: Principal, card_no: str, card_bank: str | None) -> None:
    """A bank branch takes loss reports for its own bank's cards only (a card without a bank
    may be reported anywhere the table allows)."""
    if card_bank and not bank_branch_may_act(principal.role, principal.bank_code, card_bank):
        raise Problem(
            403,
            "not_entitled",
            f"card {card_no} was issued by bank {card_bank}: report the loss there "
            "or at the card centre",
            audit=(Action.REPORT_LOSS.value, card_no),
        )


def _retire_source(
    conn: Connection, principal: Principal, source: Row, card_no: str, replacement_id: str, now
) -> None:
    """Lost before it was collected: the application that made the card can no longer finish
    (its card is blocked); the replacement takes over, so it does not stand in the way of the
    replacement's pre-check or wait forever at step 7."""
    store.save_state(
        conn, source.application_id, replace(state_of(source), status=Status.WITHDRAWN), now
    )
    detail = {"card_lost": card_no, "replaced_by_application": replacement_id}
    event(conn, principal, source.application_id, None, "withdrawn", now, detail=detail)


def _insert_replacement(
    conn: Connection,
    regs: Registers,
    application_id: str,
    card: Row,
    receipt_no: str,
    source: Row | None,
    now: datetime,
) -> None:
    """The replacement application: the holder's data from the lost card's application (or,
    for a ready-made card, the person record and :data:`READY_MADE_CARD`), done up to step 3."""
    person = store.person(conn, card.psn_no)
    target = target_working_days(False)
    store.insert(
        conn,
        application_id=application_id,
        kind=Kind.REPLACEMENT.value,
        certno=person.certno,
        psn_name=person.psn_name,
        gend=person.gend,
        brdy=person.brdy,
        naty=source.naty if source is not None else READY_MADE_CARD.naty,
        birthplace=source.birthplace if source is not None else card.region,
        psn_cert_type=source.psn_cert_type if source is not None else READY_MADE_CARD.psn_cert_type,
        hukou_no=source.hukou_no if source is not None else person.household_register_no,
        photo_taken=True,
        insutype=source.insutype if source is not None else READY_MADE_CARD.insutype,
        region=card.region,
        bank_code=card.bank_code
        or (source.bank_code if source is not None else READY_MADE_CARD.bank_code),
        psn_no=person.psn_no,
        status=Status.IN_PROGRESS.value,
        done=int(Step.COMPARED),
        replaces_card_no=card.card_no,
        replacement_receipt_no=receipt_no,
        applied_at=now,
        target_days=target,
        due_on=regs.calendar.add_working_days(regs.calendar.local_day(now), target),
        created_at=now,
        updated_at=now,
    )


def _loss_outcome(freeze: AccountChange | None) -> dict[str, Any]:
    """Whether the bank froze the card's account, and why not when it could not."""
    outcome: dict[str, Any] = {"account_frozen": freeze is not None and freeze.done}
    if freeze is not None and not freeze.done:
        outcome["bank_error"] = freeze.bank_error  # the card block stands; the bank is told
    return outcome


def report_card_loss(
    conn: Connection, principal: Principal, regs: Registers, body: LossIn, now: datetime
) -> dict[str, Any]:
    """Loss reported at the issuing bank: block at once, receipt, replacement application.

    The answer says whether the bank froze the account (``account_frozen``);
    when the bank's system failed, ``bank_error`` says why (the card is
    blocked all the same).
    """
    require(principal, Action.REPORT_LOSS, body.card_no)
    card = load_card(conn, body.card_no)
    _require_issuing_bank(principal, body.card_no, card.bank_code)
    loss = report_loss(conn, principal, body.card_no, CardActionIn(reason=body.reason), now)
    source = store.latest_for_card(conn, body.card_no)
    freeze = None
    if source is not None and source.pan:
        freeze = change_account_status(regs, source.bank_code, source.certno, source.pan, "frozen")
    outcome = _loss_outcome(freeze)
    application_id = new_id("AP", regs.calendar.local_day(now))
    if source is not None and source.status == Status.IN_PROGRESS.value:
        _retire_source(conn, principal, source, body.card_no, application_id, now)
    receipt = loss["replacement_receipt_no"]
    _insert_replacement(conn, regs, application_id, card, receipt, source, now)
    detail = {"card_no": body.card_no, "receipt": receipt, **outcome}
    event(conn, principal, application_id, None, "loss_reported", now, detail=detail)
    for step in CARRIED_OVER:
        detail = {"from_card": body.card_no}
        event(conn, principal, application_id, int(step), "carried_over", now, detail=detail)
    return {**loss, **outcome, "replacement_application": view(conn, regs, application_id, now)}
