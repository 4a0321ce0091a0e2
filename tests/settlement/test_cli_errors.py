"""The admin CLI answers an unusable database with a message, never a traceback."""

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
