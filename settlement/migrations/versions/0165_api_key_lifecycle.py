"""API keys can be revoked, rotated and expire (issue 16, docs/api.md §API keys): when a key
was revoked, when it expires, and the previous secret a rotation keeps valid for a grace
period.

Revision ID: 0165
Revises: 0160
Create Date: 2026-11-28 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0165"
down_revision = "0160"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("previous_secret_hash", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("previous_valid_until")
        batch.drop_column("previous_secret_hash")
        batch.drop_column("expires_at")
        batch.drop_column("revoked_at")
