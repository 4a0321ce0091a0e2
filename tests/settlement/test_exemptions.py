"""Exemptions (settlement.md §Who may settle without the card): accepted only with matching evidence."""

from __future__ import annotations

from datetime import timedelta

from tests.settlement.conftest import code_of, idem, today


def _admit(desk, psn_no, exemption, **extra):
    return desk.post(
        "/v1/admissions",
        json={"psn_no": psn_no, "insutype": "390", "exemption": exemption, **extra},
        headers=idem(),
    )


def _child(world, years_old: int = 5, days: int = 0):
    birth = today().replace(year=today().year - years_old) - timedelta(days=days)
    return world.person(insutype="390", brdy=birth.isoformat(), household_register_no="HK430100777")


def test_child_under_7_with_matching_household_register(world):
    desk = world.terminal()
    psn_no = _child(world)
    answer = _admit(desk, psn_no, {"kind": "child_under_7", "household_register_no": "HK430100777"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["auth_method"] == "child_under_7"
    # and at discharge, the same evidence settles the stay
    mdtrt_id = answer.json()["mdtrt_id"]
    world.fees(desk, mdtrt_id, [("A", 1, 90000)])
    settled = world.settle(
        desk, mdtrt_id, None, exemption={"kind": "child_under_7", "hukou_no": "HK430100777"}
    )
    assert settled["auth_method"] == "child_under_7"


def test_child_wrong_household_register_refused(world):
    desk = world.terminal()
    psn_no = _child(world)
    answer = _admit(desk, psn_no, {"kind": "child_under_7", "household_register_no": "HK000"})
    assert answer.status_code == 403 and code_of(answer) == "exemption_refused"
    assert answer.json()["reason_code"] == "exemption_evidence_mismatch"


def test_child_aged_7_on_admission_date_refused(world):
    desk = world.terminal()
    psn_no = _child(world, years_old=7)
    answer = _admit(desk, psn_no, {"kind": "child_under_7", "household_register_no": "HK430100777"})
    assert answer.json()["reason_code"] == "child_over_age"


def test_child_age_counted_on_admission_date(world):
    """Six on the (earlier) admission date, seven today: accepted."""
    desk = world.terminal()
    birth = today().replace(year=today().year - 7) - timedelta(days=1)  # turned 7 yesterday
    psn_no = world.person(insutype="390", brdy=birth.isoformat(), household_register_no="HK1")
    begntime = f"{(today() - timedelta(days=3)).isoformat()}T09:00:00+08:00"
    answer = _admit(
        desk, psn_no, {"kind": "child_under_7", "household_register_no": "HK1"}, begntime=begntime
    )
    assert answer.status_code == 201, answer.text


def test_child_with_a_card_must_use_it(world):
    desk = world.terminal()
    psn_no = _child(world)
    world.card(psn_no)
    answer = _admit(desk, psn_no, {"kind": "child_under_7", "household_register_no": "HK430100777"})
    assert answer.json()["reason_code"] == "card_issued_must_use"


def test_foreign_document_matching(world):
    desk = world.terminal()
    psn_no = world.person(
        insutype="390", certno="E12345678", psn_cert_type="passport", origin="foreign"
    )
    answer = _admit(
        desk,
        psn_no,
        {"kind": "foreign_document", "document_type": "passport", "document_number": "E12345678"},
    )
    assert answer.status_code == 201, answer.text
    wrong = _admit(
        desk,
        psn_no,
        {"kind": "foreign_document", "document_type": "passport", "document_number": "E99999999"},
    )
    assert wrong.json()["reason_code"] == "exemption_evidence_mismatch"


def test_foreign_document_expired_refused(world):
    desk = world.terminal()
    psn_no = world.person(
        insutype="390",
        certno="X1",
        psn_cert_type="resident_id",
        origin="hong_kong",
        documents=[
            {
                "document_type": "hk_macao_permit",
                "document_number": "H7654321",
                "valid_until": "2021-01-01",
            }
        ],
    )
    answer = _admit(
        desk,
        psn_no,
        {"kind": "foreign_document", "doc_type": "hk_macao_permit", "doc_no": "H7654321"},
    )
    assert answer.json()["reason_code"] == "document_expired"


def test_mainland_person_cannot_use_foreign_document(world):
    desk = world.terminal()
    psn_no = world.person(
        insutype="390",
        origin="mainland",
        documents=[{"document_type": "passport", "document_number": "E5"}],
    )
    answer = _admit(
        desk,
        psn_no,
        {"kind": "foreign_document", "document_type": "passport", "document_number": "E5"},
    )
    assert answer.json()["reason_code"] == "exemption_not_applicable"


def test_lost_card_receipt_while_replacement_pending(world):
    desk = world.terminal()
    psn_no = world.person(insutype="390", certno="430102198005170011")
    card = world.card(psn_no)
    receipt = world.centre.post(f"/v1/cards/{card.card_no}/loss", json={}, headers=idem()).json()
    evidence = {
        "kind": "lost_card_receipt",
        "receipt_no": receipt["replacement_receipt_no"],
        "document_type": "resident_id",
        "document_number": "430102198005170011",
    }
    assert _admit(desk, psn_no, evidence).status_code == 201
    wrong_doc = _admit(desk, psn_no, {**evidence, "document_number": "430102198005170099"})
    assert wrong_doc.json()["reason_code"] == "exemption_evidence_mismatch"
    wrong_receipt = _admit(desk, psn_no, {**evidence, "receipt_no": "RR000"})
    assert wrong_receipt.json()["reason_code"] == "receipt_not_pending"
    # once the new card is collected, the receipt is no longer valid
    new = world.card(psn_no)  # registers a new, collected card for the person
    assert new
    after = _admit(desk, psn_no, evidence)
    assert code_of(after) == "exemption_refused"


def test_lost_card_receipt_of_someone_else_refused(world):
    desk = world.terminal()
    other = world.person(insutype="390")
    other_card = world.card(other)
    receipt = world.centre.post(
        f"/v1/cards/{other_card.card_no}/loss", json={}, headers=idem()
    ).json()
    psn_no = world.person(insutype="390", certno="430102198005170022")
    answer = _admit(
        desk,
        psn_no,
        {
            "kind": "lost_card_receipt",
            "receipt_no": receipt["replacement_receipt_no"],
            "certno": "430102198005170022",
        },
    )
    assert answer.json()["reason_code"] == "receipt_not_pending"


def test_adult_without_card_has_no_exemption(world):
    desk = world.terminal()
    psn_no = world.person(insutype="390", household_register_no="HK9")
    answer = _admit(desk, psn_no, {"kind": "child_under_7", "household_register_no": "HK9"})
    assert answer.json()["reason_code"] == "child_over_age"
    assert (
        code_of(
            desk.post("/v1/admissions", json={"psn_no": psn_no, "insutype": "390"}, headers=idem())
        )
        == "card_required"
    )


def test_refused_exemption_is_audited(world, api):
    import sqlalchemy as sa

    from settlement.store.db import create_engine_for_cli

    desk = world.terminal()
    psn_no = _child(world)
    _admit(desk, psn_no, {"kind": "child_under_7", "household_register_no": "WRONG"})
    engine = create_engine_for_cli(api.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT outcome, code FROM audit_log WHERE subject = :s AND action LIKE 'admission.exemption%'"
            ),
            {"s": psn_no},
        ).all()
    engine.dispose()
    assert ("refused", "exemption_refused") in [tuple(r) for r in rows]
