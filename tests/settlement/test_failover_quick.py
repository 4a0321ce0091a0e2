"""A PostgreSQL primary stopped under load, its synchronous standby promoted (issue #19,
benchmarks/failover.py --quick): the service reconnects through the multi-host URL, every
acknowledged settlement is on the new primary, clients meet 503 busy with Retry-After (never a
500), and the seconds without service are measured."""

from __future__ import annotations

import pytest

from tests.fixtures.benchmarks import run_quick


@pytest.mark.postgres
def test_failover_quick():
    result = run_quick("failover.py", timeout=240)
    assert result["holds"] is True, result
    assert result["acknowledged"] == result["stored"] > 0
    assert result["missing"] == result["differing"] == result["doubled"] == 0
    assert not [
        status for status in result["statuses"] if status.startswith("5") and status != "503"
    ]
    assert set(result["refusals"]) <= {"503 busy"} and result["retry_after_missing"] == 0
    assert result["probe_statuses"].get("503", 0) > 0  # the switch was seen ...
    # ... and the service came back soon after the promotion.
    assert 0 < result["seconds_without_service"] < result["promote_after_s"] + 15
    assert result["tracebacks_in_logs"] == 0 and result["reconciled"] is True
