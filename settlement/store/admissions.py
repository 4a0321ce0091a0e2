"""The admission aggregate: inpatient stays (2401) and their fee lines (2301).

The hot path (admission, fee upload, settlement) runs on the hand-written SQL of
:mod:`settlement.store.sql`; the rest on SQLAlchemy Core. Rows locked with
:func:`settlement.store.db.for_update` (lock order on PostgreSQL, always: admission →
settlement → person → benefit year).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from settlement.rules.catalogue import (
    CHRGITM_LVS,
    CNT_SCALE,
    FEN_PER_YUAN,
    PRIC_SCALE,
    LineParts,
    round_half_up_signed,
)
from settlement.rules.fees import ClassedLine, FeeLine
from settlement.rules.split import FeeItem
from settlement.rules.stays import StayStart
from settlement.store import sql
from settlement.store.db import as_date, as_utc, for_update
from settlement.store.tables import T_ADMISSION, T_INSTITUTION

_BILLING_COLUMNS = (
    "mdtrt_id, institution_code, psn_no, insutype, hospital_level, adm_date, status, begntime"
)
_SELECT_FOR_BILLING = sql.Sql(f"SELECT {_BILLING_COLUMNS} FROM admission WHERE mdtrt_id = ?")
_SELECT_OWN_FOR_BILLING = sql.Sql(
    f"SELECT {_BILLING_COLUMNS} FROM admission WHERE mdtrt_id = ? AND institution_code = ?"
)
_INSERT = sql.Sql(
    "INSERT INTO admission (mdtrt_id, institution_code, terminal_id, psn_no, insutype, hospital_level,"
    " begntime, adm_date, dept_name, dise_name, auth_method, card_no, evidence, status, created_at,"
    " ipt_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STAY_OF_IPT_NO = sql.Sql(
    "SELECT mdtrt_id FROM admission WHERE institution_code = ? AND ipt_no = ?"
    " AND status <> 'cancelled'"
)
_SETTLED_IN_YEAR = sql.Sql(
    "SELECT mdtrt_id, begntime FROM admission WHERE psn_no = ? AND insutype = ?"
    " AND status = 'settled' AND adm_date >= ? AND adm_date <= ?"
)
_MARK_SETTLED = sql.Sql("UPDATE admission SET status = 'settled', endtime = ? WHERE mdtrt_id = ?")
_LINE_COLUMNS = (
    "feedetl_sn, med_list_codg, med_list_name, list_type, cnt_e4, pric_e6, init_feedetl_sn,"
    " chrgitm_lv, med_chrgitm_type, selfpay_prop_bp, pric_uplmt_e6, catalogue_version,"
    " det_item_fee_sumamt, overlmt_amt, fulamt_ownpay_amt, preselfpay_amt, inscp_scp_amt"
)
_SELECT_FEE_LINES = sql.Sql(f"SELECT {_LINE_COLUMNS} FROM fee_line WHERE mdtrt_id = ? ORDER BY id")
_INSERT_FEE_LINE = sql.Sql(
    f"INSERT INTO fee_line (mdtrt_id, {_LINE_COLUMNS}, cnt, pric, created_at)"
    f" VALUES ({', '.join('?' * 21)})"
)
_FEE_TOTALS = sql.Sql(
    "SELECT count(*), coalesce(sum(det_item_fee_sumamt), 0) FROM fee_line WHERE mdtrt_id = ?"
)
_SELECT_FEE_ITEMS = sql.Sql(
    "SELECT feedetl_sn, det_item_fee_sumamt, overlmt_amt, fulamt_ownpay_amt, preselfpay_amt,"
    " inscp_scp_amt FROM fee_line WHERE mdtrt_id = ? ORDER BY id"
)


def insert(
    conn: Connection,
    *,
    mdtrt_id: str,
    institution_code: str | None,
    terminal_id: str | None,
    psn_no: str,
    insutype: str,
    hospital_level: int | None,
    begntime: datetime,
    adm_date: date,
    dept_name: str,
    dise_name: str,
    auth_method: str,
    card_no: str | None,
    evidence: str | None,
    created_at: datetime,
    ipt_no: str | None = None,
) -> None:
    """A new stay, status ``admitted``; ``ipt_no`` the hospital's inpatient number (unique per
    institution among the stays not cancelled: migration 0176's partial unique index). Without
    an ``ipt_no`` nothing but a broken database can refuse it: then it is written with the
    transaction's next statement or its commit (:func:`settlement.store.sql.defer`)."""
    (sql.execute if ipt_no is not None else sql.defer)(
        conn,
        _INSERT,
        (
            mdtrt_id,
            institution_code,
            terminal_id,
            psn_no,
            insutype,
            hospital_level,
            begntime,
            adm_date,
            dept_name,
            dise_name,
            auth_method,
            card_no,
            evidence,
            "admitted",
            created_at,
            ipt_no,
        ),
    )


def stay_of_ipt_no(conn: Connection, institution_code: str, ipt_no: str) -> str | None:
    """The institution's stay (not cancelled) registered under ``ipt_no``, or None."""
    row = sql.first(conn, _STAY_OF_IPT_NO, (institution_code, ipt_no))
    return row.mdtrt_id if row is not None else None


def find(
    conn: Connection, mdtrt_id: str, institution_code: str | None = None, *, lock: bool = False
) -> Row | None:
    """Every column of the stay; only if it is ``institution_code``'s (any, if None)."""
    stmt = sa.select(T_ADMISSION).where(T_ADMISSION.c.mdtrt_id == mdtrt_id)
    if institution_code is not None:
        stmt = stmt.where(T_ADMISSION.c.institution_code == institution_code)
    if lock:
        stmt = for_update(stmt, conn)
    return conn.execute(stmt).first()


def find_for_billing(conn: Connection, mdtrt_id: str, institution_code: str | None = None):
    """The columns billing needs (``adm_date`` a date, ``begntime`` aware UTC), row locked;
    only if the stay is ``institution_code``'s (any, if None). None if there is none."""
    if institution_code is None:
        row = sql.first(conn, for_update(_SELECT_FOR_BILLING, conn), (mdtrt_id,))
    else:
        row = sql.first(
            conn, for_update(_SELECT_OWN_FOR_BILLING, conn), (mdtrt_id, institution_code)
        )
    if row is None:
        return None
    return row._replace(adm_date=as_date(row.adm_date), begntime=as_utc(row.begntime))


#: A stay not cancelled, written as migration 0176's partial index says it (a literal, not a
#: bound parameter), so that both databases may answer ``ipt_no`` from that index.
_NOT_CANCELLED = sa.text("admission.status <> 'cancelled'")

#: Every hospital: an admin's ``ipt_no`` look-up probes the index once per hospital instead of
#: reading all of it (neither database skips over an index's first column by itself).
_HOSPITALS = sa.select(T_INSTITUTION.c.code).where(T_INSTITUTION.c.kind == "hospital")


def latest(
    conn: Connection,
    *,
    institution_code: str | None,
    status: str | None,
    psn_no: str | None,
    limit: int,
    ipt_no: str | None = None,
) -> list[Row]:
    """The most recently registered stays, newest first, filtered by what is given.

    ``ipt_no``: the stays registered under the hospital's inpatient number and not cancelled
    (a cancelled stay has freed its number; at most one per institution), found through the
    unique index on (institution, ipt_no) of migration 0176.
    """
    stmt = sa.select(T_ADMISSION).order_by(T_ADMISSION.c.created_at.desc()).limit(limit)
    if institution_code is not None:
        stmt = stmt.where(T_ADMISSION.c.institution_code == institution_code)
    if status:
        stmt = stmt.where(T_ADMISSION.c.status == status)
    if psn_no:
        stmt = stmt.where(T_ADMISSION.c.psn_no == psn_no)
    if ipt_no is not None:
        stmt = stmt.where(T_ADMISSION.c.ipt_no == ipt_no, _NOT_CANCELLED)
        if institution_code is None:
            stmt = stmt.where(T_ADMISSION.c.institution_code.in_(_HOSPITALS))
    return list(conn.execute(stmt))


def prefetch_settled_stays(
    conn: Connection, psn_no: str, insutype: str, first_day: date, last_day: date
) -> None:
    """:func:`settled_stays` is coming: its read travels with the next statement."""
    sql.prefetch(conn, _SETTLED_IN_YEAR, (psn_no, insutype, first_day, last_day))


def settled_stays(
    conn: Connection, psn_no: str, insutype: str, first_day: date, last_day: date
) -> list[StayStart]:
    """The person's settled stays of ``insutype`` admitted between the two days (inclusive)."""
    rows = sql.execute(conn, _SETTLED_IN_YEAR, (psn_no, insutype, first_day, last_day)).fetchall()
    return [StayStart(mdtrt_id, as_utc(begntime)) for mdtrt_id, begntime in rows]


def mark_settled(conn: Connection, mdtrt_id: str, endtime: datetime) -> None:
    sql.defer(conn, _MARK_SETTLED, (endtime, mdtrt_id))


def _classed(row) -> ClassedLine:
    line = FeeLine(*row[:5], int(row[5]), row[6])
    parts = LineParts(*(int(amount) for amount in row[12:17]))
    return ClassedLine(line, row[7], row[8], int(row[9]), row[10], row[11], parts)


def prefetch_fee_lines(conn: Connection, mdtrt_id: str) -> None:
    """:func:`fee_lines` is coming: its read travels with the next statement."""
    sql.prefetch(conn, _SELECT_FEE_LINES, (mdtrt_id,))


def fee_lines(conn: Connection, mdtrt_id: str) -> list[ClassedLine]:
    """Every stored fee line of the stay with its catalogue terms and parts, in upload order."""
    rows = sql.execute(conn, _SELECT_FEE_LINES, (mdtrt_id,)).fetchall()
    return [_classed(row) for row in rows]


def insert_fee_lines(
    conn: Connection, mdtrt_id: str, items: list[ClassedLine], created_at: datetime
) -> None:
    """Store classed lines; ``cnt``/``pric`` get the legacy whole units (rounded half up)."""
    created_at = sql.stored(conn, created_at)  # converted once, not once per line
    rows = []
    for item in items:
        line, parts = item.line, item.parts
        rows.append(
            (
                mdtrt_id,
                line.feedetl_sn,
                line.med_list_codg,
                line.med_list_name,
                CHRGITM_LVS[item.chrgitm_lv],
                line.cnt_e4,
                line.pric_e6,
                line.init_feedetl_sn,
                item.chrgitm_lv,
                item.med_chrgitm_type,
                item.selfpay_prop_bp,
                item.pric_uplmt_e6,
                item.catalogue_version,
                parts.det_item_fee_sumamt,
                parts.overlmt_amt,
                parts.fulamt_ownpay_amt,
                parts.preselfpay_amt,
                parts.inscp_scp_amt,
                round_half_up_signed(line.cnt_e4, CNT_SCALE),
                round_half_up_signed(line.pric_e6, PRIC_SCALE // FEN_PER_YUAN),
                created_at,
            )
        )
    sql.execute_many(conn, _INSERT_FEE_LINE, rows, later=True)


def fee_totals(conn: Connection, mdtrt_id: str) -> tuple[int, int]:
    """(number of fee lines, their sum in fen) of the stay."""
    count, total = sql.execute(conn, _FEE_TOTALS, (mdtrt_id,)).fetchone()
    return int(count), int(total)


def prefetch_fee_items(conn: Connection, mdtrt_id: str) -> None:
    """:func:`fee_items` is coming: its read travels with the next statement."""
    sql.prefetch(conn, _SELECT_FEE_ITEMS, (mdtrt_id,))


def fee_items(conn: Connection, mdtrt_id: str) -> list[FeeItem]:
    """The stay's fee lines as the split takes them, in upload order."""
    rows = sql.execute(conn, _SELECT_FEE_ITEMS, (mdtrt_id,)).fetchall()
    return [FeeItem(row[0], *(int(amount) for amount in row[1:])) for row in rows]
