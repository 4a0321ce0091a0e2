"""The person aggregate: insured people, identity documents, coverage periods, the personal
account (balance and entries) and the use of each benefit year's ceiling.

The billing reads (person, benefit year) and the settlement's account and ceiling writes are
hand-written SQL (hot path); the rest is SQLAlchemy Core. Rows locked with
:func:`settlement.store.db.for_update`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from settlement.rules.coverage import CoveragePeriod
from settlement.rules.exemptions import IdentityDocument
from settlement.store import sql
from settlement.store.db import as_date, for_update
from settlement.store.tables import T_COVERAGE, T_DOCUMENT, T_PERSON

_SELECT_FOR_BILLING = sql.Sql(
    "SELECT psn_no, brdy, household_register_no, origin, acct_balance FROM person WHERE psn_no = ?"
)
_SELECT_COVERAGE = sql.Sql(
    "SELECT insutype, begndate, enddate, paid FROM coverage_period WHERE psn_no = ? ORDER BY begndate"
)
_ADD_TO_BALANCE = sql.Sql("UPDATE person SET acct_balance = acct_balance + ? WHERE psn_no = ?")
_INSERT_ACCOUNT_ENTRY = sql.Sql(
    "INSERT INTO account_entry (psn_no, amount, kind, ref, at) VALUES (?, ?, ?, ?, ?)"
)
_SELECT_CEILING_USE = sql.Sql(
    "SELECT ceiling_used, settled_admissions FROM benefit_year"
    " WHERE psn_no = ? AND insutype = ? AND year = ?"
)
_ADD_CEILING_USE = sql.Sql(
    "UPDATE benefit_year SET ceiling_used = ceiling_used + ?,"
    " settled_admissions = settled_admissions + ? WHERE psn_no = ? AND insutype = ? AND year = ?"
)
#: One more settled admission in the year, the row made by the year's first (an upsert on the
#: primary key: one statement, nothing to read back).
_ADD_SETTLEMENT_TO_YEAR = sql.Sql(
    "INSERT INTO benefit_year (psn_no, insutype, year, ceiling_used, settled_admissions)"
    " VALUES (?, ?, ?, ?, 1) ON CONFLICT (psn_no, insutype, year) DO UPDATE SET"
    " ceiling_used = benefit_year.ceiling_used + excluded.ceiling_used,"
    " settled_admissions = benefit_year.settled_admissions + 1"
)


def find(conn: Connection, psn_no: str, *, lock: bool = False) -> Row | None:
    """Every column of the person, or None."""
    stmt = sa.select(T_PERSON).where(T_PERSON.c.psn_no == psn_no)
    if lock:
        stmt = for_update(stmt, conn)
    return conn.execute(stmt).first()


def prefetch_for_billing(conn: Connection, psn_no: str) -> None:
    """:func:`find_for_billing` (without the lock) is coming: its read travels with the next
    statement."""
    sql.prefetch(conn, _SELECT_FOR_BILLING, (psn_no,))


def find_for_billing(conn: Connection, psn_no: str, *, lock: bool = False):
    """The columns admission and settlement need (``brdy`` a date), or None."""
    statement = for_update(_SELECT_FOR_BILLING, conn) if lock else _SELECT_FOR_BILLING
    person = sql.first(conn, statement, (psn_no,))
    if person is None:
        return None
    return person._replace(brdy=as_date(person.brdy))


def psn_no_by_certno(conn: Connection, certno: str) -> str | None:
    return conn.execute(sa.select(T_PERSON.c.psn_no).where(T_PERSON.c.certno == certno)).scalar()


def insert(conn: Connection, **columns: Any) -> bool:
    """A new person (``columns`` as in the ``person`` table); False if ``psn_no`` is taken.

    Runs in a savepoint, so a refusal leaves the transaction usable.
    """
    try:
        with conn.begin_nested():
            conn.execute(T_PERSON.insert().values(**columns))
    except IntegrityError:
        return False
    return True


def set_query_password_hash(conn: Connection, psn_no: str, password_hash: str) -> None:
    conn.execute(
        T_PERSON.update()
        .where(T_PERSON.c.psn_no == psn_no)
        .values(query_password_hash=password_hash)
    )


# --- identity documents ----------------------------------------------------------------


def insert_documents(conn: Connection, psn_no: str, documents: list[dict[str, Any]]) -> None:
    """Documents as dicts of ``document_type``, ``document_number``, ``valid_until``."""
    conn.execute(T_DOCUMENT.insert(), [{"psn_no": psn_no, **d} for d in documents])


def documents(conn: Connection, psn_no: str) -> list[IdentityDocument]:
    """The person's identity documents, in registration order."""
    rows = conn.execute(
        sa.select(
            T_DOCUMENT.c.document_type, T_DOCUMENT.c.document_number, T_DOCUMENT.c.valid_until
        )
        .where(T_DOCUMENT.c.psn_no == psn_no)
        .order_by(T_DOCUMENT.c.id)
    ).all()
    return [IdentityDocument(d.document_type, d.document_number, d.valid_until) for d in rows]


# --- coverage ----------------------------------------------------------------------------


def prefetch_coverage(conn: Connection, psn_no: str) -> None:
    """:func:`coverage_periods` is coming: its read travels with the next statement."""
    sql.prefetch(conn, _SELECT_COVERAGE, (psn_no,))


def coverage_periods(conn: Connection, psn_no: str) -> list[CoveragePeriod]:
    """The person's coverage periods, by start day."""
    return [
        CoveragePeriod(r.insutype, as_date(r.begndate), as_date(r.enddate), bool(r.paid))
        for r in sql.all_rows(conn, _SELECT_COVERAGE, (psn_no,))
    ]


def insert_coverage(
    conn: Connection,
    psn_no: str,
    insutype: str,
    begndate: date,
    enddate: date | None,
    paid: bool,
    created_at: datetime,
) -> int:
    """A coverage period; its id."""
    result = conn.execute(
        T_COVERAGE.insert().values(
            psn_no=psn_no,
            insutype=insutype,
            begndate=begndate,
            enddate=enddate,
            paid=paid,
            created_at=created_at,
        )
    )
    return result.inserted_primary_key[0]


# --- personal account ------------------------------------------------------------------


def move_money(
    conn: Connection, psn_no: str, amount: int, kind: str, ref: str | None, at: datetime
) -> None:
    """Add ``amount`` fen (negative: a debit) to the personal account, with its entry."""
    sql.defer(conn, _ADD_TO_BALANCE, (amount, psn_no))
    record_account_entry(conn, psn_no, amount, kind, ref, at)


def record_account_entry(
    conn: Connection, psn_no: str, amount: int, kind: str, ref: str | None, at: datetime
) -> None:
    """An account entry alone (the opening balance is written with the person)."""
    sql.defer(conn, _INSERT_ACCOUNT_ENTRY, (psn_no, amount, kind, ref, at))


def balance(conn: Connection, psn_no: str) -> int | None:
    return conn.execute(
        sa.select(T_PERSON.c.acct_balance).where(T_PERSON.c.psn_no == psn_no)
    ).scalar()


# --- benefit years -----------------------------------------------------------------------


def ceiling_use(conn: Connection, psn_no: str, insutype: str, year: int, *, lock: bool = False):
    """(``ceiling_used``, ``settled_admissions``) of the person's benefit year, or None."""
    statement = for_update(_SELECT_CEILING_USE, conn) if lock else _SELECT_CEILING_USE
    return sql.first(conn, statement, (psn_no, insutype, year))


def add_settlement_to_year(
    conn: Connection, psn_no: str, insutype: str, year: int, fund_pay: int
) -> None:
    """One more settled admission and ``fund_pay`` more ceiling use in the benefit year."""
    sql.defer(conn, _ADD_SETTLEMENT_TO_YEAR, (psn_no, insutype, year, fund_pay))


def remove_settlement_from_year(
    conn: Connection, psn_no: str, insutype: str, year: int, fund_pay: int
) -> None:
    """Undo :func:`add_settlement_to_year` (a reversal)."""
    sql.execute(conn, _ADD_CEILING_USE, (-fund_pay, -1, psn_no, insutype, year))
