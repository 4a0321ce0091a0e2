"""The load benchmark runs (``--quick``) and prints its JSON line with the agreed keys.

The run is the session's one ``settlement_load.py --quick --database postgresql --history
200`` (the ``settlement_load_quick`` fixture, tests/settlement/conftest.py): its first run is
the plain ``--quick`` run (SQLite, 2 processes), whose figures are the keys on top of the line.
"""

from __future__ import annotations

import pytest


@pytest.mark.postgres
def test_settlement_load_quick(settlement_load_quick):
    result = settlement_load_quick
    assert result["runs"][0]["database"] == "sqlite"
    for key in (
        "settlements_per_s",
        "p50_ms",
        "p99_ms",
        "baseline_writes_per_s",
        "ratio_to_baseline",
    ):
        assert isinstance(result[key], (int, float)), key
    assert result["settlements"] > 0 and result["errors"] == 0 and result["reconciled"] is True
