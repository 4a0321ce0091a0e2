"""The card benchmark runs in --quick mode and ends with its JSON line."""

from __future__ import annotations

from tests.fixtures.benchmarks import run_quick


def test_card_apdu_benchmark_quick() -> None:
    figures = run_quick("card_apdu.py")
    for key in ("read_record_per_s", "verify_per_s", "internal_auth_per_s"):
        assert isinstance(figures[key], float) and figures[key] > 0
