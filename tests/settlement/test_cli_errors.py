"""The admin CLI answers an unusable database with a message, never a traceback."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "command",
    [
        ["create-institution", "--kind", "hospital", "--level", "3", "H430100099"],
        ["report"],
    ],
)
def test_unmigrated_database_is_a_clear_error(tmp_path, command) -> None:
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "settlement", *command, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "python -m settlement migrate" in done.stderr
    assert "never-migrated.db" in done.stderr


def test_unreachable_database_is_a_clear_error() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "settlement",
            "report",
            "--database-url",
            "postgresql+psycopg://nobody:secret@127.0.0.1:1/none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "Connection refused" in done.stderr or "connection" in done.stderr.lower()
    assert "secret" not in done.stderr  # credentials are redacted


def _cli(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "SSCARD_HOME": str(home)}
    env.pop("SSCARD_DATABASE_URL", None)
    env.pop("SSCARD_KEYSTORE", None)
    return subprocess.run(
        [sys.executable, "-m", "settlement", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_migrate_creates_a_fresh_home_and_the_cli_checks_bank_codes(tmp_path) -> None:
    home = tmp_path / "not" / "yet" / "there"
    migrated = _cli("migrate", home=home)
    assert migrated.returncode == 0, migrated.stderr
    assert (home / "settlement.db").is_file()

    unknown = _cli(
        "create-institution", "--kind", "bank_branch", "--bank-code", "999", "B9", home=home
    )
    assert unknown.returncode == 1
    assert "bank_unknown" in unknown.stderr and "Traceback" not in unknown.stderr

    known = _cli(
        "create-institution", "--kind", "bank_branch", "--bank-code", "102", "B1", home=home
    )
    assert known.returncode == 0, known.stderr
    assert '"bank_code": "102"' in known.stdout
