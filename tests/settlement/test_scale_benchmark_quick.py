"""settlement_load.py on PostgreSQL and with a history (issue #19), in its short form: SQLite,
then a private PostgreSQL server with two service processes; then an empty PostgreSQL database
against one loaded with a history, two services side by side in alternating rounds. Every run
and both sides reconcile, and the JSON line carries each run, each side's figures (rate, p99,
server and database CPU per settlement) and the history/empty ratio of their sums. (One run
for the session, shared with test_benchmark_quick.py: the ``settlement_load_quick`` fixture.)"""

from __future__ import annotations

import pytest


@pytest.mark.postgres
def test_settlement_load_postgresql_and_history_quick(settlement_load_quick):
    result = settlement_load_quick
    runs = [(r["database"], r["workers"]) for r in result["runs"]]
    assert runs == [("sqlite", 2), ("postgresql", 2)]
    for run in result["runs"]:
        assert run["reconciled"] is True and run["errors"] == 0, run["first_errors"]
        assert run["settlements"] > 0 and run["p99_ms"] > 0
        # PostgreSQL's own CPU beside the service's (none on SQLite: it is in the service's)
        if run["database"] == "postgresql":
            assert run["database_cpu_ms_per_settlement"] > 0
        else:
            assert run["database_cpu_ms_per_settlement"] is None
    assert list(result["history"]) == ["postgresql"]
    pair = result["history"]["postgresql"]
    assert pair["loaded"]["stays"] == 200 and pair["loaded"]["balanced"] is True
    assert pair["rounds"] == 2 and pair["workers"] == 2
    for side in (pair["empty"], pair["history"]):
        assert side["reconciled"] is True and side["errors"] == 0, side["first_errors"]
        assert side["settlements"] > 0 and side["p99_ms"] > 0
        assert side["server_cpu_ms_per_settlement"] > 0
        assert side["database_cpu_ms_per_settlement"] > 0
    rates = (
        pair["history"]["settlements"] / pair["history"]["seconds"],
        pair["empty"]["settlements"] / pair["empty"]["seconds"],
    )
    assert pair["history_to_empty"] == pytest.approx(rates[0] / rates[1], rel=0.01)
    assert result["history_to_empty"] == {"postgresql": pair["history_to_empty"]}
    cpu = [pair[side]["server_cpu_ms_per_settlement"] for side in ("history", "empty")]
    assert pair["server_cpu_history_to_empty"] == pytest.approx(cpu[0] / cpu[1], rel=0.01)
    assert pair["database_cpu_history_to_empty"] > 0
    assert result["settlements_per_s"] == result["runs"][0]["settlements_per_s"]
