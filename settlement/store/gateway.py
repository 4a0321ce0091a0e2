"""The store of the national-platform gateway (docs/gateway.md): credentials, accepted nonces,
9001 sign-ins and the message log by ``msgid``.

Only SQL lives here; what a credential's secret is and how a signature is checked is
``settlement.gateway.auth``'s business. Times come back as aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from settlement.store import sql
from settlement.store.db import as_date, as_utc, for_update
from settlement.store.tables import (
    T_GATEWAY_CREDENTIAL,
    T_GATEWAY_MESSAGE,
    T_GATEWAY_NONCE,
    T_GATEWAY_SIGN_IN,
    T_REVERSAL,
    T_SETTLEMENT,
)

# --- credentials -------------------------------------------------------------------------


def find_credential(conn: Connection, kind: str, key: str) -> Row | None:
    """The credential ``kind``/``key`` (``institution_code``, ``secret_enc``), or None."""
    return conn.execute(
        sa.select(T_GATEWAY_CREDENTIAL).where(
            T_GATEWAY_CREDENTIAL.c.kind == kind, T_GATEWAY_CREDENTIAL.c.key == key
        )
    ).first()


def credentials_of(conn: Connection, institution_code: str) -> list[Row]:
    return list(
        conn.execute(
            sa.select(T_GATEWAY_CREDENTIAL)
            .where(T_GATEWAY_CREDENTIAL.c.institution_code == institution_code)
            .order_by(T_GATEWAY_CREDENTIAL.c.kind)
        )
    )


def insert_credential(
    conn: Connection,
    *,
    kind: str,
    key: str,
    institution_code: str,
    secret_enc: str | None,
    created_at: datetime,
) -> bool:
    """A new credential; False if ``kind``/``key`` is taken (savepoint: the transaction stays usable)."""
    try:
        with conn.begin_nested():
            conn.execute(
                T_GATEWAY_CREDENTIAL.insert().values(
                    kind=kind,
                    key=key,
                    institution_code=institution_code,
                    secret_enc=secret_enc,
                    created_at=created_at,
                )
            )
    except IntegrityError:
        return False
    return True


# --- nonces ------------------------------------------------------------------------------


_INSERT_NONCE = sql.Sql(
    "INSERT INTO gateway_nonce (credential, nonce, seen_at) VALUES (?, ?, ?)"
    " ON CONFLICT (credential, nonce) DO NOTHING"
)


def accept_nonce(conn: Connection, credential: str, nonce: str, at: datetime) -> bool:
    """Record ``nonce`` as used by ``credential`` (one statement); False if it was used
    before (a replay: the caller refuses the message and its transaction is rolled back)."""
    return sql.execute(conn, _INSERT_NONCE, (credential, nonce, at)).rowcount == 1


def forget_nonces_before(conn: Connection, before: datetime) -> None:
    """Nonces older than the timestamp window can no longer be replayed (the stale check refuses)."""
    conn.execute(T_GATEWAY_NONCE.delete().where(T_GATEWAY_NONCE.c.seen_at < before))


# --- sign-ins ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    sign_no: str
    institution_code: str
    opter: str
    opter_name: str
    business_date: date
    signed_in_at: datetime
    signed_out_at: datetime | None


def _sign_in(row: Row) -> SignIn:
    return SignIn(
        sign_no=row.sign_no,
        institution_code=row.institution_code,
        opter=row.opter,
        opter_name=row.opter_name,
        business_date=as_date(row.business_date),
        signed_in_at=as_utc(row.signed_in_at),
        signed_out_at=as_utc(row.signed_out_at),
    )


def insert_sign_in(conn: Connection, record: SignIn) -> None:
    conn.execute(
        T_GATEWAY_SIGN_IN.insert().values(
            sign_no=record.sign_no,
            institution_code=record.institution_code,
            opter=record.opter,
            opter_name=record.opter_name,
            business_date=record.business_date,
            signed_in_at=record.signed_in_at,
            signed_out_at=record.signed_out_at,
        )
    )


_SELECT_SIGN_IN = sql.Sql(
    "SELECT sign_no, institution_code, opter, opter_name, business_date, signed_in_at,"
    " signed_out_at FROM gateway_sign_in WHERE sign_no = ?"
)


def find_sign_in(conn: Connection, sign_no: str) -> SignIn | None:
    row = sql.first(conn, _SELECT_SIGN_IN, (sign_no,))
    return _sign_in(row) if row is not None else None


def sign_out(conn: Connection, sign_no: str, at: datetime) -> None:
    conn.execute(
        T_GATEWAY_SIGN_IN.update()
        .where(T_GATEWAY_SIGN_IN.c.sign_no == sign_no)
        .values(signed_out_at=at)
    )


# --- the message log ---------------------------------------------------------------------


_SELECT_MESSAGE = sql.Sql(
    "SELECT infno, body_hash, answer, subject, undone_by FROM gateway_message"
    " WHERE institution_code = ? AND msgid = ?"
)


def find_message(
    conn: Connection, institution_code: str, msgid: str, *, lock: bool = False
) -> Row | None:
    """Message ``msgid`` of the institution (``infno``, ``body_hash``, ``answer``, ``subject``,
    ``undone_by``), or None."""
    stmt = for_update(_SELECT_MESSAGE, conn) if lock else _SELECT_MESSAGE
    return sql.first(conn, stmt, (institution_code, msgid))


_INSERT_MESSAGE = sql.Sql(
    "INSERT INTO gateway_message (institution_code, msgid, infno, body_hash, opter, answer,"
    " subject, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_message(
    conn: Connection,
    *,
    institution_code: str,
    msgid: str,
    infno: str,
    body_hash: str,
    opter: str,
    answer: str,
    subject: str | None,
    received_at: datetime,
) -> None:
    """Record a message and its answer (the caller looked its msgid up first; a concurrent
    twin fails on the primary key and its transaction is rolled back)."""
    sql.execute(
        conn,
        _INSERT_MESSAGE,
        (institution_code, msgid, infno, body_hash, opter, answer, subject, received_at),
    )


def mark_undone(conn: Connection, institution_code: str, msgid: str, by_msgid: str) -> None:
    conn.execute(
        T_GATEWAY_MESSAGE.update()
        .where(
            T_GATEWAY_MESSAGE.c.institution_code == institution_code,
            T_GATEWAY_MESSAGE.c.msgid == msgid,
        )
        .values(undone_by=by_msgid)
    )


# --- 3201 totals -------------------------------------------------------------------------


def settlement_totals(
    conn: Connection, institution_code: str, insutype: str, first: date, last: date
) -> tuple[int, int, int, int]:
    """(count, medfee_sumamt, fund_pay_sumamt, acct_pay) of the settlements made on the
    business days ``first``..``last`` (whether reversed since or not)."""
    s = T_SETTLEMENT.c
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(s.medfee_sumamt), 0),
            sa.func.coalesce(sa.func.sum(s.fund_pay_sumamt), 0),
            sa.func.coalesce(sa.func.sum(s.acct_pay), 0),
        ).where(
            s.institution_code == institution_code,
            s.insutype == insutype,
            s.setl_date >= first,
            s.setl_date <= last,
        )
    ).one()
    return tuple(int(v) for v in row)


def reversal_totals(
    conn: Connection, institution_code: str, insutype: str, first: date, last: date
) -> tuple[int, int, int, int]:
    """The same totals of the settlements reversed on the business days ``first``..``last``."""
    s, r = T_SETTLEMENT.c, T_REVERSAL.c
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(s.medfee_sumamt), 0),
            sa.func.coalesce(sa.func.sum(s.fund_pay_sumamt), 0),
            sa.func.coalesce(sa.func.sum(s.acct_pay), 0),
        )
        .select_from(T_REVERSAL.join(T_SETTLEMENT, s.setl_id == r.setl_id))
        .where(
            r.institution_code == institution_code,
            s.insutype == insutype,
            r.revs_date >= first,
            r.revs_date <= last,
        )
    ).one()
    return tuple(int(v) for v in row)


# --- what setlinfo shows of the person (2303/2304/2305/5203) -------------------------------


@dataclass(frozen=True)
class PersonBase:
    """The person fields of ``setlinfo`` / ``baseinfo``."""

    psn_no: str
    psn_cert_type: str
    certno: str
    psn_name: str
    gend: str
    brdy: date


_PERSON_BASE = sql.Sql(
    "SELECT psn_no, psn_cert_type, certno, psn_name, gend, brdy FROM person WHERE psn_no = ?"
)


def person_base(conn: Connection, psn_no: str) -> PersonBase | None:
    row = sql.first(conn, _PERSON_BASE, (psn_no,))
    if row is None:
        return None
    return PersonBase(
        row.psn_no, row.psn_cert_type, row.certno, row.psn_name, row.gend, as_date(row.brdy)
    )
