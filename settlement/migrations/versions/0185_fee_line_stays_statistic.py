"""PostgreSQL's planner told how many fee lines a stay has (issue #19: the daily report on a
long history, settlement.md §Never lose, never double — totals reconcile per day).

A stay's fee lines are written together (one upload), so they sit in the same table pages,
and ``ANALYZE``'s sample of pages sees each sampled stay's lines many times over: on 500 000
stays (10 M lines, 20 per stay) it estimated 60 000 distinct ``fee_line.mdtrt_id``, 166 lines
per stay. The report's joins of the day's settlements to their fee lines were costed eight
times too high, so PostgreSQL chose a parallel scan of the whole settlement table and JIT
compilation (≈ 110 ms per query): the all-hospital report took 1.1–1.3 s instead of 0.15 s.
Declared instead: one distinct stay per 20 lines (``n_distinct = -0.05``), the scale of the
catalogue-classed uploads; the estimate only has to be of the right order. Then ``ANALYZE
fee_line`` so that it applies at once (a sample: about a second on 10 M lines).

SQLite: nothing (its planner takes the fee-line index for these joins as it is).

Revision ID: 0185
Revises: 0180
Create Date: 2026-11-28 22:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0185"
down_revision = "0180"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE fee_line ALTER COLUMN mdtrt_id SET (n_distinct = -0.05)")
    op.execute("ANALYZE fee_line")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE fee_line ALTER COLUMN mdtrt_id RESET (n_distinct)")
