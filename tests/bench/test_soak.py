"""The bench soak (benchmarks/bench_soak.py) runs ``--quick`` and ends healthy."""

from __future__ import annotations

import pytest

from tests.fixtures.benchmarks import run_quick


@pytest.mark.pcsc
def test_bench_soak_quick(pcsc_rig: object) -> None:
    result = run_quick("bench_soak.py", timeout=180)
    # Six readers, less those another test process holds a card in (claims are per process).
    assert result["readers"] + result["readers_busy"] == 6 and result["readers"] >= 2
    assert result["unexpected"] == 0
    assert result["pcscd_healthy"] is True
    assert result["images_valid"] == result["images"] == 2 * result["readers"]
    assert result["cycles"] >= 6 and result["apdus"] > 0
