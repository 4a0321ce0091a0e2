"""The card-production benchmark runs in --quick mode and ends with its JSON line."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_card_production_benchmark_quick():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "card_production.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
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
