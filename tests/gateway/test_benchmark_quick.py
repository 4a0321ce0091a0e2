"""The gateway benchmark runs (``--quick``): the same complete cycles through /v1 and through
the gateway in one run, both settling without errors, and reports the ratio (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gateway_load_quick():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gateway_load.py"), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["v1_settlements"] > 0 and result["gateway_settlements"] > 0
    assert result["v1_errors"] == 0 and result["gateway_errors"] == 0
    for key in ("v1_ms_per_settlement", "gateway_ms_per_settlement", "ratio"):
        assert isinstance(result[key], (int, float)), key
    assert result["targets"] == {"ratio": 1.3}
