"""The insurance catalogue decides each fee line (issue 14, settlement.md "The catalogue
decides, line by line").

``catalogue_version`` (one row per load) and ``catalogue_entry`` (entries by
``med_list_codg``, standing until a later load supersedes them); on ``fee_line`` the exact
quantity (``cnt_e4``) and unit price (``pric_e6``, micro-yuan), the catalogue terms it was
classed under and its per-line parts; ``settlement.overlmt_selfpay``. Existing fee lines are
back-filled as the catalogue would have split them with the policy's default 乙 share (10 %),
rounded per line.

Revision ID: 0160
Revises: 0151
Create Date: 2026-11-28 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0160"
down_revision = "0151"
branch_labels = None
depends_on = None

_LEVELS = {"A": "01", "B": "02", "C": "03"}
_B_SHARE_BP = 1_000


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "catalogue_version",
        sa.Column("version_id", sa.String(length=40), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False, unique=True),
        sa.Column("source", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("entry_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "catalogue_entry",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "version_id",
            sa.String(length=40),
            sa.ForeignKey("catalogue_version.version_id"),
            nullable=False,
        ),
        sa.Column("med_list_codg", sa.String(length=50), nullable=False),
        sa.Column("med_list_name", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("chrgitm_lv", sa.String(length=2), nullable=False),
        sa.Column("med_chrgitm_type", sa.String(length=6), nullable=False, server_default=""),
        sa.Column("selfpay_prop_bp", sa.Integer(), nullable=False),
        sa.Column("pric_uplmt_e6", sa.BigInteger(), nullable=True),
        sa.Column("begndate", sa.Date(), nullable=True),
        sa.Column("enddate", sa.Date(), nullable=True),
        sa.Column("superseded_by", sa.String(length=40), nullable=True),
    )
    op.create_index("ix_catalogue_entry_med_list_codg", "catalogue_entry", ["med_list_codg"])
    op.create_index("ix_catalogue_entry_superseded_by", "catalogue_entry", ["superseded_by"])
    op.add_column("fee_line", sa.Column("cnt_e4", sa.BigInteger(), nullable=True))
    op.add_column("fee_line", sa.Column("pric_e6", sa.BigInteger(), nullable=True))
    op.add_column("fee_line", sa.Column("chrgitm_lv", sa.String(length=2), nullable=True))
    op.add_column(
        "fee_line",
        sa.Column("med_chrgitm_type", sa.String(length=6), nullable=False, server_default=""),
    )
    op.add_column(
        "fee_line", sa.Column("selfpay_prop_bp", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("fee_line", sa.Column("pric_uplmt_e6", sa.BigInteger(), nullable=True))
    for name in ("overlmt_amt", "fulamt_ownpay_amt", "preselfpay_amt", "inscp_scp_amt"):
        op.add_column("fee_line", _money(name))
    op.add_column("fee_line", sa.Column("catalogue_version", sa.String(length=40), nullable=True))
    op.add_column("settlement", _money("overlmt_selfpay"))
    _backfill()


def _backfill() -> None:
    """Existing lines: whole units and fen prices; A in scope, B 10 % per line, C self-paid."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, list_type, cnt, pric, det_item_fee_sumamt FROM fee_line")
    )
    update = sa.text(
        "UPDATE fee_line SET cnt_e4 = :cnt_e4, pric_e6 = :pric_e6, chrgitm_lv = :lv,"
        " selfpay_prop_bp = :bp, fulamt_ownpay_amt = :ful, preselfpay_amt = :pre,"
        " inscp_scp_amt = :inscp WHERE id = :id"
    )
    for row_id, list_type, cnt, pric, det in rows.fetchall():
        det = int(det)
        lv = _LEVELS.get(list_type, "01")
        ful = det if lv == "03" else 0
        bp = {"01": 0, "02": _B_SHARE_BP, "03": 10_000}[lv]
        pre = 0
        if lv == "02":
            magnitude = (2 * abs(det) * bp + 10_000) // 20_000
            pre = -magnitude if det < 0 else magnitude
        conn.execute(
            update,
            {
                "id": row_id,
                "cnt_e4": int(cnt) * 10_000,
                "pric_e6": int(pric) * 10_000,
                "lv": lv,
                "bp": bp,
                "ful": ful,
                "pre": pre,
                "inscp": det - ful - pre,
            },
        )


def downgrade() -> None:
    op.drop_column("settlement", "overlmt_selfpay")
    for name in (
        "catalogue_version",
        "inscp_scp_amt",
        "preselfpay_amt",
        "fulamt_ownpay_amt",
        "overlmt_amt",
        "pric_uplmt_e6",
        "selfpay_prop_bp",
        "med_chrgitm_type",
        "chrgitm_lv",
        "pric_e6",
        "cnt_e4",
    ):
        op.drop_column("fee_line", name)
    op.drop_index("ix_catalogue_entry_superseded_by", "catalogue_entry")
    op.drop_index("ix_catalogue_entry_med_list_codg", "catalogue_entry")
    op.drop_table("catalogue_entry")
    op.drop_table("catalogue_version")
