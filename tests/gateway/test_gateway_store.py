"""The gateway's hand-written SQL on SQLite and PostgreSQL (settlement/store/gateway.py, the
card look-up of settlement/store/card_auth.py): a nonce spent once, the person fields of
setlinfo, and ``ipt_no`` unique per institution among the stays not cancelled (migration
0176's partial unique index; the look-up in settlement/store/admissions.py, shared by 2401
and /v1/admissions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from settlement.inpatient.admissions import insert_stay
from settlement.migrate import upgrade
from settlement.problems import Problem
from settlement.store import admissions, card_auth
from settlement.store import gateway as store
from settlement.store.db import Database
from settlement.store.tables import T_ADMISSION, T_INSTITUTION, T_PERSON

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('gwstore') / 'db.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    upgrade(url)
    database = Database(url)
    with database.write() as conn:
        for code in ("H1", "H2"):
            conn.execute(
                T_INSTITUTION.insert().values(
                    code=code, name=code, kind="hospital", hospital_level=3, created_at=NOW
                )
            )
        conn.execute(
            T_PERSON.insert().values(
                psn_no="P1",
                psn_name="张三",
                gend="1",
                brdy=date(1980, 5, 17),
                certno="430102198005170011",
                created_at=NOW,
            )
        )
        for n, institution in ((1, "H1"), (2, "H1"), (3, "H1"), (4, "H2")):
            conn.execute(
                T_ADMISSION.insert().values(
                    mdtrt_id=f"M{n}",
                    institution_code=institution,
                    terminal_id="T",
                    psn_no="P1",
                    insutype="310",
                    hospital_level=3,
                    begntime=NOW,
                    adm_date=NOW.date(),
                    auth_method="card",
                    status="admitted",
                    created_at=NOW,
                )
            )
    yield database
    database.dispose()


def test_a_nonce_is_spent_once(db):
    with db.write() as conn:
        assert store.accept_nonce(conn, "tif:p1", "n-1", NOW)
        assert not store.accept_nonce(conn, "tif:p1", "n-1", NOW)
        assert store.accept_nonce(conn, "tif:p2", "n-1", NOW)  # another credential's
        assert store.accept_nonce(conn, "tif:p1", "n-2", NOW)


def test_the_person_fields_of_setlinfo(db):
    with db.read() as conn:
        person = store.person_base(conn, "P1")
        assert store.person_base(conn, "P9") is None
    assert person == store.PersonBase(
        "P1", "resident_id", "430102198005170011", "张三", "1", date(1980, 5, 17)
    )


def _number(conn, mdtrt_id: str, ipt_no: str) -> None:
    conn.execute(
        T_ADMISSION.update().where(T_ADMISSION.c.mdtrt_id == mdtrt_id).values(ipt_no=ipt_no)
    )


def test_ipt_no_is_unique_per_institution_among_live_stays(db):
    with db.write() as conn:
        assert admissions.stay_of_ipt_no(conn, "H1", "ZY1") is None
        _number(conn, "M1", "ZY1")
        _number(conn, "M4", "ZY1")  # another institution's stay: its own number
        assert admissions.stay_of_ipt_no(conn, "H1", "ZY1") == "M1"
        assert admissions.stay_of_ipt_no(conn, "H2", "ZY1") == "M4"
    with pytest.raises(IntegrityError), db.write() as conn:
        _number(conn, "M2", "ZY1")
    with db.write() as conn:  # a cancelled stay frees its number
        conn.execute(
            T_ADMISSION.update().where(T_ADMISSION.c.mdtrt_id == "M1").values(status="cancelled")
        )
        assert admissions.stay_of_ipt_no(conn, "H1", "ZY1") is None
        _number(conn, "M2", "ZY1")
        _number(conn, "M3", "ZY2")
        assert admissions.stay_of_ipt_no(conn, "H1", "ZY1") == "M2"
    with pytest.raises(IntegrityError), db.write() as conn:  # the index, whatever writes it
        conn.execute(
            T_ADMISSION.update().where(T_ADMISSION.c.mdtrt_id == "M3").values(ipt_no="ZY1")
        )
    with db.read() as conn:
        numbers = dict(conn.execute(sa.select(T_ADMISSION.c.mdtrt_id, T_ADMISSION.c.ipt_no)).all())
    assert numbers == {"M1": "ZY1", "M2": "ZY1", "M3": "ZY2", "M4": "ZY1"}


def _auth(token: str, created: datetime, **changes) -> card_auth.CardAuthRecord:
    fields = {
        "token": token,
        "card_no": "A12345678",
        "card_id_code": "430100D156000005" + "AB" * 8,
        "psn_no": "P1",
        "institution_code": "H1",
        "terminal_id": "H1-T1",
        "key_id": "k1",
        "challenge_id": f"c_{token}",
        "created_at": created,
        "expires_at": created + timedelta(minutes=10),
        "pin_challenge_id": None,
        "pin_verified_at": None,
        **changes,
    }
    return card_auth.CardAuthRecord(**fields)


def test_the_card_look_up_of_2401_and_2304(db):
    with db.write() as conn:
        card_auth.insert(conn, _auth("ca_a", NOW - timedelta(minutes=3)))
        card_auth.insert(conn, _auth("ca_b", NOW - timedelta(minutes=1)))
        card_auth.insert(conn, _auth("ca_old", NOW - timedelta(minutes=30)))
        card_auth.mark_pin_verified(conn, "ca_a", "c_pin", NOW - timedelta(minutes=2))
    with db.read() as conn:

        def found(**query) -> str | None:
            record = card_auth.find_recent(conn, institution_code="H1", now=NOW, **query)
            return record.token if record else None

        assert found(card_no="A12345678") == "ca_b"
        assert found(card_no="A12345678", pin_verified=True) == "ca_a"
        assert found(card_no="A12345678", card_sn="430100d156000005" + "ab" * 8) == "ca_b"
        assert found(card_no="A12345678", card_sn="430100D156000005" + "00" * 8) is None
        assert found(token="ca_old") is None
        assert found(token="ca_a", card_no="A12345678", pin_verified=True) == "ca_a"
        record = card_auth.find_recent(conn, institution_code="H1", now=NOW, token="ca_a")
        assert record.pin_verified and record.created_at == NOW - timedelta(minutes=3)
        assert card_auth.find_recent(conn, institution_code="H2", now=NOW, token="ca_a") is None


def test_an_admission_inserted_with_a_taken_number_is_refused_naming_the_index(db):
    """The core maps this (a concurrent admission that took the number first) to 409
    ipt_no_taken: both databases name the column or the index in their message."""
    stay = {
        "institution_code": "H1",
        "terminal_id": "T",
        "psn_no": "P1",
        "insutype": "310",
        "hospital_level": 3,
        "begntime": NOW,
        "adm_date": NOW.date(),
        "dept_name": "",
        "dise_name": "",
        "auth_method": "card",
        "card_no": None,
        "evidence": None,
        "created_at": NOW,
    }
    with db.write() as conn:
        admissions.insert(conn, mdtrt_id="M6", ipt_no="ZY9", **stay)
        assert admissions.stay_of_ipt_no(conn, "H1", "ZY9") == "M6"
    with pytest.raises(IntegrityError) as refused, db.write() as conn:
        admissions.insert(conn, mdtrt_id="M7", ipt_no="ZY9", **stay)
    message = str(refused.value.orig)
    assert "admission.ipt_no" in message or "uq_admission_institution_ipt_no" in message
    # The core answers a lost race for the number (its look-up saw it free) as 409 ipt_no_taken.
    with pytest.raises(Problem) as lost, db.write() as conn:
        insert_stay(conn, "ZY9", mdtrt_id="M8", **stay)
    assert (lost.value.status, lost.value.code) == (409, "ipt_no_taken")
    assert lost.value.extra["ipt_no"] == "ZY9"


def _plan_of(conn, run) -> str:
    """The database's plan of the one statement ``run()`` sends: EXPLAIN QUERY PLAN on SQLite,
    EXPLAIN on PostgreSQL (sequential scans switched off: a table of a few rows would be read
    whole, so the plan shows whether the index can serve the statement at all)."""
    seen = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    ((statement, parameters),) = seen
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(prefix + statement, parameters))


def test_the_listing_by_inpatient_number_seeks_the_unique_index(db):
    """``GET /v1/admissions?ipt_no=`` (admissions.latest) finds its stays through migration
    0176's partial index on (institution, ipt_no), a look-up per hospital for an admin, never
    reading the institution's (or every) stay: the table may hold 500 000 of them."""
    with db.write() as conn:
        _number(conn, "M2", "ZY-PLAN")
    for institution in ("H1", None):  # a hospital's own stays; an admin's, every hospital's
        with db.read() as conn:
            plan = _plan_of(
                conn,
                lambda conn=conn, institution=institution: admissions.latest(
                    conn,
                    institution_code=institution,
                    status=None,
                    psn_no=None,
                    limit=100,
                    ipt_no="ZY-PLAN",
                ),
            )
        if db.engine.dialect.name == "sqlite":  # a search on both columns, per hospital
            seek = "SEARCH admission USING INDEX uq_admission_institution_ipt_no"
            assert f"{seek} (institution_code=? AND ipt_no=?)" in plan, plan
        else:  # the planner weighs a probe per hospital against the index's length
            assert "Index Scan using uq_admission_institution_ipt_no on admission" in plan, plan
            assert "(ipt_no)::text = 'ZY-PLAN'::text" in plan, plan
        assert "SCAN admission" not in plan and "Seq Scan on admission" not in plan, plan
    with db.read() as conn:
        found = admissions.latest(
            conn, institution_code=None, status=None, psn_no=None, limit=9, ipt_no="ZY-PLAN"
        )
    assert [row.mdtrt_id for row in found] == ["M2"]
