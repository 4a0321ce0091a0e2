"""The terminal's card steps against the real in-process card (card.icc + card.issue).

Card side of the desk, PIN service and card centre flows without the service:
reading and authenticating, PIN errors, the proof cryptogram, RESET RETRY
COUNTER with the PSAM's MAC, UPDATE RECORD after key 04, the bank's issuer
script, and a card pulled out mid-session.
"""

from __future__ import annotations

import secrets

import pytest

from card.crypto import Algorithm, encrypt_ecb
from card.emv_script import pin_block as emv_pin_block
from card.emv_script import pin_change_script
from card.icc import VirtualCard
from card.issue import CardHolder, new_card, sample_holder
from card.keystore import KeyStore
from terminal import apdu, emv
from terminal.flows.centre import update_holder
from terminal.flows.common import read_card
from terminal.psam import CardNotGenuine, NotEntitled, Psam, Role
from terminal.readers.base import CardRemoved
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession, PinBlocked, WrongPin


@pytest.fixture(scope="module")
def issuer() -> KeyStore:
    return KeyStore.generate()


@pytest.fixture(scope="module")
def psams(issuer) -> dict[str, Psam]:
    return {
        "hospital": Psam.provision(issuer, "H1", Role.HOSPITAL),
        "pin_hospital": Psam.provision(issuer, "H3", Role.HOSPITAL, pin_service=True),
        "pharmacy": Psam.provision(issuer, "P1", Role.PHARMACY),
        "centre": Psam.provision(issuer, "CC", Role.CARD_CENTRE),
        "bank102": Psam.provision(issuer, "B102", Role.BANK_BRANCH, bank_code="102"),
        "bank103": Psam.provision(issuer, "B103", Role.BANK_BRANCH, bank_code="103"),
    }


@pytest.fixture(params=[Algorithm.TDES, Algorithm.SM4], ids=["3des", "sm4"])
def card(request, issuer, tmp_path):
    holder = CardHolder(name="欧阳娜娜", ssn=sample_holder().ssn, sex="2")
    image = new_card(
        tmp_path / "card.json",
        holder,
        keystore=issuer,
        algorithm=request.param,
        region="430100",
        card_number="X00000019",
        psn_no="43010000000000000001",
        bank_code="102",
    )
    return VirtualCard.open(tmp_path / "card.json"), holder, image


def open_session(virtual: VirtualCard, psam: Psam) -> tuple[InProcessReader, CardSession]:
    reader = InProcessReader(virtual)
    connection = reader.connect()
    return reader, CardSession(connection, psam, connection.atr)


def test_hospital_reads_authenticates_and_reads_df04(card, psams):
    virtual, holder, _ = card
    _, session = open_session(virtual, psams["hospital"])
    read = read_card(session)
    assert read.issuance.card_number == "X00000019"
    assert read.holder.name == "欧阳娜娜" and read.holder.ssn == holder.ssn
    assert read.holder.sex == "2"
    assert read.medical is not None and read.medical.psn_no == "43010000000000000001"
    assert read.medical.insurance_type == "310"
    # SELECT, EF05, GET CHALLENGE + INTERNAL AUTH + GET CHALLENGE + EXTERNAL AUTH 0A (the real
    # order, card.md §What real cards do), EF06, GET CHALLENGE + EXTERNAL AUTH 07, DF04
    assert session.apdu_count == 1 + 7 + 4 + 7 + 2 + 1 + 4


def test_card_of_another_issuer_is_not_genuine(card):
    virtual, _, _ = card
    foreign = Psam.provision(KeyStore.generate(), "H9", Role.HOSPITAL)
    _, session = open_session(virtual, foreign)
    with pytest.raises(CardNotGenuine):
        session.read_public()  # authenticates the card before EF06


def test_pharmacy_never_touches_df04(card, psams):
    virtual, _, _ = card
    _, session = open_session(virtual, psams["pharmacy"])
    read = read_card(session)
    assert read.medical is None
    sent = session.apdu_count
    with pytest.raises(NotEntitled):
        session.read_medical()
    assert session.apdu_count == sent  # refused before anything went to the card


def test_proof_is_k02_over_the_nonce_and_needs_the_pin(card, psams, issuer):
    virtual, _, image = card
    _, session = open_session(virtual, psams["hospital"])
    read_card(session)
    nonce = secrets.token_bytes(image.algorithm.block_size)
    with pytest.raises(apdu.CardStatusError) as info:
        session.card_present_proof(nonce)
    assert info.value.sw == 0x6982
    session.verify_pin("123456")
    cryptogram = session.card_present_proof(nonce)
    key02 = issuer.card_key(image.algorithm, 0x02, "430100", image.card_factor)
    assert cryptogram == encrypt_ecb(image.algorithm, key02, nonce)


def test_three_wrong_pins_block_then_centre_resets(card, psams):
    virtual, _, _ = card
    _, session = open_session(virtual, psams["hospital"])
    read_card(session)
    for left in (2, 1, 0):
        with pytest.raises(WrongPin) as info:
            session.verify_pin("000000")
        assert info.value.tries_left == left
    with pytest.raises(PinBlocked):
        session.verify_pin("123456")
    # an ordinary hospital may not unblock: refused before any byte
    sent = session.apdu_count
    with pytest.raises(NotEntitled):
        session.reset_retry_counter("654321")
    assert session.apdu_count == sent

    _, centre = open_session(virtual, psams["centre"])
    read_card(centre)
    centre.reset_retry_counter("654321")
    assert centre.pin_tries_left() == 3
    centre.verify_pin("654321")


def test_bank_unblock_keeps_pin_value(card, psams):
    virtual, _, _ = card
    _, session = open_session(virtual, psams["bank103"])
    read_card(session)
    for _ in range(3):
        with pytest.raises(WrongPin):
            session.verify_pin("999999")
    session.reset_retry_counter(None)  # any partner bank may unblock the SSSE PIN
    session.verify_pin("123456")


def test_centre_updates_holder_data_after_key_04(card, psams):
    virtual, _, _ = card
    _, hospital = open_session(virtual, psams["hospital"])
    with pytest.raises(NotEntitled):
        update_holder(hospital, {"name": "王五"})
    _, session = open_session(virtual, psams["centre"])
    result = update_holder(session, {"name": "司马相如", "birth_date": "1979-02-03"})
    assert result.before.name == "欧阳娜娜"
    assert result.after.name == "司马相如"
    assert str(result.after.birth_date) == "1979-02-03"
    # without key 04 in the session the card itself refuses
    _, plain = open_session(virtual, psams["centre"])
    plain.select_ssse()
    with pytest.raises(apdu.CardStatusError) as info:
        plain.update_record(apdu.SFI_HOLDER, 4, bytes([0x0A, 0x01]) + b"1")
    assert info.value.sw == 0x6982


def test_issuing_bank_resets_bank_pin_by_script(card, psams):
    virtual, _, _ = card
    _, session = open_session(virtual, psams["bank102"])
    read_card(session)
    assert psams["bank103"].bank_for_pan("6222020000000000001") == "102"
    with pytest.raises(NotEntitled, match="issued by bank 102"):
        psams["bank103"].issuer_keys("102", "reset the bank PIN")
    app = emv.read_financial_app(session)
    assert psams["bank102"].bank_for_pan(app.pan) == "102"
    arqc = emv.generate_arqc(session, app)
    with pytest.raises(NotEntitled):
        psams["bank103"].bank_pin_script("102", app.pan, app.pan_sequence, arqc.atc, arqc.ac, "1")
    script = psams["bank102"].bank_pin_script(
        "102", app.pan, app.pan_sequence, arqc.atc, arqc.ac, "8642"
    )
    keys = psams["bank102"].issuer_keys("102", "reset the bank PIN")
    assert script == pin_change_script(keys, app.pan, app.pan_sequence, arqc.atc, arqc.ac, "8642")
    session.send(script, "PIN CHANGE script")
    verify_bank = bytes([0x00, 0x20, 0x00, 0x80, 0x08]) + emv_pin_block("8642")
    assert session.exchange(verify_bank)[1] == 0x9000
    # the SSSE PIN is untouched by the bank PIN reset
    session.select_ssse()
    session.verify_pin("123456")


def test_card_pulled_mid_session(card, psams):
    virtual, _, _ = card
    reader, session = open_session(virtual, psams["hospital"])
    session.read_public()
    reader.remove()
    with pytest.raises(CardRemoved):
        session.authenticate()
