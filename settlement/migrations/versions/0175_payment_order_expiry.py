"""Payment orders expire (issue 20): ``payment_order.expires_at`` (the moment a pending order
can no longer be confirmed, set when it is created: ``SSCARD_PAYMENT_ORDER_TTL``) and
``created_on`` (the business day it was created, for the channel's daily reconciliation).
Orders created before this revision have neither: they expire ``SSCARD_PAYMENT_ORDER_TTL``
after ``created_at`` (settlement.rules.contributions.order_status).

Revision ID: 0175
Revises: 0170
Create Date: 2026-11-28 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0175"
down_revision = "0170"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payment_order", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("payment_order", sa.Column("created_on", sa.Date()))
    op.create_index(
        "ix_payment_order_channel_created_on", "payment_order", ["channel", "created_on"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_order_channel_created_on", "payment_order")
    with op.batch_alter_table("payment_order") as batch:
        batch.drop_column("created_on")
        batch.drop_column("expires_at")
