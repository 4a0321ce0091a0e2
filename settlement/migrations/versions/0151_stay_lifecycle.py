"""The stay lifecycle of the national platform (issue 15, nhsa.md §Stay lifecycle): an
admission may be ``discharged`` (2402) before its settlement and ``cancelled`` (2404); fee
lines cancelled by 2302 move to ``fee_line_cancelled`` (kept as JSON, with when and by whom),
so their ``feedetl_sn`` may be uploaded again.

Revision ID: 0151
Revises: 0150
Create Date: 2026-11-28 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0151"
down_revision = "0150"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_line_cancelled",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("mdtrt_id", sa.String(length=40), nullable=False),
        sa.Column("feedetl_sn", sa.String(length=40), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_fee_line_cancelled_mdtrt_id", "fee_line_cancelled", ["mdtrt_id"])


def downgrade() -> None:
    op.drop_index("ix_fee_line_cancelled_mdtrt_id", "fee_line_cancelled")
    op.drop_table("fee_line_cancelled")
