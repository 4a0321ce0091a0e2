"""The reader round-trip benchmark runs and prints its JSON line (``--quick``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.pcsc
def test_reader_roundtrip_quick(pcsc_rig) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "reader_roundtrip.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("pcsc_median_us", "inprocess_median_us", "floor_median_us", "ratio_to_floor"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["apdus"] == 100
    # Far from the 40 ms delayed-ACK stall of a naive vpcd card, even on a busy machine.
    assert result["pcsc_median_us"] < 5000
