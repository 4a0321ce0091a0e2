"""benchmarks/readerlib.py --quick runs and prints its JSON line (pcscd + vpcd, a service)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "readerlib.py"


@pytest.mark.pcsc
def test_quick_run_prints_the_json_keys(pcsc_rig):
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["rounds"] == 5
    assert data["apdus_per_round"] >= 18
    assert data["round_ms_median"] > data["service_ms_median"] > 0
    assert data["trivial_client_ms_median"] > 0
    assert isinstance(data["library_adds_ms"], float)
