"""The history benchmark (issue #19) loads a small year on SQLite and PostgreSQL (``--quick``),
the loaded ledger balances, and it prints its JSON line with the load and report times."""

from __future__ import annotations

import pytest

from tests.fixtures.benchmarks import run_quick


@pytest.mark.postgres
def test_history_quick():
    result = run_quick("history.py", timeout=240)
    assert result["ok"] is True
    assert [run["database"] for run in result["runs"]] == ["sqlite", "postgresql"]
    for run in result["runs"]:
        assert run["stays"] == 300 and run["fee_lines"] >= 300 * 5
        assert run["balanced"] is True and run["ledger_ok"] is True, run["ledger_problems"]
        for key in ("load_s", "stays_per_s", "report_ms", "report_all_ms", "ledger_ms"):
            assert isinstance(run[key], int | float) and run[key] >= 0, key
