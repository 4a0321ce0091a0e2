"""Two service processes on one PostgreSQL, one killed with SIGKILL under load (issue #19,
benchmarks/multi_process.py --quick): every acknowledged settlement stored as told, none doubled,
409 idempotency_in_progress and the replay across processes, the report balanced."""

from __future__ import annotations

import pytest

from tests.fixtures.benchmarks import run_quick


@pytest.mark.postgres
def test_multi_process_quick():
    result = run_quick("multi_process.py", timeout=240)
    assert result["holds"] is True, result
    assert result["kills"] >= 1 and result["restart_failures"] == 0
    assert result["connection_failures"] > 0  # requests did meet the killed process
    assert result["acknowledged"] == result["stored"] > 0
    assert result["missing"] == result["differing"] == result["doubled"] == 0
    assert "500" not in result["statuses"]
    across = result["idempotency_across_processes"]
    assert across["a_was_running"] and across["b_during_code"] == "idempotency_in_progress"
    assert across["b_after_replay"] and across["same_settlement"]
    assert result["reconciled"] is True
