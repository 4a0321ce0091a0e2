"""The simulated police register and bank records: their own files, their own answers."""

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from settlement.external.bank_records import (
    BankRecords,
    BankRecordsError,
    luhn_valid,
    seed_bank_records,
)
from settlement.external.police_register import PoliceRegister, generate_population, seed_register
from settlement.rules.citizen_id import birth_date_of, is_valid_ssn, make_ssn, sex_of
from settlement.rules.working_days import LOCAL_TIME


def test_citizen_id_checksum():
    # The GB 11643 worked example.
    assert is_valid_ssn("11010519491231002X")
    assert not is_valid_ssn("110105194912310021")
    assert not is_valid_ssn("11010519491331002X")  # month 13
    ssn = make_ssn("430100", date(1990, 5, 17), 123)
    assert is_valid_ssn(ssn) and sex_of(ssn) == "1" and birth_date_of(ssn) == date(1990, 5, 17)
    assert sex_of(make_ssn("430100", date(1990, 5, 17), 124)) == "2"


def test_population_is_reproducible_and_valid():
    a = generate_population(200, seed=7)
    assert a == generate_population(200, seed=7)
    assert a != generate_population(200, seed=8)
    assert len({c.ssn for c in a}) == 200
    for citizen in a:
        assert is_valid_ssn(citizen.ssn)
        assert sex_of(citizen.ssn) == citizen.sex
        assert birth_date_of(citizen.ssn) == citizen.birth_date
        assert len(citizen.name.encode("gbk")) <= 30


def test_police_register_lookup_and_compare(tmp_path):
    register = seed_register(tmp_path / "police.sqlite", 50, seed=3)
    assert register.count() == 50
    person = generate_population(50, seed=3)[10]
    assert register.lookup(person.ssn) == person
    same = register.compare(
        person.ssn, name=person.name, sex=person.sex, birth_date=person.birth_date
    )
    assert same == []
    diff = register.compare(
        person.ssn,
        name=person.name + "一",
        sex=person.sex,
        birth_date=person.birth_date,
        household_register_no="0",
    )
    assert [m.field for m in diff] == ["name", "household_register_no"]
    assert (
        register.compare("430100199001010000", name="x", sex="1", birth_date=date(1990, 1, 1))
        is None
    )
    # Its own file: a second handle on the same path sees the same people.
    assert PoliceRegister(tmp_path / "police.sqlite").lookup(person.ssn) == person


def test_bank_records_compare_and_open_account(tmp_path):
    path = tmp_path / "bank-102.json"
    records = seed_bank_records(path, bank_code="102", bin_="622202", customers=[("A", "张三")])
    assert records.compare("A", name="张三") == []
    assert records.compare("A", name="张叁") == [("name", "张三", "张叁")]
    assert records.compare("B", name="李四") == []  # a new customer is no mismatch
    opened = datetime(2026, 11, 2, 9, tzinfo=LOCAL_TIME)
    pan1 = records.open_account("B", "李四", opened_at=opened)
    pan2 = records.open_account("A", "张三", opened_at=opened)
    assert pan1 != pan2 and pan1.startswith("622202") and len(pan1) == 16
    assert luhn_valid(pan1) and luhn_valid(pan2)
    records.set_account_status("B", pan1, "frozen")
    reopened = BankRecords(path, bank_code="102", bin_="622202")
    assert [a.status for a in reopened.accounts("B")] == ["frozen"]
    assert json.loads(path.read_text(encoding="utf-8"))["customers"]["B"]["name"] == "李四"
    with pytest.raises(BankRecordsError):
        records.set_account_status("B", "6222020000000000", "closed")
    with pytest.raises(BankRecordsError):
        BankRecords(path, bank_code="103", bin_="622848").customer_name("A")
    assert luhn_valid("4539578763621486") and not luhn_valid("4539578763621487")


def test_account_opening_is_idempotent_by_application(tmp_path):
    """A step 6 retried after a crash gets the account already opened, not a second one."""
    records = BankRecords(tmp_path / "bank-102.json", bank_code="102", bin_="622202")
    opened = datetime(2026, 11, 2, 9, tzinfo=LOCAL_TIME)
    first = records.open_account("C", "王五", opened_at=opened, reference="AP1")
    again = BankRecords(tmp_path / "bank-102.json", bank_code="102", bin_="622202")
    assert again.open_account("C", "王五", opened_at=opened, reference="AP1") == first
    other = again.open_account("C", "王五", opened_at=opened, reference="AP2")
    assert other != first
    assert [(a.pan, a.reference) for a in again.accounts("C")] == [(first, "AP1"), (other, "AP2")]


def _open_many(path: str, prefix: str, count: int) -> list[str]:
    records = BankRecords(path, bank_code="102", bin_="622202")
    opened = datetime(2026, 11, 2, 9, tzinfo=LOCAL_TIME)
    return [
        records.open_account(f"{prefix}{i}", "某", opened_at=opened, reference=f"{prefix}{i}")
        for i in range(count)
    ]


def test_account_numbers_unique_across_processes(tmp_path):
    """Several service workers (processes) share one bank file: no lost update, no PAN twice."""
    from concurrent.futures import ProcessPoolExecutor

    path = str(tmp_path / "bank-102.json")
    BankRecords(path, bank_code="102", bin_="622202")
    with ProcessPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(_open_many, [path] * 3, ["P", "Q", "R"], [25] * 3))
    pans = [pan for chunk in results for pan in chunk]
    assert len(set(pans)) == 75
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    assert data["next_account"] == 76 and len(data["customers"]) == 75
