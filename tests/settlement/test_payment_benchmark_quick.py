"""The payment-order benchmark runs (``--quick``) and prints its JSON line (issue 20)."""

from __future__ import annotations

from tests.fixtures.benchmarks import run_quick


def test_payment_orders_quick():
    result = run_quick("payment_orders.py", timeout=180)
    for key in ("payments_per_s", "p50_ms", "p99_ms", "minutes_for_35000"):
        assert isinstance(result[key], (int, float)), key
    assert result["payments"] > 0 and result["errors"] == 0 and result["reconciled"] is True
