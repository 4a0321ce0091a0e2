"""The card-production benchmark runs in --quick mode and ends with its JSON line."""

from tests.fixtures.benchmarks import run_quick


def test_card_production_benchmark_quick():
    result = run_quick("card_production.py")
    assert set(result) == {
        "cards",
        "cards_per_s",
        "card_ms_median",
        "card_ms_p90",
        "apdus_per_card",
        "algorithm_mix",
    }
    assert result["cards"] == 10 and result["cards_per_s"] > 0
    assert result["apdus_per_card"] > 50  # every record written and read back by command
