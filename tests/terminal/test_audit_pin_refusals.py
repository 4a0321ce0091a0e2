"""Issue 6 audit: a PIN operation refused at the terminal leaves a row in the service's audit log.

settlement.md §PIN authority: "the service refuses and audits operations outside the role".
The PSAM refuses before any byte goes to the card; the terminal then reports the attempt
(by the card's identification code from the ATR when the card number was not read).
"""

from __future__ import annotations

import pytest

from card.icc import VirtualCard
from terminal.flows import bank, pins
from terminal.psam import NotEntitled
from terminal.readers.inprocess import InProcessReader
from tests.terminal.test_flows_e2e import audit_rows, session


def _reader(patient):
    return InProcessReader(VirtualCard.open(patient.image))


def test_ordinary_hospital_reset_attempt_is_audited(world):
    patient = world.patient()
    reader = _reader(patient)
    with world.hospital.client(world.url) as client, session(reader, world.hospital.psam) as s:
        with pytest.raises(NotEntitled):
            pins.unblock_ssse_pin(s, client, new_pin="111111")
        assert s.apdu_count == 0  # still refused before any byte to the card
        with pytest.raises(NotEntitled):
            bank.bank_pin(s, client, new_pin="1111")
        assert s.apdu_count == 0
    rows = audit_rows(world, world.hospital.code, patient.card_no, outcome="refused")
    assert ("pin.ssse.reset", "not_entitled") in rows
    assert ("pin.bank.reset", "not_entitled") in rows


def test_other_bank_pin_reset_attempt_is_audited(world):
    patient = world.patient(bank_code="102")
    reader = _reader(patient)
    with world.bank103.client(world.url) as client, session(reader, world.bank103.psam) as s:
        with pytest.raises(NotEntitled, match="issued by bank 102"):
            bank.bank_pin(s, client, new_pin="2468")
        with pytest.raises(NotEntitled):
            bank.bank_pin(s, client)  # unblock
    rows = audit_rows(world, world.bank103.code, patient.card_no, outcome="refused")
    assert ("pin.bank.reset", "not_entitled") in rows
    assert ("pin.bank.unblock", "not_entitled") in rows
