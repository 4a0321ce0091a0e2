"""The settlement aggregate: discharge settlements (2304) and their reversals (2305).

One standing settlement per admission is the database's guarantee: the UNIQUE
``settlement.active_mdtrt_id`` (the admission while the settlement stands, NULL
once reversed). The insert is hand-written SQL (hot path).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from settlement.rules.split import SPLIT_AMOUNTS, Split
from settlement.store import sql
from settlement.store.db import for_update
from settlement.store.tables import T_REVERSAL, T_SETTLEMENT

_INSERT = sql.Sql(
    "INSERT INTO settlement (setl_id, mdtrt_id, active_mdtrt_id, institution_code, terminal_id, psn_no,"
    " insutype, benefit_year, auth_method, card_no, balc, fee_count, policy_version, setl_time, setl_date,"
    f" status, {', '.join(SPLIT_AMOUNTS)}) VALUES ({', '.join('?' * (16 + len(SPLIT_AMOUNTS)))})"
)


def insert(
    conn: Connection,
    *,
    setl_id: str,
    mdtrt_id: str,
    institution_code: str,
    terminal_id: str | None,
    psn_no: str,
    insutype: str,
    benefit_year: int,
    auth_method: str,
    card_no: str | None,
    split: Split,
    balc: int,
    fee_count: int,
    setl_time: datetime,
    setl_date: date,
) -> bool:
    """A standing settlement of the admission; False (nothing written) if one already stands.

    No savepoint: the caller refuses the whole transaction when this returns False.
    """
    try:
        sql.execute(
            conn,
            _INSERT,
            (
                setl_id,
                mdtrt_id,
                mdtrt_id,
                institution_code,
                terminal_id,
                psn_no,
                insutype,
                benefit_year,
                auth_method,
                card_no,
                balc,
                fee_count,
                split.policy_version,
                setl_time,
                setl_date,
                "settled",
                *(getattr(split, name) for name in SPLIT_AMOUNTS),
            ),
        )
    except IntegrityError:
        return False
    return True


def find(
    conn: Connection, setl_id: str, institution_code: str | None = None, *, lock: bool = False
) -> Row | None:
    """Every column of the settlement; only if it is ``institution_code``'s (any, if None)."""
    stmt = sa.select(T_SETTLEMENT).where(T_SETTLEMENT.c.setl_id == setl_id)
    if institution_code is not None:
        stmt = stmt.where(T_SETTLEMENT.c.institution_code == institution_code)
    if lock:
        stmt = for_update(stmt, conn)
    return conn.execute(stmt).first()


def standing_for(conn: Connection, mdtrt_id: str) -> Row | None:
    """The admission's standing settlement, if any."""
    return conn.execute(
        sa.select(T_SETTLEMENT).where(T_SETTLEMENT.c.active_mdtrt_id == mdtrt_id)
    ).first()


def mark_reversed(conn: Connection, setl_id: str) -> bool:
    """The settlement no longer stands; False if it was not standing."""
    changed = conn.execute(
        T_SETTLEMENT.update()
        .where(T_SETTLEMENT.c.setl_id == setl_id, T_SETTLEMENT.c.status == "settled")
        .values(status="reversed", active_mdtrt_id=None)
    ).rowcount
    return changed == 1


def insert_reversal(
    conn: Connection,
    *,
    revs_setl_id: str,
    setl_id: str,
    mdtrt_id: str,
    institution_code: str,
    terminal_id: str | None,
    reason: str,
    revs_time: datetime,
    revs_date: date,
) -> None:
    conn.execute(
        T_REVERSAL.insert().values(
            revs_setl_id=revs_setl_id,
            setl_id=setl_id,
            mdtrt_id=mdtrt_id,
            institution_code=institution_code,
            terminal_id=terminal_id,
            reason=reason,
            revs_time=revs_time,
            revs_date=revs_date,
        )
    )


# --- a reversal undone (2601 冲正 of a 2305) ------------------------------------------------


def find_reversal(conn: Connection, revs_setl_id: str) -> Row | None:
    """The reversal ``revs_setl_id`` (every column), or None."""
    return conn.execute(
        sa.select(T_REVERSAL).where(T_REVERSAL.c.revs_setl_id == revs_setl_id)
    ).first()


def reinstate(conn: Connection, setl_id: str, mdtrt_id: str, revs_setl_id: str) -> bool:
    """The reversed settlement stands again and its reversal is gone; False if it was not
    reversed (the UNIQUE ``active_mdtrt_id`` refuses it if another settlement stands)."""
    changed = conn.execute(
        T_SETTLEMENT.update()
        .where(T_SETTLEMENT.c.setl_id == setl_id, T_SETTLEMENT.c.status == "reversed")
        .values(status="settled", active_mdtrt_id=mdtrt_id)
    ).rowcount
    if changed != 1:
        return False
    conn.execute(T_REVERSAL.delete().where(T_REVERSAL.c.revs_setl_id == revs_setl_id))
    return True


def person_activity_since(conn: Connection, psn_no: str, since: datetime) -> bool:
    """Whether a settlement of the person was made or reversed after ``since``."""
    s, r = T_SETTLEMENT.c, T_REVERSAL.c
    settled = sa.select(s.setl_id).where(s.psn_no == psn_no, s.setl_time > since).limit(1)
    if conn.execute(settled).first() is not None:
        return True
    reversed_ = (
        sa.select(r.revs_setl_id)
        .select_from(T_REVERSAL.join(T_SETTLEMENT, s.setl_id == r.setl_id))
        .where(s.psn_no == psn_no, r.revs_time > since)
        .limit(1)
    )
    return conn.execute(reversed_).first() is not None
