"""People, coverage periods, personal accounts and query passwords (1101 and registration)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from settlement.authority import ADMIN, CARD_CENTRE, query_password_allowed, require_role
from settlement.problems import Problem
from settlement.rules.coverage import (
    CoveragePeriod,
    EnrolmentRefused,
    age_on,
    is_covered,
    resident_enrolment,
)
from settlement.rules.exemptions import IdentityDocument, PersonFacts
from settlement.schemas import (
    MONEY_MAX,
    AccountCreditIn,
    CoverageIn,
    EnrolmentIn,
    PersonIn,
    QueryPasswordIn,
)
from settlement.security import hash_password, password_matches
from settlement.service import Principal, audit
from settlement.store import applications as applications_store
from settlement.store import sql
from settlement.store.db import as_date, for_update
from settlement.store.tables import (
    T_ACCOUNT,
    T_CARD,
    T_COVERAGE,
    T_DOCUMENT,
    T_PERSON,
)

PRIVILEGED = (CARD_CENTRE, ADMIN)


def load_person(conn: Connection, psn_no: str, *, lock: bool = False) -> Row:
    stmt = sa.select(T_PERSON).where(T_PERSON.c.psn_no == psn_no)
    if lock:
        stmt = for_update(stmt, conn)
    person = conn.execute(stmt).first()
    if person is None:
        raise Problem(404, "person_unknown", f"person {psn_no} is not registered")
    return person


def register_person(conn: Connection, principal: Principal, body: PersonIn, now: datetime) -> dict:
    require_role(principal, *PRIVILEGED, action="person.register", subject=body.psn_no)
    cert_type = "resident_id" if body.psn_cert_type == "id_card" else body.psn_cert_type
    try:
        with conn.begin_nested():
            conn.execute(
                T_PERSON.insert().values(
                    psn_no=body.psn_no,
                    psn_name=body.psn_name,
                    gend=body.gend,
                    brdy=body.brdy,
                    certno=body.certno,
                    psn_cert_type=cert_type,
                    household_register_no=body.household_register_no,
                    origin=body.origin,
                    acct_balance=body.acct_balance,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Problem(409, "conflict", f"person {body.psn_no} is already registered") from None
    documents = [{"document_type": cert_type, "document_number": body.certno, "valid_until": None}]
    documents += [d.model_dump() for d in body.documents]
    conn.execute(T_DOCUMENT.insert(), [{"psn_no": body.psn_no, **d} for d in documents])
    if body.acct_balance:
        conn.execute(
            T_ACCOUNT.insert().values(
                psn_no=body.psn_no, amount=body.acct_balance, kind="opening", at=now
            )
        )
    audit(conn, principal, "person.register", body.psn_no, at=now)
    return person_info(conn, body.psn_no, now.date(), privileged=True)


_SELECT_COVERAGE = sql.Sql(
    "SELECT insutype, begndate, enddate, paid FROM coverage_period WHERE psn_no = ? ORDER BY begndate"
)
_SELECT_PERSON = sql.Sql(
    "SELECT psn_no, brdy, household_register_no, origin, acct_balance FROM person WHERE psn_no = ?"
)


def load_person_for_billing(conn: Connection, psn_no: str, *, lock: bool = False):
    """The person columns admission and settlement need (hand-written SQL, hot path)."""
    statement = for_update(_SELECT_PERSON, conn) if lock else _SELECT_PERSON
    person = sql.first(conn, statement, (psn_no,))
    if person is None:
        raise Problem(404, "person_unknown", f"person {psn_no} is not registered")
    return person._replace(brdy=as_date(person.brdy))


def coverage_periods(conn: Connection, psn_no: str) -> list[CoveragePeriod]:
    rows = sql.all_rows(conn, _SELECT_COVERAGE, (psn_no,))
    return [
        CoveragePeriod(r.insutype, as_date(r.begndate), as_date(r.enddate), bool(r.paid))
        for r in rows
    ]


def require_covered(conn: Connection, psn_no: str, insutype: str, on: date, action: str) -> None:
    """settlement.md §Coverage: a person must be covered (paid) on the admission date."""
    if not is_covered(coverage_periods(conn, psn_no), insutype, on):
        raise Problem(
            403,
            "not_covered",
            f"person {psn_no} has no paid {insutype} coverage on {on.isoformat()}",
            audit=(action, psn_no),
        )


def person_info(conn: Connection, psn_no: str, on: date, *, privileged: bool) -> dict:
    """The 1101 answer: identity, coverage on ``on``, account balance, cards."""
    person = load_person(conn, psn_no)
    periods = coverage_periods(conn, psn_no)
    cards = conn.execute(
        sa.select(T_CARD.c.card_no, T_CARD.c.status, T_CARD.c.expiry)
        .where(T_CARD.c.psn_no == psn_no)
        .order_by(T_CARD.c.created_at)
    ).all()
    info = {
        "psn_no": person.psn_no,
        "psn_name": person.psn_name,
        "gend": person.gend,
        "brdy": person.brdy.isoformat(),
        "age": age_on(person.brdy, on) if on >= person.brdy else 0,
        "certno": person.certno,
        "psn_cert_type": person.psn_cert_type,
        "acct_balance": person.acct_balance,
        "insuinfo": [
            {
                "insutype": p.scheme,
                "begndate": p.start.isoformat(),
                "enddate": p.end.isoformat() if p.end else None,
                "paid": p.paid,
                "covered": p.covers(on),
            }
            for p in periods
        ],
        "cards": [
            {"card_no": c.card_no, "status": c.status, "expiry": c.expiry.isoformat()}
            for c in cards
        ],
        "as_of": on.isoformat(),
    }
    if privileged:
        docs = conn.execute(
            sa.select(
                T_DOCUMENT.c.document_type, T_DOCUMENT.c.document_number, T_DOCUMENT.c.valid_until
            )
            .where(T_DOCUMENT.c.psn_no == psn_no)
            .order_by(T_DOCUMENT.c.id)
        ).all()
        info["household_register_no"] = person.household_register_no
        info["origin"] = person.origin
        info["documents"] = [
            {
                "document_type": d.document_type,
                "document_number": d.document_number,
                "valid_until": d.valid_until.isoformat() if d.valid_until else None,
            }
            for d in docs
        ]
    return info


def find_psn_no(conn: Connection, *, card_no: str | None, certno: str | None) -> str:
    if card_no:
        psn_no = conn.execute(
            sa.select(T_CARD.c.psn_no).where(T_CARD.c.card_no == card_no)
        ).scalar()
        if psn_no is None:
            raise Problem(404, "card_unknown", f"card {card_no} is not registered")
        return psn_no
    if certno:
        psn_no = conn.execute(
            sa.select(T_PERSON.c.psn_no).where(T_PERSON.c.certno == certno)
        ).scalar()
        if psn_no is None:
            raise Problem(404, "person_unknown", f"no person with certno {certno}")
        return psn_no
    raise Problem(422, "validation_error", "give psn_no in the path, or card_no / certno")


def add_coverage(
    conn: Connection, principal: Principal, psn_no: str, body: CoverageIn, now: datetime
) -> dict:
    require_role(principal, *PRIVILEGED, action="coverage.add", subject=psn_no)
    load_person(conn, psn_no)
    result = conn.execute(
        T_COVERAGE.insert().values(
            psn_no=psn_no,
            insutype=body.insutype,
            begndate=body.begndate,
            enddate=body.enddate,
            paid=body.paid,
            created_at=now,
        )
    )
    audit(conn, principal, "coverage.add", psn_no, detail=body.model_dump(mode="json"), at=now)
    return {
        "id": result.inserted_primary_key[0],
        "psn_no": psn_no,
        "insutype": body.insutype,
        "begndate": body.begndate.isoformat(),
        "enddate": body.enddate.isoformat() if body.enddate else None,
        "paid": body.paid,
    }


def resident_enrol(
    conn: Connection, principal: Principal, psn_no: str, body: EnrolmentIn, now: datetime
) -> dict:
    """Resident (390) enrolment: days 1–24, effective the 1st of next month to 30 June."""
    require_role(principal, *PRIVILEGED, action="coverage.enrol", subject=psn_no)
    load_person(conn, psn_no)
    try:
        start, end = resident_enrolment(body.applied_on)
    except EnrolmentRefused as refused:
        raise Problem(
            422,
            "enrolment_refused",
            str(refused),
            extra={"reason_code": refused.code},
            audit=("coverage.enrol", psn_no),
        ) from None
    return add_coverage(
        conn,
        principal,
        psn_no,
        CoverageIn(insutype="390", begndate=start, enddate=end, paid=body.paid),
        now,
    )


def credit_account(
    conn: Connection, principal: Principal, psn_no: str, body: AccountCreditIn, now: datetime
) -> dict:
    require_role(principal, *PRIVILEGED, action="account.credit", subject=psn_no)
    person = load_person(conn, psn_no, lock=True)
    if int(person.acct_balance) + body.amount > MONEY_MAX:
        raise Problem(
            422,
            "amount_out_of_range",
            f"the credit would bring the personal account over {MONEY_MAX} fen",
        )
    conn.execute(
        T_PERSON.update()
        .where(T_PERSON.c.psn_no == psn_no)
        .values(acct_balance=T_PERSON.c.acct_balance + body.amount)
    )
    conn.execute(
        T_ACCOUNT.insert().values(
            psn_no=psn_no, amount=body.amount, kind="credit", ref=body.reason[:40] or None, at=now
        )
    )
    audit(conn, principal, "account.credit", psn_no, detail={"amount": body.amount}, at=now)
    balance = conn.execute(
        sa.select(T_PERSON.c.acct_balance).where(T_PERSON.c.psn_no == psn_no)
    ).scalar()
    return {"psn_no": psn_no, "acct_balance": balance}


def set_query_password(
    conn: Connection, principal: Principal, psn_no: str, body: QueryPasswordIn, now: datetime
) -> dict:
    """Query password (查询密码) change / reset: card centre and partner bank branches only."""
    action = f"query_password.{body.mode}"
    if not query_password_allowed(principal):
        raise Problem(
            403,
            "not_entitled",
            "query passwords are changed or reset only by the card management centre or a "
            "partner bank branch",
            audit=(action, psn_no),
        )
    person = load_person(conn, psn_no, lock=True)
    if body.mode == "change" and (
        not body.old_password or not password_matches(body.old_password, person.query_password_hash)
    ):
        raise Problem(
            403, "password_invalid", "the old query password is wrong", audit=(action, psn_no)
        )
    conn.execute(
        T_PERSON.update()
        .where(T_PERSON.c.psn_no == psn_no)
        .values(query_password_hash=hash_password(body.new_password))
    )
    # A new password ends any lockout of the card-progress query (制卡进度查询) for this SSN:
    # the lockout message sends the holder to the counter for exactly this.
    applications_store.clear_failures(conn, person.certno)
    audit(conn, principal, action, psn_no, at=now)
    return {"psn_no": psn_no, "mode": body.mode}


def check_query_password(conn: Connection, psn_no: str, password: str) -> bool:
    person = load_person(conn, psn_no)
    return password_matches(password, person.query_password_hash)


def person_facts(conn: Connection, person: Row) -> PersonFacts:
    """What the exemption rules need to know about a person."""
    docs = conn.execute(
        sa.select(
            T_DOCUMENT.c.document_type, T_DOCUMENT.c.document_number, T_DOCUMENT.c.valid_until
        ).where(T_DOCUMENT.c.psn_no == person.psn_no)
    ).all()
    cards = conn.execute(
        sa.select(T_CARD.c.status, T_CARD.c.replacement_receipt_no).where(
            T_CARD.c.psn_no == person.psn_no
        )
    ).all()
    return PersonFacts(
        birth_date=person.brdy,
        household_register_no=person.household_register_no,
        identity_documents=[
            IdentityDocument(d.document_type, d.document_number, d.valid_until) for d in docs
        ],
        # "with no card issued" (settlement.md): any card ever issued counts, also a cancelled
        # or replaced one; a lost card's holder has the replacement-receipt path instead.
        has_issued_card=bool(cards),
        pending_replacement_receipts=frozenset(
            c.replacement_receipt_no
            for c in cards
            if c.status == "lost" and c.replacement_receipt_no
        ),
        origin=person.origin,
    )
