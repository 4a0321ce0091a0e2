"""benchmarks/desk_session.py --quick runs and prints its JSON line (over pcscd + vpcd)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "desk_session.py"


@pytest.mark.pcsc
def test_quick_run_prints_the_json_keys(pcsc_rig):
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    # 25 before the real reading order (card.md §What real cards do): + GET CHALLENGE before
    # INTERNAL AUTHENTICATE, + GET CHALLENGE and EXTERNAL AUTHENTICATE 0A
    assert data["apdus_per_admission"] == 28
    assert data["admission_card_ms_median"] > 0
    assert data["inprocess_ms_median"] > 0
    assert data["rounds"] == 10
