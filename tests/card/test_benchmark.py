"""The card benchmark runs in --quick mode and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_card_apdu_benchmark_quick() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/card_apdu.py", "--quick"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("read_record_per_s", "verify_per_s", "internal_auth_per_s"):
        assert isinstance(figures[key], float) and figures[key] > 0
