"""Networked card authentication (issue 13, docs/api.md §Card authentication).

One row per authentication of a card at an institution and terminal: proven by
the card's key 01, optionally upgraded to PIN-verified by its key 02, valid
until ``expires_at``. The challenge's ``purpose`` grows to 24 characters for
the purposes ``card_authentication`` and ``pin_verification``.

Revision ID: 0113
Revises: 0101
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0113"
down_revision = "0101"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "card_authentication",
        sa.Column("token", sa.String(length=40), primary_key=True),
        sa.Column("card_no", sa.String(length=16), nullable=False),
        sa.Column("card_id_code", sa.String(length=32), nullable=False),
        sa.Column("psn_no", sa.String(length=32), nullable=False),
        sa.Column("institution_code", sa.String(length=32), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("challenge_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("expires_at", _tz(), nullable=False),
        sa.Column("pin_challenge_id", sa.String(length=40), nullable=True),
        sa.Column("pin_verified_at", _tz(), nullable=True),
    )
    op.create_index(
        "ix_card_authentication_card_institution",
        "card_authentication",
        ["card_no", "institution_code"],
    )
    with op.batch_alter_table("challenge") as batch:
        batch.alter_column(
            "purpose", existing_type=sa.String(length=12), type_=sa.String(length=24)
        )


def downgrade() -> None:
    with op.batch_alter_table("challenge") as batch:
        batch.alter_column(
            "purpose", existing_type=sa.String(length=24), type_=sa.String(length=12)
        )
    op.drop_index("ix_card_authentication_card_institution", "card_authentication")
    op.drop_table("card_authentication")
