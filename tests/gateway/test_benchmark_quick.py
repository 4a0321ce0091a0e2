"""The gateway benchmark runs (``--quick``): the same complete cycles through /v1 and through
the gateway in one run, both settling without errors, and reports the ratio (issue 15)."""

from __future__ import annotations

from tests.fixtures.benchmarks import run_quick


def test_gateway_load_quick():
    result = run_quick("gateway_load.py", timeout=240)
    assert result["v1_settlements"] > 0 and result["gateway_settlements"] > 0
    assert result["v1_errors"] == 0 and result["gateway_errors"] == 0
    for key in ("v1_ms_per_settlement", "gateway_ms_per_settlement", "ratio"):
        assert isinstance(result[key], (int, float)), key
    assert result["targets"] == {"ratio": 1.3}
