"""Steps 5 and 6 on the card alone: the card's own commands, entitlements, read back."""

from __future__ import annotations

from datetime import date

import pytest

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.issue import new_blank_card
from card.keystore import KeyStore
from settlement.external.police_register import generate_population
from terminal.production import (
    BankAccount,
    PersonalisationOrder,
    ProductionError,
    personalise_ssse,
    verify_financial_app,
    verify_ssse,
    write_financial_app,
)
from terminal.psam import NotEntitled, Psam, Role
from terminal.readers.inprocess import InProcessReader
from terminal.session import CardSession

KEYS = KeyStore.generate()
CENTRE = Psam.provision(KEYS, "C430100", Role.CARD_CENTRE)
HOSPITAL = Psam.provision(KEYS, "H1", Role.HOSPITAL)
BANK102 = Psam.provision(KEYS, "B102", Role.BANK_BRANCH, bank_code="102")
BANK103 = Psam.provision(KEYS, "B103", Role.BANK_BRANCH, bank_code="103")


def _order(name: str | None = None) -> PersonalisationOrder:
    person = generate_population(1, seed=99)[0]
    return PersonalisationOrder(
        application_id="AP1",
        card_no="S00000042",
        region="430100",
        issue_date=date(2026, 11, 23),
        expiry_date=date(2036, 11, 23),
        init_org="C430100",
        ssn=person.ssn,
        name=name or person.name,
        sex=person.sex,
        nation="01",
        birthplace="430100",
        birth_date=person.birth_date,
        insurance_type="390",
        psn_no="43010000000000000042",
        bank_code="102",
    )


def _account(order: PersonalisationOrder, bank: str = "102") -> BankAccount:
    return BankAccount(
        "AP1", order.card_no, bank, "6222020000000017", 1, order.issue_date, order.expiry_date
    )


def _blank(tmp_path, algorithm=Algorithm.SM4, bank_code="102", region="430100") -> VirtualCard:
    path = tmp_path / f"blank-{algorithm.value}-{bank_code}.json"
    new_blank_card(path, keystore=KEYS, algorithm=algorithm, region=region, bank_code=bank_code)
    return VirtualCard.open(path)


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_written_by_commands_and_read_back_identically(tmp_path, algorithm):
    card = _blank(tmp_path, algorithm)
    reader = InProcessReader(card)
    order = _order("司马相如欧阳修诸葛孔明上官婉儿慕容复")  # long: spills into the 4E extension
    with reader.connect() as conn:
        done = personalise_ssse(CardSession(conn, CENTRE, conn.atr), order)
    assert done.card_id_code.startswith("430100D156000005") and done.algorithm == algorithm.value
    with reader.connect() as conn:
        check = verify_ssse(
            CardSession(conn, CENTRE, conn.atr),
            order,
            medical_session=CardSession(conn, HOSPITAL, conn.atr),
        )
    assert check.identical, check.differences
    assert check.records_compared == 18
    account = _account(order)
    with reader.connect() as conn:
        write_financial_app(CardSession(conn, BANK102, conn.atr), account, bank_pin="975310")
    with reader.connect() as conn:
        bank_check = verify_financial_app(CardSession(conn, BANK102, conn.atr), account)
    assert bank_check.identical and bank_check.records_compared == 3
    # The card file was only ever changed by the card itself: reopen it and read again.
    reopened = InProcessReader(VirtualCard.open(card.image.path))
    with reopened.connect() as conn:
        assert verify_ssse(CardSession(conn, CENTRE, conn.atr), order).identical


def test_only_the_card_centre_may_personalise_and_only_the_cards_bank_write(tmp_path):
    card = _blank(tmp_path)
    reader = InProcessReader(card)
    order = _order()
    with reader.connect() as conn:
        session = CardSession(conn, HOSPITAL, conn.atr)
        with pytest.raises(NotEntitled):
            personalise_ssse(session, order)
        assert session.apdu_count == 0  # refused before a byte went to the card
    with reader.connect() as conn:
        personalise_ssse(CardSession(conn, CENTRE, conn.atr), order)
    with reader.connect() as conn, pytest.raises(NotEntitled):
        write_financial_app(CardSession(conn, BANK103, conn.atr), _account(order), bank_pin="1234")
    # A bank whose keys the blank card was not made with is refused by the card (6982).
    other = _blank(tmp_path, bank_code="103")
    other_reader = InProcessReader(other)
    with other_reader.connect() as conn:
        personalise_ssse(CardSession(conn, CENTRE, conn.atr), order)
    with other_reader.connect() as conn, pytest.raises(ProductionError, match="not made for"):
        write_financial_app(CardSession(conn, BANK102, conn.atr), _account(order), bank_pin="1234")


def test_read_back_finds_a_difference(tmp_path):
    card = _blank(tmp_path)
    reader = InProcessReader(card)
    order = _order()
    with reader.connect() as conn:
        personalise_ssse(CardSession(conn, CENTRE, conn.atr), order)
    wrong = PersonalisationOrder(**{**order.__dict__, "card_no": "S00000043", "psn_no": "X"})
    with reader.connect() as conn:
        check = verify_ssse(
            CardSession(conn, CENTRE, conn.atr),
            wrong,
            medical_session=CardSession(conn, HOSPITAL, conn.atr),
        )
    assert not check.identical
    assert "EF05 record 7" in check.differences
    assert any(d.startswith("card number") for d in check.differences)
    assert any(d.startswith("person number") for d in check.differences)


def test_blank_card_of_another_region_is_refused(tmp_path):
    reader = InProcessReader(_blank(tmp_path, region="371700"))
    with reader.connect() as conn, pytest.raises(ProductionError, match="region 371700"):
        personalise_ssse(CardSession(conn, CENTRE, conn.atr), _order())
