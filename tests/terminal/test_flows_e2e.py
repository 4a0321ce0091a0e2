"""The issue's must-show flows, end to end: real uvicorn service, real cards, real readers.

Each test runs twice: with the card in-process and with the card in a real
pcscd + vpcd reader (``card_reader`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from card.crypto import Algorithm
from terminal import emv
from terminal.client.http import ServiceRefused
from terminal.flows import bank, desk, pins
from terminal.flows.common import CardRefused
from terminal.psam import NotEntitled
from terminal.readers.base import ReaderError
from terminal.session import CardSession, PinBlocked, WrongPin

FEES = [
    # 3000 yuan class A, 1000 yuan class B (10 % pre-self-pay), 200 yuan class C
    {
        "feedetl_sn": "0001",
        "med_list_codg": "A001",
        "med_list_name": "bed",
        "list_type": "A",
        "cnt": 10,
        "pric": 30_000,
    },
    {
        "feedetl_sn": "0002",
        "med_list_codg": "B001",
        "med_list_name": "stent",
        "list_type": "B",
        "cnt": 1,
        "pric": 100_000,
    },
    {
        "feedetl_sn": "0003",
        "med_list_codg": "C001",
        "med_list_name": "single room",
        "list_type": "C",
        "cnt": 2,
        "pric": 10_000,
    },
    {
        "feedetl_sn": "0004",
        "med_list_codg": "A001",
        "med_list_name": "bed",
        "list_type": "A",
        "cnt": -1,
        "pric": 30_000,
        "init_feedetl_sn": "0001",
    },  # one night refunded
]


def pins_from(*values: str):
    queue = list(values)
    return lambda prompt: queue.pop(0)


@contextmanager
def session(reader, psam) -> Iterator[CardSession]:
    with reader.connect() as connection:
        yield CardSession(connection, psam, connection.atr)


def admit(world, reader, patient, pin="123456"):
    with world.hospital.client(world.url) as client, session(reader, world.hospital.psam) as s:
        return desk.admit_with_card(
            s, client, pins_from(pin), dept_name="cardiology", dise_name="angina"
        )


def test_admit_fees_discharge_with_correct_split(world, card_reader):
    patient = world.patient()
    reader = card_reader(patient.image)
    admission = admit(world, reader, patient)
    assert admission.record["auth_method"] == "card"
    assert admission.record["insutype"] == "310"  # read from the card's DF04
    with world.hospital.client(world.url) as client:
        uploaded = desk.upload_fees(client, admission.mdtrt_id, FEES)
        assert uploaded["accepted"] == ["0001", "0002", "0003", "0004"]
        again = desk.upload_fees(client, admission.mdtrt_id, FEES[:2])  # resend: no-op
        assert again["duplicates"] == ["0001", "0002"]
        with session(reader, world.hospital.psam) as s:
            receipt = desk.discharge_with_card(
                s, client, pins_from("123456"), admission.mdtrt_id, acct_used_flag=True
            )
    s = receipt.settlement
    # medfee 270 000 + 100 000 + 20 000 = 390 000 fen; class C 20 000; class B share 10 000
    assert s["medfee_sumamt"] == 390_000
    assert s["fulamt_ownpay_amt"] == 20_000
    assert s["preselfpay_amt"] == 10_000
    assert s["inscp_scp_amt"] == 360_000
    # level-3 hospital, employee: deductible 80 000, fund 80 % of the rest
    assert receipt.fund == (360_000 - 80_000) * 80 // 100 == 224_000
    assert receipt.account == 50_000  # the whole balance
    assert receipt.cash == 390_000 - 224_000 - 50_000
    assert receipt.fund + receipt.account + receipt.cash == receipt.total


def test_wrong_pin_blocks_then_bank_unblocks_then_settles(world, card_reader):
    patient = world.patient(algorithm=Algorithm.SM4)  # 3rd generation: 16-byte nonces
    reader = card_reader(patient.image)
    for left in (2, 1, 0):
        with pytest.raises(WrongPin) as info:
            admit(world, reader, patient, pin="000000")
        assert info.value.tries_left == left
    with pytest.raises(PinBlocked):  # the desk is refused even with the right PIN
        admit(world, reader, patient, pin="123456")
    assert admissions_of(world, patient) == []  # nothing was admitted
    # the holder goes to a bank branch (any partner bank may unblock the SSSE PIN)
    with world.bank103.client(world.url) as client, session(reader, world.bank103.psam) as s:
        result = pins.unblock_ssse_pin(s, client)
    assert result.operation == "unblock" and result.tries_left == 3
    assert audit_rows(world, world.bank103.code, patient.card_no, outcome="ok")  # audited
    admission = admit(world, reader, patient)
    with world.hospital.client(world.url) as client:
        desk.upload_fees(client, admission.mdtrt_id, FEES[:1])
        with session(reader, world.hospital.psam) as s:
            receipt = desk.discharge_with_card(s, client, pins_from("123456"), admission.mdtrt_id)
    assert receipt.total == 300_000


def test_ordinary_hospital_cannot_reset_any_pin(world, card_reader):
    patient = world.patient()
    reader = card_reader(patient.image)
    with world.hospital.client(world.url) as client:
        with session(reader, world.hospital.psam) as s:
            with pytest.raises(NotEntitled):
                pins.unblock_ssse_pin(s, client, new_pin="111111")
            assert s.apdu_count == 0  # refused by the PSAM before any byte
            with pytest.raises(NotEntitled):
                bank.bank_pin(s, client, new_pin="1111")
            assert s.apdu_count == 0
        # asked directly, the service refuses (and audits the refusal)
        for pin, operation in (("ssse", "reset"), ("ssse", "unblock"), ("bank", "reset")):
            with pytest.raises(ServiceRefused) as info:
                client.report_pin_operation(patient.card_no, pin, operation, "attempted")
            assert info.value.code == "not_entitled"
            assert client.pin_authority(patient.card_no, pin, operation)["allowed"] is False
    refusals = audit_rows(world, world.hospital.code, patient.card_no, outcome="refused")
    assert len(refusals) >= 3 and {row[1] for row in refusals} == {"not_entitled"}
    # the card centre may: reset to a new PIN, which the holder then uses at the desk
    with world.centre.client(world.url) as client, session(reader, world.centre.psam) as s:
        result = pins.unblock_ssse_pin(s, client, new_pin="975310")
    assert result.operation == "reset" and result.tries_left == 3
    assert admit(world, reader, patient, pin="975310").record["auth_method"] == "card"


def test_bank_pin_only_by_the_issuing_bank(world, card_reader):
    patient = world.patient(bank_code="102")
    reader = card_reader(patient.image)
    with world.bank103.client(world.url) as client, session(reader, world.bank103.psam) as s:
        with pytest.raises(NotEntitled, match="issued by bank 102"):
            bank.bank_pin(s, client, new_pin="2468")
        with pytest.raises(ServiceRefused) as info:
            client.report_pin_operation(patient.card_no, "bank", "reset", "attempted")
        assert info.value.code == "not_entitled"
    with world.bank102.client(world.url) as client, session(reader, world.bank102.psam) as s:
        result = bank.bank_pin(s, client, new_pin="2468")
        assert result.pin == "bank" and result.operation == "reset"
        # the new bank PIN works on the card; the SSSE PIN is untouched
        emv.read_financial_app(s)
        from card.emv_script import pin_block

        assert s.exchange(bytes.fromhex("0020008008") + pin_block("2468"))[1] == 0x9000
        s.select_ssse()
        s.verify_pin("123456")


def test_holder_changes_bank_pin_with_the_old_one_at_the_issuing_bank(world, card_reader):
    """card.md §What real cards do: the issuing bank's script 84 24 00 01, old PIN required."""
    patient = world.patient(bank_code="102")
    reader = card_reader(patient.image)
    with world.bank102.client(world.url) as client, session(reader, world.bank102.psam) as s:
        with pytest.raises(WrongPin) as info:
            bank.bank_pin(s, client, new_pin="2468", old_pin="000000")
        assert info.value.tries_left == 2
        result = bank.bank_pin(s, client, new_pin="2468", old_pin="123456")
        assert result.pin == "bank" and result.operation == "change"
        emv.read_financial_app(s)
        from card.emv_script import pin_block

        assert s.exchange(bytes.fromhex("0020008008") + pin_block("2468"))[1] == 0x9000
        # the holder's own CHANGE PIN is refused in the bank application
        assert s.exchange(bytes.fromhex("805E010007123456FF135790"))[1] == 0x6985


def test_lost_card_refused_then_replacement_receipt_exemption(world, card_reader):
    patient = world.patient()
    reader = card_reader(patient.image)
    with world.bank102.client(world.url) as client:
        loss = client.report_loss(patient.card_no, "lost on the bus")
    receipt_no = loss["replacement_receipt_no"]
    with pytest.raises(CardRefused) as info:
        admit(world, reader, patient)
    assert info.value.code == "card_lost"
    assert "reported lost" in str(info.value)
    with world.hospital.client(world.url) as client:
        with pytest.raises(ServiceRefused) as refused:  # the service refuses it too
            client.challenge(patient.card_no, "admission")
        assert refused.value.code == "card_lost"
        wrong = desk.exemption_evidence(
            "lost_card_receipt", receipt_no="RR0000000000000000", certno=patient.certno
        )
        with pytest.raises(ServiceRefused) as refused:
            desk.admit_exempt(
                client,
                patient.psn_no,
                wrong,
                dept_name="ortho",
                dise_name="fracture",
                insutype="310",
            )
        assert refused.value.code == "exemption_refused"
        evidence = desk.exemption_evidence(
            "lost_card_receipt", receipt_no=receipt_no, certno=patient.certno
        )
        admission = desk.admit_exempt(
            client,
            patient.psn_no,
            evidence,
            dept_name="ortho",
            dise_name="fracture",
            insutype="310",
        )
        assert admission.record["auth_method"] == "lost_card_receipt"
        desk.upload_fees(client, admission.mdtrt_id, FEES[:1])
        settled = desk.discharge_exempt(client, admission.mdtrt_id, evidence)
        assert settled.total == 300_000


def test_card_removed_mid_flow_leaves_nothing_half_done(world, card_reader):
    patient = world.patient()
    reader = card_reader(patient.image)
    holder = {}

    def pull_card_then_type(prompt: str) -> str:
        holder["removed"] = True
        card_reader.pull(reader)
        return "123456"

    with world.hospital.client(world.url) as client, session(reader, world.hospital.psam) as s:
        # CardRemoved in-process; over PC/SC pcscd may report a failed transaction instead
        with pytest.raises(ReaderError):
            desk.admit_with_card(s, client, pull_card_then_type, dept_name="er", dise_name="fall")
        assert holder["removed"]
    assert admissions_of(world, patient) == []


def admissions_of(world, patient) -> list[dict]:
    with world.hospital.client(world.url) as client:
        answer = client.request("GET", "/v1/admissions", params={"psn_no": patient.psn_no})
    return answer["admissions"]


def audit_rows(world, institution: str, card_no: str, *, outcome: str) -> list[tuple]:
    """Rows of the service's append-only audit log (read from its real SQLite file)."""
    import sqlite3

    path = world.service.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT action, code FROM audit_log WHERE institution_code = ? AND outcome = ? "
            "AND (subject = ? OR detail LIKE ?)",
            (institution, outcome, card_no, f"%{card_no}%"),
        ).fetchall()
