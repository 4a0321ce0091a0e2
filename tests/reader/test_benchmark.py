"""The reader round-trip benchmark runs and prints its JSON line (``--quick``)."""

from __future__ import annotations

import pytest

from tests.fixtures.benchmarks import run_quick


@pytest.mark.pcsc
def test_reader_roundtrip_quick(pcsc_rig) -> None:
    result = run_quick("reader_roundtrip.py")
    for key in ("pcsc_median_us", "inprocess_median_us", "floor_median_us", "ratio_to_floor"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["apdus"] == 100
    # Far from the 40 ms delayed-ACK stall of a naive vpcd card, even on a busy machine.
    assert result["pcsc_median_us"] < 5000
