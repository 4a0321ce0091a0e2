"""settlement_load.py on PostgreSQL and with a history (issue #19), in its short form: SQLite,
then a private PostgreSQL server with two service processes, empty and loaded with a history;
every run reconciles and the JSON line carries each run and the history/empty ratio."""

from __future__ import annotations

import pytest

from tests.fixtures.benchmarks import run_quick


@pytest.mark.postgres
def test_settlement_load_postgresql_and_history_quick():
    result = run_quick(
        "settlement_load.py", "--database", "postgresql", "--history", "200", timeout=300
    )
    runs = [(r["database"], r["workers"], bool(r["history"])) for r in result["runs"]]
    assert runs == [("sqlite", 2, False), ("postgresql", 2, False), ("postgresql", 2, True)]
    for run in result["runs"]:
        assert run["reconciled"] is True and run["errors"] == 0, run["first_errors"]
        assert run["settlements"] > 0 and run["p99_ms"] > 0
    assert result["runs"][2]["history"]["stays"] == 200
    assert result["history_to_empty"]["postgresql"] > 0
    assert result["settlements_per_s"] == result["runs"][0]["settlements_per_s"]
