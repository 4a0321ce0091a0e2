"""The load benchmark runs (``--quick``) and prints its JSON line with the agreed keys."""

from __future__ import annotations

from tests.fixtures.benchmarks import run_quick


def test_settlement_load_quick():
    result = run_quick("settlement_load.py", timeout=180)
    for key in (
        "settlements_per_s",
        "p50_ms",
        "p99_ms",
        "baseline_writes_per_s",
        "ratio_to_baseline",
    ):
        assert isinstance(result[key], (int, float)), key
    assert result["settlements"] > 0 and result["errors"] == 0 and result["reconciled"] is True
