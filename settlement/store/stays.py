"""The stay lifecycle's writes (nhsa.md §Stay lifecycle): discharge and its cancellation,
admission cancellation and change, fee-line cancellation (2302).

The admission rows themselves are :mod:`settlement.store.admissions`' aggregate; this module
holds the SQL of the lifecycle steps the national platform adds. A cancelled fee line leaves
``fee_line`` for ``fee_line_cancelled`` (the row kept as JSON), so the bill no longer counts
it and its ``feedetl_sn`` may be uploaded again.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.store import sql
from settlement.store.db import as_utc
from settlement.store.tables import T_ADMISSION, T_FEE_LINE, T_FEE_LINE_CANCELLED

_SET_STATUS = sql.Sql("UPDATE admission SET status = ? WHERE mdtrt_id = ?")
_SET_STATUS_ENDTIME = sql.Sql("UPDATE admission SET status = ?, endtime = ? WHERE mdtrt_id = ?")


def set_status(
    conn: Connection, mdtrt_id: str, status: str, *, endtime: datetime | None | bool = False
) -> None:
    """The stay's status; ``endtime`` too unless ``False`` (``None`` clears it)."""
    if endtime is False:
        sql.execute(conn, _SET_STATUS, (status, mdtrt_id))
    else:
        sql.execute(conn, _SET_STATUS_ENDTIME, (status, endtime, mdtrt_id))


def change(conn: Connection, mdtrt_id: str, **values) -> None:
    """Admission data (2403): ``begntime``, ``adm_date``, ``dept_name``, ``dise_name``."""
    if values:
        conn.execute(
            T_ADMISSION.update().where(T_ADMISSION.c.mdtrt_id == mdtrt_id).values(**values)
        )


def endtime_of(conn: Connection, mdtrt_id: str) -> datetime | None:
    value = conn.execute(
        sa.select(T_ADMISSION.c.endtime).where(T_ADMISSION.c.mdtrt_id == mdtrt_id)
    ).scalar()
    return as_utc(value)


def fee_rows(conn: Connection, mdtrt_id: str) -> list[Row]:
    """Every standing fee line of the stay (all columns), in upload order."""
    return list(
        conn.execute(
            sa.select(T_FEE_LINE).where(T_FEE_LINE.c.mdtrt_id == mdtrt_id).order_by(T_FEE_LINE.c.id)
        )
    )


def cancel_fee_lines(
    conn: Connection, mdtrt_id: str, rows: list[Row], at: datetime, by: str | None
) -> None:
    """Move ``rows`` (of :func:`fee_rows`) out of the bill into ``fee_line_cancelled``."""
    if not rows:
        return
    conn.execute(
        T_FEE_LINE_CANCELLED.insert(),
        [
            {
                "mdtrt_id": mdtrt_id,
                "feedetl_sn": row.feedetl_sn,
                "line": json.dumps(dict(row._mapping), default=str, ensure_ascii=False),
                "cancelled_at": at,
                "cancelled_by": by,
            }
            for row in rows
        ],
    )
    conn.execute(T_FEE_LINE.delete().where(T_FEE_LINE.c.id.in_([row.id for row in rows])))


def cancelled_count(conn: Connection, mdtrt_id: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(T_FEE_LINE_CANCELLED)
            .where(T_FEE_LINE_CANCELLED.c.mdtrt_id == mdtrt_id)
        ).scalar()
    )


def fee_changes_since(conn: Connection, mdtrt_id: str, since: datetime) -> bool:
    """Whether a fee line of the stay was uploaded or cancelled (2302) after ``since``."""
    uploaded = sa.select(T_FEE_LINE.c.id).where(
        T_FEE_LINE.c.mdtrt_id == mdtrt_id, T_FEE_LINE.c.created_at > since
    )
    cancelled = sa.select(T_FEE_LINE_CANCELLED.c.id).where(
        T_FEE_LINE_CANCELLED.c.mdtrt_id == mdtrt_id, T_FEE_LINE_CANCELLED.c.cancelled_at > since
    )
    return any(conn.execute(stmt.limit(1)).first() is not None for stmt in (uploaded, cancelled))
