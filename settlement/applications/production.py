"""Steps 5–7 (issuance.md): personalisation, bank account, issuance; and entered rejections.

5. Printing and personalisation (印刷封装, 社保信息写入): the card centre's
   terminal writes EF05/EF06/DF04 from the personalisation order, reads it
   back and reports; the card is registered as ``issued``.
6. Bank account opening (银行开户, 金融信息写入): the application's own bank
   opens the account, its terminal writes the financial application and
   reports; that is the collection notice.
7. Issuance registration (发卡登记): who collected the card and when; the
   card becomes ``active``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Connection

from settlement.applications.common import (
    authorised_row,
    complete,
    event,
    reject,
    require_next,
)
from settlement.applications.registers import Registers
from settlement.applications.schemas import AccountOpenedIn, IssueIn, PersonalisedIn, RejectionIn
from settlement.applications.views import view
from settlement.cards import collect_card, register_card, replace_card
from settlement.problems import Problem
from settlement.proof import load_card, parse_card_id_code
from settlement.rules.application_flow import REASON_TEXT, Kind, Reason, Step
from settlement.rules.clock import CLOCK_SKEW
from settlement.rules.production_authority import Action
from settlement.schemas import CardActionIn, CardIn
from settlement.service import Principal
from settlement.store import applications as store
from settlement.store.db import as_utc

#: Validity of a social security card from its issue date (project choice: 10 years).
CARD_VALIDITY_YEARS = 10
#: The insured status the card centre writes at personalisation (EF06: 1 = insured).
INSURED_STATUS_INSURED = "1"
#: The sequence number of the card's first PAN (EMV tag 5F34).
FIRST_PAN_SEQUENCE = 1

# --- step 5: personalisation ---------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def personalisation_order(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """What the card centre's terminal writes onto the blank card (EF05 / EF06 / DF04)."""
    row = authorised_row(conn, principal, application_id, Action.ORDER, lock=False)
    require_next(row, Step.PERSONALISED)
    issue_date = regs.calendar.local_day(now)
    return {
        "application_id": row.application_id,
        "card_no": row.card_no,
        "region": row.region,
        "issue_date": issue_date.isoformat(),
        "expiry_date": _add_years(issue_date, CARD_VALIDITY_YEARS).isoformat(),
        "init_org": (principal.institution_code or "")[:12],
        "ssn": row.certno,
        "name": row.psn_name,
        "sex": row.gend,
        "nation": row.naty,
        "birthplace": row.birthplace,
        "birth_date": row.brdy.isoformat(),
        "insured_region": row.region,
        "insurance_type": row.insutype,
        "psn_no": row.psn_no,
        "insured_status": INSURED_STATUS_INSURED,
        "bank_code": row.bank_code,
    }


def personalised_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: PersonalisedIn,
    now: datetime,
) -> dict[str, Any]:
    """Step 5 done: the card was written and read back; it is registered as ``issued``.

    A replacement registers the new card against the lost one (the lost card
    stays blocked; the receipt exemption holds until the new card is collected).
    """
    row = authorised_row(conn, principal, application_id, Action.PERSONALISED)
    require_next(row, Step.PERSONALISED)
    if body.card_no != row.card_no:
        raise Problem(
            422,
            "validation_error",
            f"the card written carries {body.card_no}; the application registered {row.card_no}",
        )
    parse_card_id_code(body.card_id_code, row.region)
    card_id_code = body.card_id_code.upper()
    card = CardIn(
        card_no=row.card_no,
        card_id_code=card_id_code,
        algorithm=body.algorithm,
        region=row.region,
        expiry=body.expiry_date,
        issue_date=body.issue_date,
        bank_code=row.bank_code,
        psn_no=row.psn_no,
        status="issued",
    )
    if row.kind == Kind.REPLACEMENT.value:
        replace_card(conn, principal, row.replaces_card_no, card, now)
    else:
        register_card(conn, principal, card, now)
    detail = {
        "card_no": row.card_no,
        "card_id_code": card_id_code,
        "algorithm": body.algorithm,
        "read_back": body.read_back_matches,
    }
    complete(
        conn,
        principal,
        row,
        Step.PERSONALISED,
        now,
        detail=detail,
        card_id_code=card_id_code,
        algorithm=body.algorithm,
    )
    return view(conn, regs, application_id, now)


def reject_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: RejectionIn,
    now: datetime,
) -> dict[str, Any]:
    """A rejection entered by a person (audit findings, a failed card, a bank fault)."""
    step = Step(body.step)
    row = authorised_row(conn, principal, application_id, Action.REJECT, step=step)
    try:
        reason = Reason(body.reason)
    except ValueError:
        raise Problem(422, "validation_error", f"unknown reason {body.reason!r}") from None
    reject(conn, principal, row, step, reason, body.detail or REASON_TEXT[reason], now)
    return view(conn, regs, application_id, now)


# --- step 6: bank account ------------------------------------------------------------------


def open_account(
    conn: Connection, principal: Principal, regs: Registers, application_id: str, now: datetime
) -> dict[str, Any]:
    """The issuing bank opens the account the card's financial application will carry.

    Idempotent per application: a second call returns the PAN already opened.
    """
    row = authorised_row(conn, principal, application_id, Action.OPEN_ACCOUNT)
    require_next(row, Step.ACCOUNT_OPENED)
    pan = row.pan
    if pan is None:
        # Idempotent by application id: if an earlier attempt opened the account and then
        # its transaction never committed (crash, rollback), the bank returns that account.
        pan = regs.bank(row.bank_code).open_account(
            row.certno, row.psn_name, opened_at=now, reference=row.application_id
        )
        store.update(conn, application_id, now, pan=pan)
        detail = {"bank": row.bank_code}
        event(
            conn, principal, application_id, int(Step.ACCOUNT_OPENED), "account", now, detail=detail
        )
    card = load_card(conn, row.card_no)
    return {
        "application_id": application_id,
        "card_no": row.card_no,
        "bank_code": row.bank_code,
        "pan": pan,
        "pan_sequence": FIRST_PAN_SEQUENCE,
        "holder_name": row.psn_name,
        "certno": row.certno,
        "effective_date": card.issue_date.isoformat() if card.issue_date else None,
        "expiry_date": card.expiry.isoformat(),
    }


def account_opened_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: AccountOpenedIn,
    now: datetime,
) -> dict[str, Any]:
    """Step 6 done: the financial application was written and read back; collection notice."""
    row = authorised_row(conn, principal, application_id, Action.ACCOUNT_OPENED)
    require_next(row, Step.ACCOUNT_OPENED)
    if row.pan is None:
        raise Problem(
            409,
            "account_not_opened",
            "open the account first (POST .../bank-account), then write the card",
        )
    if body.pan != row.pan:
        raise Problem(
            422,
            "validation_error",
            f"the card carries PAN {body.pan}, the account opened is {row.pan}",
        )
    complete(
        conn,
        principal,
        row,
        Step.ACCOUNT_OPENED,
        now,
        detail={"bank": row.bank_code, "read_back": body.read_back_matches},
        notice_at=now,
    )
    return view(conn, regs, application_id, now)


# --- step 7: issuance ----------------------------------------------------------------------


def issue_step(
    conn: Connection,
    principal: Principal,
    regs: Registers,
    application_id: str,
    body: IssueIn,
    now: datetime,
) -> dict[str, Any]:
    """Step 7: recorded with who collected the card and when; the card becomes ``active``."""
    row = authorised_row(conn, principal, application_id, Action.ISSUE)
    require_next(row, Step.ISSUED)
    # In UTC before it is stored: SQLite keeps no offset, so +08:00 would be read back as UTC.
    collected_at = (body.collected_at or now).astimezone(UTC)
    if collected_at > now + CLOCK_SKEW:
        raise Problem(422, "validation_error", "collected_at lies in the future")
    notice_at = as_utc(row.notice_at)
    if notice_at is not None and collected_at < notice_at:
        raise Problem(
            422,
            "validation_error",
            f"collected_at lies before the collection notice ({notice_at.isoformat()}): "
            "the card cannot have been collected before it was ready",
        )
    collect_card(conn, principal, row.card_no, CardActionIn(collected_by=body.collected_by), now)
    complete(
        conn,
        principal,
        row,
        Step.ISSUED,
        now,
        detail={"collected_by": body.collected_by, "collected_at": collected_at.isoformat()},
        collected_by=body.collected_by,
        issued_at=collected_at,
    )
    return view(conn, regs, application_id, now)
