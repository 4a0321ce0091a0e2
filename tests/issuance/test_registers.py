"""The registers object: built from settings, explicit, per service, in the business time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from settlement.applications.registers import DEFAULT_HOLIDAYS, Registers
from settlement.config import Settings
from settlement.external.bank_records import PartnerBanks, UnknownBank
from settlement.service import Service


def _settings(tmp_path: Path, **overrides) -> Settings:
    values = {
        "database_url": f"sqlite:///{tmp_path / 'settlement.db'}",
        "keystore_path": None,
        "police_register_path": tmp_path / "external" / "police.sqlite",
        "bank_records_dir": tmp_path / "external" / "banks",
    }
    values.update(overrides)
    return Settings(**values)


def test_registers_come_from_settings_and_open_their_files_on_first_use(tmp_path):
    regs = Registers.from_settings(_settings(tmp_path))
    assert regs.police.path == tmp_path / "external" / "police.sqlite"
    assert regs.banks.folder == tmp_path / "external" / "banks"
    assert regs.calendar.holidays  # the packaged development calendar
    assert not (tmp_path / "external").exists()  # nothing created before it is used
    assert regs.police.count() == 0
    assert (tmp_path / "external" / "police.sqlite").exists()
    records = regs.bank("102")
    assert records.bin == "622202" and records.path == tmp_path / "external/banks/bank-102.json"
    assert regs.bank("102") is records  # opened once


def test_an_unknown_bank_is_a_clear_error(tmp_path):
    banks = PartnerBanks(tmp_path, {"102": "622202"})
    with pytest.raises(UnknownBank, match="999 is not a partner bank"):
        banks.records("999")


def test_deadlines_count_days_in_the_configured_business_time_zone(tmp_path):
    """SSCARD_TIMEZONE reaches the card production calendar (it was fixed at UTC+08:00)."""
    late_evening_utc = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)  # 04:00 on 3 Nov in Shanghai
    shanghai = Registers.from_settings(_settings(tmp_path))
    utc = Registers.from_settings(_settings(tmp_path, timezone="UTC"))
    assert shanghai.calendar.local_day(late_evening_utc) == date(2026, 11, 3)
    assert utc.calendar.local_day(late_evening_utc) == date(2026, 11, 2)


def test_each_service_holds_its_own_registers(tmp_path):
    """No module-global registers: two services in one process keep theirs apart."""
    first = Service(_settings(tmp_path / "a"))
    explicit = Registers.from_settings(_settings(tmp_path / "b", holidays_path=DEFAULT_HOLIDAYS))
    second = Service(_settings(tmp_path / "b"), registers=explicit)
    try:
        assert second.registers is explicit
        assert first.registers.police.path == tmp_path / "a" / "external" / "police.sqlite"
        assert first.registers.police.path != second.registers.police.path
    finally:
        first.db.dispose()
        second.db.dispose()
