"""Resident enrolment and contribution payment (issue 20): ``enrolment_record`` (one per
person: category, entry day, coverage start, correction), ``payment_order`` (a payment
channel's order for one person-year; unique per channel and the channel's own order id) and
``contribution_payment`` (one row per paid person-year: never paid twice).

Revision ID: 0170
Revises: 0165
Create Date: 2026-11-28 17:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0170"
down_revision = "0165"
branch_labels = None
depends_on = None


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "enrolment_record",
        sa.Column("psn_no", sa.String(length=32), sa.ForeignKey("person.psn_no"), primary_key=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("coverage_start", sa.Date(), nullable=False),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "payment_order",
        sa.Column("order_no", sa.String(length=40), primary_key=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("channel_order_id", sa.String(length=64), nullable=False),
        sa.Column("psn_no", sa.String(length=32), sa.ForeignKey("person.psn_no"), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        _money("medical_fen"),
        _money("pension_fen"),
        _money("amount_fen"),
        sa.Column("rates_version", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_on", sa.Date(), nullable=True),
        sa.Column("channel_txn_id", sa.String(length=64), nullable=True),
        sa.UniqueConstraint("channel", "channel_order_id"),
    )
    op.create_index("ix_payment_order_psn_no", "payment_order", ["psn_no"])
    op.create_index(
        "ix_payment_order_channel_confirmed_on", "payment_order", ["channel", "confirmed_on"]
    )
    op.create_table(
        "contribution_payment",
        sa.Column("psn_no", sa.String(length=32), sa.ForeignKey("person.psn_no"), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("order_no", sa.String(length=40), nullable=True, unique=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        _money("amount_fen"),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("coverage_id", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("contribution_payment")
    op.drop_index("ix_payment_order_channel_confirmed_on", "payment_order")
    op.drop_index("ix_payment_order_psn_no", "payment_order")
    op.drop_table("payment_order")
    op.drop_table("enrolment_record")
