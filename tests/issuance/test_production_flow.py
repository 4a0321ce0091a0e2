"""The seven steps through the real service, with cards written through real readers."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest

from settlement.applications.registers import DEFAULT_HOLIDAYS
from settlement.rules.working_days import LOCAL_TIME, HolidayCalendar, local_day
from terminal.cardinfo import identity_from_atr
from terminal.production import PersonalisationOrder, ProductionError, personalise_ssse
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession


def _steps(view: dict) -> dict[str, str]:
    return {s["name"]: s["state"] for s in view["steps"]}


@pytest.mark.pcsc
def test_whole_path_through_a_pcsc_reader(production_world, pcsc_rig):
    w = production_world
    person = w.citizen("李娜")
    view = w.apply(person)
    app_id = view["application_id"]
    assert view["kind"] == "single" and view["status"] == "in_progress"
    assert _steps(view)["accepted"] == "done" and view["next_step"]["name"] == "audited"
    calendar = HolidayCalendar.from_toml(DEFAULT_HOLIDAYS)
    today = local_day(datetime.fromisoformat(view["applied_at"]))
    assert view["deadline"]["due_on"] == calendar.add_working_days(today, 5).isoformat()
    assert view["deadline"]["late"] is False

    card = w.blank_card()
    inserted = pcsc_rig.insert_card(card)
    reader = pcsc_rig.reader(inserted)
    final, _ = w.produce(app_id, reader=reader, collected_by="李娜 (ID card shown)")
    assert final["status"] == "issued"
    assert all(state == "done" for state in _steps(final).values())
    assert final["collected_by"] == "李娜 (ID card shown)"
    assert final["collection_notice_at"] is not None

    # The card is active for settlement and carries exactly what the service registered.
    card_no = final["card_no"]
    state = w.hospital.get(f"/v1/cards/{card_no}").json()
    assert state["status"] == "active"
    assert state["card_id_code"] == final["card_id_code"]
    with reader.connect() as conn:
        assert (
            identity_from_atr(conn.atr).identification_code.hex().upper() == state["card_id_code"]
        )
        public = CardSession(conn, w.psam_hospital, conn.atr).read_public()
    assert public.issuance.card_number == card_no
    assert public.holder.name == "李娜" and public.holder.ssn == person.ssn

    # Who did each step and when: the history names the institutions.
    by = {s["name"]: s["by"] for s in final["steps"]}
    assert by["audited"] == "C430100" and by["compared"] == "B102-0001"
    assert by["account_opened"] == "B102-0001" and by["issued"] == "C430100"
    assert all(s["at"] for s in final["steps"])
    inserted.remove()


def test_progress_query_shows_every_step_and_rate_limits(production_world):
    w = production_world
    person = w.citizen("赵敏", sex="2", born=date(1992, 7, 1))
    app_id = w.apply(person, query_password="zhao-min-2026")["application_id"]
    w.step(w.centre, app_id, "audit")
    answer = w.post(
        w.hospital, "/v1/card-progress", {"certno": person.ssn, "query_password": "zhao-min-2026"}
    )
    [app] = answer["applications"]
    states = _steps(app)
    assert states["accepted"] == "done" and states["audited"] == "done"
    assert states["compared"] == "current" and states["issued"] == "pending"
    assert [s["at"] is not None for s in app["steps"]] == [True, True] + [False] * 5
    assert app["pan"] is None  # nothing of the bank's for the holder's query
    # Wrong passwords: 403 each, then the SSN is locked (429) even for the right one.
    for _ in range(5):
        wrong = w.hospital.post(
            "/v1/card-progress", json={"certno": person.ssn, "query_password": "guess"}
        )
        assert wrong.status_code == 403 and wrong.json()["code"] == "password_invalid"
    locked = w.hospital.post(
        "/v1/card-progress", json={"certno": person.ssn, "query_password": "zhao-min-2026"}
    )
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert locked.json()["retry_after"] > 0
    # An unknown SSN looks the same as a wrong password (no existence oracle).
    other = w.citizen("孙悟", register=False)
    unknown = w.hospital.post(
        "/v1/card-progress", json={"certno": other.ssn, "query_password": "zhao-min-2026"}
    )
    assert unknown.status_code == 403 and unknown.json()["code"] == "password_invalid"


def test_batch_via_employer_has_thirty_working_days(production_world):
    w = production_world
    people = [w.citizen(name) for name in ("周一", "吴二", "郑三")]
    batch = w.post(
        w.centre,
        "/v1/application-batches",
        {
            "employer_code": "E91430100MA4L",
            "employer_name": "Changsha Machine Works",
            "applications": [w.application_body(p) for p in people],
        },
        201,
    )
    assert batch["count"] == 3
    calendar = HolidayCalendar.from_toml(DEFAULT_HOLIDAYS)
    listing = w.centre.get("/v1/applications", params={"batch_id": batch["batch_id"]}).json()
    assert listing["count"] == 3
    for item in listing["applications"]:
        assert item["kind"] == "batch" and item["next_step"] == 2 and item["late"] is False
    view = w.centre.get(f"/v1/applications/{batch['application_ids'][0]}").json()
    today = local_day(datetime.fromisoformat(view["applied_at"]))
    assert view["deadline"]["target_working_days"] == 30
    assert view["deadline"]["due_on"] == calendar.add_working_days(today, 30).isoformat()
    assert batch["due_on"] == view["deadline"]["due_on"]


def test_roles_and_order_are_enforced(production_world):
    w = production_world
    person = w.citizen("钱多")
    app_id = w.apply(person)["application_id"]
    # A hospital cannot move applications; a bank cannot audit; steps cannot be skipped.
    refused = w.hospital.post(
        f"/v1/applications/{app_id}/audit",
        json={},
        headers={"Idempotency-Key": "h-audit-" + app_id},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_entitled"
    assert w.step(w.bank102, app_id, "audit", expect=403)["code"] == "not_entitled"
    assert w.step(w.centre, app_id, "pre-check", expect=409)["code"] == "step_out_of_order"
    w.step(w.centre, app_id, "audit")
    # Another bank's branch may not compare bank 102's application.
    # ... and is told no such application exists (issue 16: 404, the bank is not named).
    assert w.step(w.bank103, app_id, "comparison", expect=404)["code"] == "not_found"
    w.step(w.bank102, app_id, "comparison")
    w.step(w.centre, app_id, "pre-check")
    # Reporting step 5 done without a card read back is refused by the schema.
    bad = w.step(
        w.centre,
        app_id,
        "personalisation",
        {
            "card_no": "S00000000",
            "card_id_code": "00" * 16,
            "algorithm": "sm4",
            "issue_date": "2026-11-23",
            "expiry_date": "2036-11-23",
            "read_back_matches": False,
        },
        expect=422,
    )
    assert bad["code"] == "validation_error"


def test_personalisation_refuses_a_card_of_another_region_or_a_used_card(production_world):
    w = production_world
    person = w.citizen("冯七")
    app_id = w.registered(person)
    order = PersonalisationOrder.from_json(
        w.centre.get(f"/v1/applications/{app_id}/personalisation-order").json()
    )
    card = w.blank_card()
    reader = InProcessReader(card)
    with reader.connect() as conn:
        personalise_ssse(CardSession(conn, w.psam_centre, conn.atr), order)
    with reader.connect() as conn, pytest.raises(ProductionError, match="already personalised"):
        personalise_ssse(CardSession(conn, w.psam_centre, conn.atr), order)
    other = PersonalisationOrder.from_json(
        {
            **w.centre.get(f"/v1/applications/{app_id}/personalisation-order").json(),
            "region": "371700",
        }
    )
    with (
        InProcessReader(w.blank_card()).connect() as conn,
        pytest.raises(ProductionError, match="region"),
    ):
        personalise_ssse(CardSession(conn, w.psam_centre, conn.atr), other)
    # A failed card is recorded as a production fault: the step stays with the centre.
    view = w.step(
        w.centre,
        app_id,
        "rejections",
        {
            "step": 5,
            "reason": "personalisation_failed",
            "detail": "card damaged in printing",
        },
    )
    assert view["status"] == "in_progress" and view["next_step"]["name"] == "personalised"
    assert view["last_failure"]["reason"] == "personalisation_failed"
    assert view["history"][-1]["action"] == "failed"
    final, _ = w.produce(app_id, start_at=5)
    assert final["status"] == "issued"


def test_pre_check_takes_a_number_from_the_card_stock(production_world):
    w = production_world
    a, b = w.citizen("朱一"), w.citizen("朱二")
    ids = [w.apply(p)["application_id"] for p in (a, b)]
    for app_id in ids:
        w.step(w.centre, app_id, "audit")
        w.step(w.bank102, app_id, "comparison")
    number = f"Q{secrets.randbelow(10**8):08d}"
    assert w.step(w.centre, ids[0], "pre-check", {"card_no": number})["card_no"] == number
    clash = w.step(w.centre, ids[1], "pre-check", {"card_no": number}, expect=409)
    assert clash["code"] == "conflict"
    assert w.step(w.centre, ids[1], "pre-check", {"card_no": "bad"}, expect=422)
    final, _ = w.produce(ids[0], start_at=5)
    assert final["card_no"] == number


def test_paper_applications_entered_late_show_their_deadline_and_lateness(production_world):
    """Applications accepted on paper weeks ago: the target counts from the paper date."""
    w = production_world
    calendar = HolidayCalendar.from_toml(DEFAULT_HOLIDAYS)
    now = datetime.now(UTC)
    weeks_ago = now - timedelta(days=21)
    single = w.apply(w.citizen("马超"), applied_at=weeks_ago.isoformat())
    due = calendar.add_working_days(local_day(weeks_ago), 5)
    assert single["deadline"]["due_on"] == due.isoformat()
    assert single["deadline"]["late"] is True  # three weeks > five working days
    assert single["steps"][0]["at"] == weeks_ago.isoformat()
    assert single["deadline"]["working_days_used"] == calendar.working_days_between(
        local_day(weeks_ago), local_day(now)
    )
    batch = w.post(
        w.centre,
        "/v1/application-batches",
        {
            "employer_code": "E-LATE",
            "applied_at": weeks_ago.isoformat(),
            "applications": [w.application_body(w.citizen("马岱"))],
        },
        201,
    )
    view = w.centre.get(f"/v1/applications/{batch['application_ids'][0]}").json()
    assert (
        view["deadline"]["due_on"]
        == calendar.add_working_days(local_day(weeks_ago), 30).isoformat()
    )
    assert view["deadline"]["late"] is False  # 30 working days are six weeks
    # The late single stays late after the card is issued (measured at the collection notice).
    final, _ = w.produce(single["application_id"])
    assert final["status"] == "issued" and final["deadline"]["late"] is True
    listing = w.centre.get("/v1/applications", params={"certno": final["certno"]}).json()
    assert listing["applications"][0]["late"] is True
    future = w.post(
        w.centre,
        "/v1/applications",
        w.application_body(w.citizen("马腾"), applied_at=(now + timedelta(days=2)).isoformat()),
        expect=422,
    )
    assert future["code"] == "validation_error"
    # A paper form dated early in the morning, local time (+08:00): the day and instant
    # survive storage (SQLite keeps no offset; it was read back 8 hours off before).
    morning = (
        (now - timedelta(days=7))
        .astimezone(LOCAL_TIME)
        .replace(hour=7, minute=30, second=0, microsecond=0)
    )
    paper = w.apply(w.citizen("马铁"), applied_at=morning.isoformat())
    assert paper["deadline"]["applied_on"] == morning.date().isoformat()
    assert datetime.fromisoformat(paper["applied_at"]) == morning
    assert datetime.fromisoformat(paper["steps"][0]["at"]) == morning


def test_bank_steps_belong_to_the_applications_own_bank(production_world):
    w = production_world
    person = w.citizen("孟六")
    app_id = w.registered(person)
    card = w.blank_card()
    w.personalise(app_id, InProcessReader(card))
    assert w.step(w.bank103, app_id, "bank-account", expect=404)["code"] == "not_found"
    assert w.step(w.centre, app_id, "bank-account", expect=403)["code"] == "not_entitled"
    early = w.step(
        w.bank102,
        app_id,
        "account-opening",
        {"pan": "6222020000000017", "read_back_matches": True},
        expect=409,
    )
    assert early["code"] == "account_not_opened"
    # The bank's write fails once: recorded as a fault, the step stays with the bank.
    view = w.step(
        w.bank102,
        app_id,
        "rejections",
        {"step": 6, "reason": "bank_write_failed", "detail": "card reader jammed"},
    )
    assert view["status"] == "in_progress" and view["last_failure"]["reason"] == "bank_write_failed"
    wrong = w.step(
        w.bank102, app_id, "rejections", {"step": 6, "reason": "missing_photo"}, expect=409
    )
    assert wrong["code"] == "reason_not_for_step"
    w.open_account(app_id, InProcessReader(card))
    # Step 7 at a branch of another bank is refused: the card is bank 102's.
    other = w.step(w.bank103, app_id, "issuance", {"collected_by": "孟六"}, expect=404)
    assert other["code"] == "not_found"
    # The collection date can be neither in the future nor before the card was ready.
    now = datetime.now(UTC)
    for when in (now + timedelta(days=2), now - timedelta(days=3)):
        bad = w.step(
            w.bank102,
            app_id,
            "issuance",
            {"collected_by": "孟六", "collected_at": when.isoformat()},
            expect=422,
        )
        assert bad["code"] == "validation_error" and "collected_at" in bad["detail"]
    final = w.step(w.bank102, app_id, "issuance", {"collected_by": "孟六"})
    assert final["status"] == "issued" and final["steps"][6]["by"] == "B102-0001"
    # The account opened once, for this card, is the one on the card.
    assert [a.pan for a in w.bank("102").accounts(person.ssn)] == [final["pan"]]


def test_account_opened_by_a_crashed_attempt_is_reconciled_not_doubled(production_world):
    """The bank's file is written before the service commits: a retry finds that account."""
    w = production_world
    person = w.citizen("邹七")
    app_id = w.registered(person)
    card = w.blank_card()
    w.personalise(app_id, InProcessReader(card))
    # An earlier attempt reached the bank and then died before the service's commit.
    orphan = w.bank("102").open_account(
        person.ssn, person.name, opened_at=datetime.now(UTC), reference=app_id
    )
    assert w.step(w.bank102, app_id, "bank-account")["pan"] == orphan
    assert w.open_account(app_id, InProcessReader(card))["pan"] == orphan
    assert [a.pan for a in w.bank("102").accounts(person.ssn)] == [orphan]


def test_progress_query_parallel_guesses_never_exceed_the_limit(production_world):
    """20 wrong passwords at once: at most 5 are even checked, the rest are refused with 429."""
    from concurrent.futures import ThreadPoolExecutor

    w = production_world
    person = w.citizen("谢逊")
    w.apply(person, query_password="xie-xun-2026")
    # The right password is not a failure: asking again and again never locks the holder out.
    for _ in range(7):
        ok = w.hospital.post(
            "/v1/card-progress", json={"certno": person.ssn, "query_password": "xie-xun-2026"}
        )
        assert ok.status_code == 200, ok.text

    def guess(i: int) -> int:
        answer = w.hospital.post(
            "/v1/card-progress", json={"certno": person.ssn, "query_password": f"guess-{i}"}
        )
        return answer.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(guess, range(20)))
    assert codes.count(403) == 5 and codes.count(429) == 15, codes


def test_query_passwords_hashed_before_the_transaction_and_never_fingerprinted(production_world):
    """The idempotency record keeps no digest of the query password (only that one was given)."""
    from settlement.applications.intake import hash_query_passwords
    from settlement.applications.schemas import ApplicationIn
    from settlement.security import password_matches

    w = production_world
    bodies = [
        ApplicationIn(**w.application_body(w.citizen(f"殷{i}"), query_password=pw))
        for i, pw in enumerate(("first-secret", None, "third-secret"))
    ]
    hashes = hash_query_passwords(bodies)
    assert hashes[1] is None
    assert password_matches("first-secret", hashes[0]) and password_matches(
        "third-secret", hashes[2]
    )
    assert not password_matches("third-secret", hashes[0])

    person = w.citizen("殷素素")
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = w.centre.post(
        "/v1/applications", json=w.application_body(person, query_password="123456"), headers=key
    )
    assert first.status_code == 201, first.text
    # Same key, another password: the stored request fingerprint cannot tell them apart,
    # because it holds nothing derived from the password (a 6-digit password's unsalted
    # digest would be as good as the password itself).
    again = w.centre.post(
        "/v1/applications", json=w.application_body(person, query_password="654321"), headers=key
    )
    assert again.status_code == 201 and again.headers.get("Idempotent-Replay") == "true"
    assert again.json()["application_id"] == first.json()["application_id"]
    ok = w.hospital.post(
        "/v1/card-progress", json={"certno": person.ssn, "query_password": "123456"}
    )
    assert ok.status_code == 200, ok.text


def test_list_says_when_it_is_truncated(production_world):
    w = production_world
    batch = w.post(
        w.centre,
        "/v1/application-batches",
        {
            "employer_code": "E-TRUNC",
            "applications": [
                w.application_body(w.citizen(n), query_password=None) for n in ("甲", "乙", "丙")
            ],
        },
        201,
    )
    params = {"batch_id": batch["batch_id"]}
    part = w.centre.get("/v1/applications", params={**params, "limit": 2}).json()
    assert part["count"] == 2 and part["truncated"] is True
    whole = w.centre.get("/v1/applications", params={**params, "limit": 5000}).json()
    assert whole["count"] == 3 and whole["truncated"] is False


def test_query_password_reset_at_the_counter_ends_the_lockout(production_world):
    w = production_world
    person = w.citizen("钱多", sex="1", born=date(1988, 3, 9))
    app_id = w.apply(person, query_password="qian-duo-2026")["application_id"]
    w.step(w.centre, app_id, "audit")
    psn_no = w.centre.get(f"/v1/applications/{app_id}").json()["psn_no"]
    for _ in range(5):
        w.post(
            w.hospital, "/v1/card-progress", {"certno": person.ssn, "query_password": "guess"}, 403
        )
    locked = w.hospital.post(
        "/v1/card-progress", json={"certno": person.ssn, "query_password": "qian-duo-2026"}
    )
    assert locked.status_code == 429
    # The holder goes to the card centre; the clerk resets the query password.
    w.post(
        w.centre,
        f"/v1/people/{psn_no}/query-password",
        {"mode": "reset", "new_password": "qian-new-2026"},
    )
    answer = w.post(
        w.hospital, "/v1/card-progress", {"certno": person.ssn, "query_password": "qian-new-2026"}
    )
    assert [a["application_id"] for a in answer["applications"]] == [app_id]
    # The old password is no longer valid, and wrong guesses count again from zero.
    w.post(
        w.hospital,
        "/v1/card-progress",
        {"certno": person.ssn, "query_password": "qian-duo-2026"},
        403,
    )
