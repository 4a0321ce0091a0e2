"""Settings are read and checked in one place (settlement/config.py); a bad value is one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from settlement.config import ConfigError, Settings
from tests.settlement.conftest import CHINA, code_of, idem

SETTLEMENT = Path(__file__).resolve().parents[2] / "settlement"


def test_defaults_come_from_the_home_folder(tmp_path) -> None:
    settings = Settings.from_env(environ={"SSCARD_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'settlement.db'}"
    assert settings.keystore_path is None
    assert settings.challenge_ttl_s == 120
    assert settings.admission_backdate_days == 30
    assert (settings.header_timeout_s, settings.body_timeout_s) == (10, 30)
    assert str(settings.tz) == "Asia/Shanghai"
    assert settings.police_register_path == tmp_path / "external" / "police_register.sqlite"
    assert settings.bank_records_dir == tmp_path / "external" / "banks"
    assert settings.holidays_path is None


def test_values_from_the_environment(tmp_path) -> None:
    settings = Settings.from_env(
        "sqlite:///explicit.db",
        environ={
            "SSCARD_HOME": str(tmp_path),
            "SSCARD_DATABASE_URL": "sqlite:///ignored.db",
            "SSCARD_CHALLENGE_TTL": "7",
            "SSCARD_TIMEZONE": "Europe/Paris",
            "SSCARD_ADMISSION_BACKDATE_DAYS": "0",
            "SSCARD_BANK_RECORDS": "/srv/banks",
            "SSCARD_BODY_TIMEOUT": "45",
        },
    )
    assert settings.body_timeout_s == 45
    assert settings.database_url == "sqlite:///explicit.db"  # --database-url wins
    assert (settings.challenge_ttl_s, settings.admission_backdate_days) == (7, 0)
    assert str(settings.tz) == "Europe/Paris"
    assert settings.bank_records_dir == Path("/srv/banks")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SSCARD_TIMEZONE", "Mars/Olympus_Mons"),
        ("SSCARD_CHALLENGE_TTL", "0"),
        ("SSCARD_CHALLENGE_TTL", "two minutes"),
        ("SSCARD_ADMISSION_BACKDATE_DAYS", "-1"),
        ("SSCARD_ADMISSION_BACKDATE_DAYS", "30.5"),
        ("SSCARD_PAYMENT_ORDER_TTL", "59"),
        ("SSCARD_PAYMENT_ORDER_TTL", "30m"),
        ("SSCARD_LOG_LEVEL", "verbose"),
        ("SSCARD_LOG_FORMAT", "xml"),
        ("SSCARD_HEADER_TIMEOUT", "0"),
        ("SSCARD_HEADER_TIMEOUT", "10s"),
        ("SSCARD_BODY_TIMEOUT", "0"),
        ("SSCARD_BODY_TIMEOUT", "half a minute"),
        ("SSCARD_METRICS_ALLOW", "10.0.0.0/8,intranet"),
        ("SSCARD_TODAY", "15 June"),
        ("SSCARD_TODAY", "2026-06-31"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics"),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_variable(tmp_path, variable, value) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ={"SSCARD_HOME": str(tmp_path), variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable}={value!r}") and "\n" not in message


def test_serve_with_an_invalid_setting_stops_before_any_worker(tmp_path) -> None:
    env = {**os.environ, "SSCARD_HOME": str(tmp_path), "SSCARD_TIMEZONE": "Nowhere/Else"}
    done = subprocess.run(
        [sys.executable, "-m", "settlement", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    expected = (
        "error: SSCARD_TIMEZONE='Nowhere/Else' is not an IANA time zone name "
        "(for example Asia/Shanghai)"
    )
    assert done.stderr.strip().splitlines() == [expected]


def test_only_the_config_module_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(SETTLEMENT))
        for path in SETTLEMENT.rglob("*.py")
        if "migrations" not in path.parts
        and re.search(r"os\.environ|getenv\(", path.read_text(encoding="utf-8"))
    )
    assert readers == ["config.py"]


def test_admission_backdate_limit_is_a_setting(settlement_service_factory) -> None:
    """SSCARD_ADMISSION_BACKDATE_DAYS reaches the admission check (SQLite; not database-specific)."""
    from tests.settlement.conftest import World

    world = World(settlement_service_factory(extra_env={"SSCARD_ADMISSION_BACKDATE_DAYS": "3"}))
    desk = world.terminal()
    psn_no, card = world.insured()
    now = datetime.now(CHINA)
    answer = desk.post(
        "/v1/admissions",
        json={
            "psn_no": psn_no,
            "insutype": "310",
            "begntime": (now - timedelta(days=5)).isoformat(),
            "proof": world.proof(desk, card, "admission"),
        },
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "admission_time_invalid", answer.text
    assert "more than 3 days in the past" in answer.json()["detail"]
    ok = world.admit(desk, psn_no, card, begntime=(now - timedelta(days=2)).isoformat())
    assert ok["adm_date"] == (now - timedelta(days=2)).date().isoformat()


def test_a_fixed_business_date_is_for_simulation_and_tests(tmp_path) -> None:
    """SSCARD_TODAY fixes the business date (the June payment day of the simulation); unset,
    it is today in the business time zone."""
    from datetime import UTC, date, datetime

    fixed = Settings.from_env(environ={"SSCARD_HOME": str(tmp_path), "SSCARD_TODAY": "2026-06-15"})
    late = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)  # 01:30 on the 29th in Shanghai
    assert fixed.business_date(late) == date(2026, 6, 15)
    real = Settings.from_env(environ={"SSCARD_HOME": str(tmp_path)})
    assert (real.fixed_today, real.business_date(late)) == (None, date(2026, 11, 29))
