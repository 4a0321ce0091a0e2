"""Issue #16: console scripts beside ``python -m``, and ``--version``."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_console_scripts_point_at_callables():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"sscard-settlement", "sscard-terminal", "sscard-card"}
    for target in scripts.values():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), target


def test_version():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "settlement", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "schema 0" in proc.stdout


def test_an_invalid_setting_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "SSCARD_CHALLENGE_TTL": "2m"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "settlement",
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path}/x.db",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "SSCARD_CHALLENGE_TTL" in proc.stderr
