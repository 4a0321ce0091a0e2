"""Tables of card production (issuance.md): applications and their step history.

Owned by migration ``0101_card_applications``; they refer to the service's
``person``, ``card`` and ``institution`` tables by key without changing them.

* ``card_application`` — one application: who applied (batch via an employer,
  single, or a replacement after a loss), the applicant's data as entered and
  corrected, where it stands in the seven steps (``done``, ``status``), the
  last rejection, what production assigned (card number, card identification
  code, PAN), and the service target (``due_on``, ``notice_at``).
* ``card_application_event`` — append-only history: every completed step,
  rejection (with reason), correction, carry-over, loss report and
  withdrawal, with the institution and terminal that did it and when.
* ``progress_query_failure`` — wrong query passwords of the progress query,
  for rate limiting (no password is ever stored here).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _time(**kw) -> object:
    return Field(sa_type=sa.DateTime(timezone=True), **kw)


class CardApplication(SQLModel, table=True):
    """One application for a social security card (制卡申请)."""

    __tablename__ = "card_application"
    # One card number is produced by one application only.
    __table_args__ = (sa.Index("uq_card_application_card_no", "card_no", unique=True),)
    application_id: str = Field(primary_key=True, max_length=24)
    kind: str = Field(max_length=12)  # batch | single | replacement
    batch_id: str | None = Field(default=None, index=True, max_length=24)
    employer_code: str | None = Field(default=None, index=True, max_length=32)
    employer_name: str | None = Field(default=None, max_length=200)
    # applicant's data (as entered; corrections overwrite, the events keep the history)
    certno: str = Field(index=True, max_length=18)
    psn_name: str = Field(max_length=50)
    gend: str = Field(max_length=1)
    brdy: date
    naty: str = Field(default="01", max_length=2)  # ethnic group code (EF06 nation)
    birthplace: str = Field(max_length=6)
    psn_cert_type: str = Field(default="id_card", max_length=24)  # id_card | household_register
    hukou_no: str | None = Field(default=None, max_length=32)
    photo_taken: bool = False
    insutype: str = Field(default="310", max_length=3)
    region: str = Field(max_length=6)
    bank_code: str = Field(max_length=8)
    query_password_hash: str | None = Field(default=None, max_length=200)
    psn_no: str | None = Field(default=None, max_length=32)  # set at step 2
    # where it stands
    status: str = Field(default="in_progress", max_length=12)
    done: int = 0
    returned_at_step: int | None = None
    reason_code: str | None = Field(default=None, max_length=40)
    reason_detail: str | None = None
    # what production assigned
    card_no: str | None = Field(default=None, max_length=16)
    card_id_code: str | None = Field(default=None, max_length=32)
    algorithm: str | None = Field(default=None, max_length=8)
    pan: str | None = Field(default=None, max_length=19)
    replaces_card_no: str | None = Field(default=None, max_length=16)
    replacement_receipt_no: str | None = Field(default=None, max_length=32)
    collected_by: str | None = Field(default=None, max_length=100)
    # service target (30 / 5 working days to the collection notice)
    applied_at: datetime = _time()
    target_days: int
    due_on: date
    notice_at: datetime | None = _time(default=None)
    issued_at: datetime | None = _time(default=None)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class CardApplicationEvent(SQLModel, table=True):
    """One thing that happened to an application (append-only)."""

    __tablename__ = "card_application_event"
    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(
        foreign_key="card_application.application_id", index=True, max_length=24
    )
    step: int | None = None  # 1..7, or None for whole-application events
    action: str = Field(max_length=16)  # completed | rejected | returned | corrected | ...
    reason_code: str | None = Field(default=None, max_length=40)
    detail: str | None = None  # JSON
    institution_code: str | None = Field(default=None, max_length=32)
    terminal_id: str | None = Field(default=None, max_length=64)
    at: datetime = _time()


class ProgressQueryFailure(SQLModel, table=True):
    """A wrong query password at the progress query (counted for rate limiting)."""

    __tablename__ = "progress_query_failure"
    id: int | None = Field(default=None, primary_key=True)
    certno: str = Field(index=True, max_length=18)
    at: datetime = _time()


T_APPLICATION = CardApplication.__table__
T_APPLICATION_EVENT = CardApplicationEvent.__table__
T_PROGRESS_FAILURE = ProgressQueryFailure.__table__
