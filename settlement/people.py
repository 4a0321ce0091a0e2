"""People, coverage periods, personal accounts and query passwords (1101 and registration)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.engine import Connection, Row

from settlement import contributions
from settlement.authority import query_password_allowed, require_role
from settlement.problems import Problem
from settlement.rules.contributions import ENTRY_DELAY_DAYS, INSUTYPE_OF
from settlement.rules.coverage import (
    EnrolmentRefused,
    age_on,
    is_covered,
    paid_overlap,
    resident_enrolment,
)
from settlement.rules.exemptions import PersonFacts
from settlement.rules.roles import ADMIN, CARD_CENTRE
from settlement.schemas import (
    MONEY_MAX,
    AccountCreditIn,
    CoverageIn,
    CoverageMigrationIn,
    EnrolmentIn,
    PersonIn,
    QueryPasswordIn,
)
from settlement.security import hash_password, password_matches
from settlement.service import Principal, audit
from settlement.store import applications as applications_store
from settlement.store import cards, people
from settlement.store import contributions as contributions_store

PRIVILEGED = (CARD_CENTRE, ADMIN)


def load_person(conn: Connection, psn_no: str, *, lock: bool = False) -> Row:
    """Every column of the person, or ``404 person_unknown``."""
    person = people.find(conn, psn_no, lock=lock)
    if person is None:
        raise Problem(404, "person_unknown", f"person {psn_no} is not registered")
    return person


def register_person(conn: Connection, principal: Principal, body: PersonIn, now: datetime) -> dict:
    require_role(principal, *PRIVILEGED, action="person.register", subject=body.psn_no)
    cert_type = "resident_id" if body.psn_cert_type == "id_card" else body.psn_cert_type
    registered = people.insert(
        conn,
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
    if not registered:
        raise Problem(409, "conflict", f"person {body.psn_no} is already registered")
    documents = [{"document_type": cert_type, "document_number": body.certno, "valid_until": None}]
    documents += [d.model_dump() for d in body.documents]
    people.insert_documents(conn, body.psn_no, documents)
    if body.acct_balance:
        people.record_account_entry(conn, body.psn_no, body.acct_balance, "opening", None, now)
    audit(conn, principal, "person.register", body.psn_no, at=now)
    return person_info(conn, body.psn_no, now.date(), privileged=True)


def load_person_for_billing(conn: Connection, psn_no: str, *, lock: bool = False):
    """The person columns admission and settlement need (hot path), or ``404 person_unknown``."""
    person = people.find_for_billing(conn, psn_no, lock=lock)
    if person is None:
        raise Problem(404, "person_unknown", f"person {psn_no} is not registered")
    return person


def require_covered(conn: Connection, psn_no: str, insutype: str, on: date, action: str) -> None:
    """settlement.md §Coverage: a person must be covered (paid) on the admission date."""
    if not is_covered(people.coverage_periods(conn, psn_no), insutype, on):
        raise Problem(
            403,
            "not_covered",
            f"person {psn_no} has no paid {insutype} coverage on {on.isoformat()}",
            audit=(action, psn_no),
        )


def person_info(
    conn: Connection,
    psn_no: str,
    on: date,
    *,
    privileged: bool,
    delay_days: int = ENTRY_DELAY_DAYS,
) -> dict:
    """The 1101 answer: identity, coverage on ``on``, account balance, cards; for a person with
    an enrolment record also ``contribution``, the insured state of the insurance year of
    ``on`` and why (:func:`settlement.contributions.status`, docs/api.md §Contributions)."""
    person = load_person(conn, psn_no)
    periods = people.coverage_periods(conn, psn_no)
    issued = cards.of_person(conn, psn_no)
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
                "insutype": p.insutype,
                "begndate": p.start.isoformat(),
                "enddate": p.end.isoformat() if p.end else None,
                "paid": p.paid,
                "covered": p.covers(on),
            }
            for p in periods
        ],
        "cards": [
            {"card_no": c.card_no, "status": c.status, "expiry": c.expiry.isoformat()}
            for c in issued
        ],
        "as_of": on.isoformat(),
    }
    if contributions_store.enrolment(conn, psn_no) is not None:
        info["contribution"] = contributions.status(conn, psn_no, on, None, delay_days=delay_days)
    if privileged:
        info["household_register_no"] = person.household_register_no
        info["origin"] = person.origin
        info["documents"] = [
            {
                "document_type": d.doc_type,
                "document_number": d.number,
                "valid_until": d.valid_until.isoformat() if d.valid_until else None,
            }
            for d in people.documents(conn, psn_no)
        ]
    return info


def find_psn_no(conn: Connection, *, card_no: str | None, certno: str | None) -> str:
    if card_no:
        psn_no = cards.psn_no_of(conn, card_no)
        if psn_no is None:
            raise Problem(404, "card_unknown", f"card {card_no} is not registered")
        return psn_no
    if certno:
        psn_no = people.psn_no_by_certno(conn, certno)
        if psn_no is None:
            raise Problem(404, "person_unknown", f"no person with certno {certno}")
        return psn_no
    raise Problem(422, "validation_error", "give psn_no in the path, or card_no / certno")


def lookup(
    conn: Connection,
    principal: Principal,
    on: date,
    *,
    psn_no: str | None = None,
    card_no: str | None = None,
    certno: str | None = None,
    delay_days: int = ENTRY_DELAY_DAYS,
) -> dict:
    """``GET /v1/people/...``: the 1101 answer for a person named by ``psn_no``, a card or
    a certificate number; the card centre and admins see the privileged fields."""
    psn = psn_no or find_psn_no(conn, card_no=card_no, certno=certno)
    privileged = principal.role in (CARD_CENTRE, ADMIN)
    return person_info(conn, psn, on, privileged=privileged, delay_days=delay_days)


def add_coverage(
    conn: Connection, principal: Principal, psn_no: str, body: CoverageIn, now: datetime
) -> dict:
    """``POST /v1/people/{psn_no}/coverage``: an unpaid coverage period. A paid one comes only
    from a confirmed payment order or the admin's migration (:func:`migrate_coverage`):
    ``"paid": true`` here is ``409 paid_by_payment_only`` (docs/api.md §Contributions)."""
    require_role(principal, *PRIVILEGED, action="coverage.add", subject=psn_no)
    load_person(conn, psn_no)
    if body.paid:
        raise Problem(
            409,
            "paid_by_payment_only",
            f"a paid coverage period of person {psn_no} comes only from a confirmed payment "
            "order, or from the admin's migration (POST /v1/admin/coverage-migrations), "
            "docs/api.md §Contributions",
            audit=("coverage.add", psn_no),
        )
    coverage_id = people.insert_coverage(
        conn, psn_no, body.insutype, body.begndate, body.enddate, False, now
    )
    audit(conn, principal, "coverage.add", psn_no, detail=body.model_dump(mode="json"), at=now)
    return _period_json(coverage_id, psn_no, body.insutype, body.begndate, body.enddate, False)


def _period_json(
    coverage_id: int, psn_no: str, insutype: str, begndate: date, enddate: date | None, paid: bool
) -> dict:
    return {
        "id": coverage_id,
        "psn_no": psn_no,
        "insutype": insutype,
        "begndate": begndate.isoformat(),
        "enddate": enddate.isoformat() if enddate else None,
        "paid": paid,
    }


def migrate_coverage(
    conn: Connection, principal: Principal, body: CoverageMigrationIn, now: datetime
) -> dict:
    """``POST /v1/admin/coverage-migrations`` (admin): a paid coverage period from another
    system (an employee's, paid through the employer; a resident's, paid before this service),
    audited as ``coverage.migrate`` with the reason. A person with an enrolment record has
    the paid insurance year of their category migrated instead (``POST
    /v1/contribution-payments``, ``409 migrate_contribution_year``), so a person-year is never
    paid twice; a period overlapping a paid one of the same scheme is ``409 already_covered``."""
    psn_no = body.psn_no
    require_role(principal, ADMIN, action="coverage.migrate", subject=psn_no)
    load_person(conn, psn_no)
    record = contributions_store.enrolment(conn, psn_no)
    if record is not None and INSUTYPE_OF[record.category] == body.insutype:
        raise Problem(
            409,
            "migrate_contribution_year",
            f"person {psn_no} has an enrolment record: migrate the paid insurance year "
            "(POST /v1/contribution-payments)",
            audit=("coverage.migrate", psn_no),
        )
    periods = people.coverage_periods(conn, psn_no)
    clash = paid_overlap(periods, body.insutype, body.begndate, body.enddate)
    if clash is not None:
        raise Problem(
            409,
            "already_covered",
            f"person {psn_no} has a paid {body.insutype} period from {clash.start} "
            f"to {clash.end or 'open'} overlapping {body.begndate} - {body.enddate or 'open'}",
            audit=("coverage.migrate", psn_no),
        )
    coverage_id = people.insert_coverage(
        conn, psn_no, body.insutype, body.begndate, body.enddate, True, now
    )
    detail = {**body.model_dump(mode="json"), "migration": True, "coverage_id": coverage_id}
    audit(conn, principal, "coverage.migrate", psn_no, detail=detail, at=now)
    answer = _period_json(coverage_id, psn_no, body.insutype, body.begndate, body.enddate, True)
    return {**answer, "source": "migration", "reason": body.reason}


def resident_enrol(
    conn: Connection, principal: Principal, psn_no: str, body: EnrolmentIn, now: datetime
) -> dict:
    """Resident (390) enrolment: days 1–24, effective the 1st of next month to 30 June; the
    period is unpaid until a payment (or the admin's migration) pays it."""
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
    people.move_money(conn, psn_no, body.amount, "credit", body.reason[:40] or None, now)
    audit(conn, principal, "account.credit", psn_no, detail={"amount": body.amount}, at=now)
    return {"psn_no": psn_no, "acct_balance": people.balance(conn, psn_no)}


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
    people.set_query_password_hash(conn, psn_no, hash_password(body.new_password))
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
    issued = cards.of_person(conn, person.psn_no)
    return PersonFacts(
        birth_date=person.brdy,
        household_register_no=person.household_register_no,
        identity_documents=people.documents(conn, person.psn_no),
        # "with no card issued" (settlement.md): any card ever issued counts, also a cancelled
        # or replaced one; a lost card's holder has the replacement-receipt path instead.
        has_issued_card=bool(issued),
        pending_replacement_receipts=frozenset(
            c.replacement_receipt_no
            for c in issued
            if c.status == "lost" and c.replacement_receipt_no
        ),
        origin=person.origin,
    )
