"""The payment-order benchmark runs (``--quick``) and prints its JSON line (issue 20)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_payment_orders_quick():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "payment_orders.py"), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("payments_per_s", "p50_ms", "p99_ms", "minutes_for_35000"):
        assert isinstance(result[key], (int, float)), key
    assert result["payments"] > 0 and result["errors"] == 0 and result["reconciled"] is True
