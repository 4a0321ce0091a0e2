"""The hospital's admission number (住院号, ``mdtrtinfo.ipt_no`` of 2401; nhsa.md
§Transactions: "``ipt_no`` is unique per institution") kept with the stay: a nullable
``admission.ipt_no`` and a unique index on (institution, ipt_no) over the stays that carry
one and are not cancelled (a stay cancelled by 2404 or undone by 2601 frees its number for
the registration that replaces it).

Revision ID: 0176
Revises: 0175
Create Date: 2026-11-28 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0176"
down_revision = "0175"
branch_labels = None
depends_on = None

_WHERE = sa.text("ipt_no IS NOT NULL AND status <> 'cancelled'")


def upgrade() -> None:
    with op.batch_alter_table("admission") as batch:
        batch.add_column(sa.Column("ipt_no", sa.String(length=40), nullable=True))
    op.create_index(
        "uq_admission_institution_ipt_no",
        "admission",
        ["institution_code", "ipt_no"],
        unique=True,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_admission_institution_ipt_no", "admission")
    with op.batch_alter_table("admission") as batch:
        batch.drop_column("ipt_no")
