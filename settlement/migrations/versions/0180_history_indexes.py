"""Indexes for a long history (issue #19): the daily report and the day's ledger check read
by (institution, day) and by person, never the whole table.

- ``settlement(institution_code, setl_date)``: a hospital's settlements of a day (the daily
  report, its fee check joins their fee lines through ``uq_fee_line_sn``);
- ``reversal(institution_code, revs_date)``: a hospital's reversals of a day;
- ``settlement(psn_no, insutype, benefit_year)``: a person's settlements per benefit year
  (the ledger check of the people a day touched; a person's account payments);
- ``audit_log(institution_code, at)``: a hospital's audited refusals of a day (the report's
  ``refusals``), instead of reading the whole audit log.

Plain ``CREATE INDEX`` inside the migration's transaction: on a large PostgreSQL database it
holds writes on these tables while it builds (about a second per 100 000 settlements).

Revision ID: 0180
Revises: 0176
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0180"
down_revision = "0176"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_settlement_institution_day", "settlement", ["institution_code", "setl_date"]),
    ("ix_reversal_institution_day", "reversal", ["institution_code", "revs_date"]),
    ("ix_settlement_person_year", "settlement", ["psn_no", "insutype", "benefit_year"]),
    ("ix_audit_log_institution_at", "audit_log", ["institution_code", "at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
