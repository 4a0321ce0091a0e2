"""Exemption paths at the desk with the evidence the clerk types, and card-state refusals."""

from __future__ import annotations

import secrets
from datetime import date

import pytest

from card.icc import VirtualCard
from card.issue import citizen_id
from terminal.client.http import ServiceRefused
from terminal.flows import desk
from terminal.flows.common import CardRefused, present_card
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession

from .conftest import REGION


def person(world, **fields) -> str:
    psn_no = REGION + f"{secrets.randbelow(10**14):014d}"
    world.centre_client.request("POST", "/v1/people", json={"psn_no": psn_no, **fields})
    world.admin_client.request(  # a paid period: the admin's migration (docs/api.md)
        "POST",
        "/v1/admin/coverage-migrations",
        json={"psn_no": psn_no, "insutype": "390", "begndate": "2020-01-01", "reason": "test"},
    )
    return psn_no


def admit_and_settle(world, psn_no: str, evidence: dict) -> desk.Receipt:
    with world.hospital.client(world.url) as client:
        admission = desk.admit_exempt(
            client,
            psn_no,
            evidence,
            dept_name="paediatrics",
            dise_name="pneumonia",
            insutype="390",
        )
        assert admission.record["auth_method"] == evidence["kind"]
        desk.upload_fees(
            client,
            admission.mdtrt_id,
            [
                {
                    "feedetl_sn": "1",
                    "med_list_codg": "A9",
                    "med_list_name": "ward",
                    "list_type": "A",
                    "cnt": 3,
                    "pric": 40_000,
                }
            ],
        )
        return desk.discharge_exempt(client, admission.mdtrt_id, evidence, acct_used_flag=False)


def test_child_under_seven_with_household_register(world):
    birth = date(date.today().year - 3, 1, 15)
    psn_no = person(
        world,
        psn_name="小明",
        gend="1",
        brdy=birth.isoformat(),
        household_register_no="430102000777",
        acct_balance=0,
        certno=citizen_id(REGION, birth, secrets.randbelow(1000), "1"),
    )
    wrong = desk.exemption_evidence("child_under_7", household_register_no="430102000000")
    with world.hospital.client(world.url) as client, pytest.raises(ServiceRefused) as info:
        desk.admit_exempt(client, psn_no, wrong, dept_name="p", dise_name="d", insutype="390")
    assert info.value.code == "exemption_refused"
    receipt = admit_and_settle(
        world,
        psn_no,
        desk.exemption_evidence("child_under_7", household_register_no="430102000777"),
    )
    assert receipt.total == 120_000 and receipt.account == 0
    assert receipt.fund + receipt.cash == 120_000


def test_foreign_insured_with_passport(world):
    psn_no = person(
        world,
        psn_name="John Smith",
        gend="1",
        brdy="1975-03-02",
        certno="E12345678",
        psn_cert_type="passport",
        origin="foreign",
        acct_balance=0,
    )
    evidence = desk.exemption_evidence(
        "foreign_document", document_type="passport", document_number="E12345678"
    )
    receipt = admit_and_settle(world, psn_no, evidence)
    assert receipt.total == 120_000


def test_evidence_is_checked_before_the_service_is_asked():
    with pytest.raises(desk.DeskError, match="household register"):
        desk.exemption_evidence("child_under_7")
    with pytest.raises(desk.DeskError, match="receipt"):
        desk.exemption_evidence("lost_card_receipt", certno="430102198005010011")
    with pytest.raises(desk.DeskError, match="unknown exemption"):
        desk.exemption_evidence("vip")


def test_expired_card_is_refused_with_its_reason(world):
    patient = world.patient(expiry=date(2025, 1, 1))
    reader = InProcessReader(VirtualCard.open(patient.image))
    with (
        world.hospital.client(world.url) as client,
        reader.connect() as connection,
        pytest.raises(CardRefused) as info,
    ):
        present_card(CardSession(connection, world.hospital.psam, connection.atr), client)
    assert info.value.code == "card_expired"
    assert "2025-01-01" in str(info.value)


def test_discharge_with_someone_elses_card_is_refused(world):
    patient, stranger = world.patient(), world.patient()
    with world.hospital.client(world.url) as client:
        reader = InProcessReader(VirtualCard.open(patient.image))
        with reader.connect() as connection:
            session = CardSession(connection, world.hospital.psam, connection.atr)
            admission = desk.admit_with_card(
                session, client, lambda prompt: "123456", dept_name="gi", dise_name="ulcer"
            )
        desk.upload_fees(
            client,
            admission.mdtrt_id,
            [{"feedetl_sn": "1", "med_list_codg": "A1", "list_type": "A", "cnt": 1, "pric": 999}],
        )
        other = InProcessReader(VirtualCard.open(stranger.image))
        with other.connect() as connection, pytest.raises(CardRefused) as info:
            desk.discharge_with_card(
                CardSession(connection, world.hospital.psam, connection.atr),
                client,
                lambda prompt: "123456",
                admission.mdtrt_id,
            )
        assert info.value.code == "card_not_holder"
        assert client.admission(admission.mdtrt_id)["settlement"] is None
