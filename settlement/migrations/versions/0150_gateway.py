"""The national-platform gateway (issue 15, docs/gateway.md): credentials, nonces, sign-ins and
the message log.

``gateway_credential`` binds a TIF paasid, CSB access key or apikey to one institution (TIF/CSB
secrets encrypted under a key derived from the key store, an apikey as its SHA-256);
``gateway_nonce`` holds the nonces already accepted (replays are refused);
``gateway_sign_in`` the 9001 sign-ins per operator; ``gateway_message`` every message by msgid
with its answer.

Revision ID: 0150
Revises: 0113
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0150"
down_revision = "0113"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_credential",
        sa.Column("kind", sa.String(length=8), primary_key=True),
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("institution_code", sa.String(length=32), nullable=False),
        sa.Column("secret_enc", sa.String(length=400), nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_index(
        "ix_gateway_credential_institution_code", "gateway_credential", ["institution_code"]
    )
    op.create_table(
        "gateway_nonce",
        sa.Column("credential", sa.String(length=80), primary_key=True),
        sa.Column("nonce", sa.String(length=64), primary_key=True),
        sa.Column("seen_at", _tz(), nullable=False),
    )
    op.create_index("ix_gateway_nonce_seen_at", "gateway_nonce", ["seen_at"])
    op.create_table(
        "gateway_sign_in",
        sa.Column("sign_no", sa.String(length=40), primary_key=True),
        sa.Column("institution_code", sa.String(length=32), nullable=False),
        sa.Column("opter", sa.String(length=32), nullable=False),
        sa.Column("opter_name", sa.String(length=50), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("signed_in_at", _tz(), nullable=False),
        sa.Column("signed_out_at", _tz(), nullable=True),
    )
    op.create_index("ix_gateway_sign_in_institution_code", "gateway_sign_in", ["institution_code"])
    op.create_table(
        "gateway_message",
        sa.Column("institution_code", sa.String(length=32), primary_key=True),
        sa.Column("msgid", sa.String(length=40), primary_key=True),
        sa.Column("infno", sa.String(length=8), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("opter", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("received_at", _tz(), nullable=False),
        sa.Column("undone_by", sa.String(length=40), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("gateway_message")
    op.drop_index("ix_gateway_sign_in_institution_code", "gateway_sign_in")
    op.drop_table("gateway_sign_in")
    op.drop_index("ix_gateway_nonce_seen_at", "gateway_nonce")
    op.drop_table("gateway_nonce")
    op.drop_index("ix_gateway_credential_institution_code", "gateway_credential")
    op.drop_table("gateway_credential")
