"""The load benchmark runs (``--quick``) and prints its JSON line with the agreed keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_settlement_load_quick():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "settlement_load.py"), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in (
        "settlements_per_s",
        "p50_ms",
        "p99_ms",
        "baseline_writes_per_s",
        "ratio_to_baseline",
    ):
        assert isinstance(result[key], (int, float)), key
    assert result["settlements"] > 0 and result["errors"] == 0 and result["reconciled"] is True
