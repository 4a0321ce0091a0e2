"""Card production: applications, their step history, progress-query failures (issue 8).

Revision ID: 0101
Revises: 0001
Create Date: 2026-11-23 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "card_application",
        sa.Column("application_id", sa.String(length=24), primary_key=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("batch_id", sa.String(length=24), nullable=True),
        sa.Column("employer_code", sa.String(length=32), nullable=True),
        sa.Column("employer_name", sa.String(length=200), nullable=True),
        sa.Column("certno", sa.String(length=18), nullable=False),
        sa.Column("psn_name", sa.String(length=50), nullable=False),
        sa.Column("gend", sa.String(length=1), nullable=False),
        sa.Column("brdy", sa.Date(), nullable=False),
        sa.Column("naty", sa.String(length=2), nullable=False),
        sa.Column("birthplace", sa.String(length=6), nullable=False),
        sa.Column("psn_cert_type", sa.String(length=24), nullable=False),
        sa.Column("hukou_no", sa.String(length=32), nullable=True),
        sa.Column("photo_taken", sa.Boolean(), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("bank_code", sa.String(length=8), nullable=False),
        sa.Column("query_password_hash", sa.String(length=200), nullable=True),
        sa.Column("psn_no", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("returned_at_step", sa.Integer(), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("reason_detail", sa.String(), nullable=True),
        sa.Column("card_no", sa.String(length=16), nullable=True),
        sa.Column("card_id_code", sa.String(length=32), nullable=True),
        sa.Column("algorithm", sa.String(length=8), nullable=True),
        sa.Column("pan", sa.String(length=19), nullable=True),
        sa.Column("replaces_card_no", sa.String(length=16), nullable=True),
        sa.Column("replacement_receipt_no", sa.String(length=32), nullable=True),
        sa.Column("collected_by", sa.String(length=100), nullable=True),
        sa.Column("applied_at", _tz(), nullable=False),
        sa.Column("target_days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("notice_at", _tz(), nullable=True),
        sa.Column("issued_at", _tz(), nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
    )
    with op.batch_alter_table("card_application", schema=None) as batch_op:
        batch_op.create_index("ix_card_application_batch_id", ["batch_id"], unique=False)
        batch_op.create_index("ix_card_application_employer_code", ["employer_code"], unique=False)
        batch_op.create_index("ix_card_application_certno", ["certno"], unique=False)
        # One card number is produced by one application only.
        batch_op.create_index("uq_card_application_card_no", ["card_no"], unique=True)
    op.create_table(
        "card_application_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "application_id",
            sa.String(length=24),
            sa.ForeignKey("card_application.application_id"),
            nullable=False,
        ),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("institution_code", sa.String(length=32), nullable=True),
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("at", _tz(), nullable=False),
    )
    with op.batch_alter_table("card_application_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_card_application_event_application_id", ["application_id"], unique=False
        )
    op.create_table(
        "progress_query_failure",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("certno", sa.String(length=18), nullable=False),
        sa.Column("at", _tz(), nullable=False),
    )
    with op.batch_alter_table("progress_query_failure", schema=None) as batch_op:
        batch_op.create_index("ix_progress_query_failure_certno", ["certno"], unique=False)


def downgrade() -> None:
    op.drop_table("progress_query_failure")
    op.drop_table("card_application_event")
    op.drop_table("card_application")
