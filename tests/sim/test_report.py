"""The report is one self-contained HTML file whose figures are the summary's."""

import json
import re
from datetime import datetime

from rich.console import Console

from hospital_sim.console import summary_table
from hospital_sim.invariants import InvariantResult
from hospital_sim.ledger import Ledger, Refusal, Settlement, summarise, yuan
from hospital_sim.population import CST
from hospital_sim.report import RunInfo, render


def _ledger():
    ledger = Ledger()
    for i, hour in enumerate([9, 9, 11, 15]):
        ledger.admitted()
        ledger.settled(
            Settlement(
                f"S{i}",
                f"M{i}",
                f"P{i}",
                "H1",
                "H1-D1",
                "card_holder",
                "card" if i else "child_under_7",
                datetime(2026, 11, 23, hour, 5, tzinfo=CST),
                10000 + i,
                6000,
                4000 + i,
                1000,
                3000 + i,
            )
        )
        ledger.timed("discharge", 10.0 + i)
    ledger.reversed_("S3")
    ledger.refused(
        Refusal(
            "P9",
            "uninsured",
            "admission",
            "not_covered",
            datetime(2026, 11, 23, 10, tzinfo=CST),
            True,
        )
    )
    return ledger


def test_summary_folds_the_ledger():
    s = summarise(_ledger(), patients=5)
    assert s.settlements == 3 and s.reversals == 1 and s.card_proven == 2
    assert s.exemptions == {"child_under_7": 1}
    assert s.refusals == {"not_covered": 1}
    assert s.per_hour == {9: 2, 11: 1}
    assert s.fund + s.account + s.cash == s.total == 10000 + 10001 + 10002
    assert s.latency_ms["discharge"]["p50"] == 11.0 and s.latency_ms["discharge"]["max"] == 13.0


def test_report_is_self_contained_with_charts_and_matching_numbers():
    s = summarise(_ledger(), patients=5)
    inv = [InvariantResult("no admission settled twice", True, 3, "3 admissions")]
    info = RunInfo(
        1,
        "2026-11-23",
        1,
        5,
        1,
        "inprocess",
        "http://127.0.0.1:1",
        "sqlite",
        1.5,
        (("H1", "Central", 3, True),),
    )
    page = render(info, s, inv)
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "").replace(
        "http://127.0.0.1:1", ""
    )
    assert "<script src" not in page and "<link" not in page
    for section in ("per-hour", "money", "refusals", "exemptions", "latency", "invariants"):
        assert f'id="{section}"' in page
    assert page.count("<svg") == 4
    embedded = json.loads(re.search(r'id="summary">(.*?)</script>', page, re.DOTALL).group(1))
    assert embedded == json.loads(json.dumps(s.as_json()))
    assert f'data-key="settlements">{s.settlements}<' in page
    assert f'data-key="total">{yuan(s.total)}<' in page
    assert "All invariants hold." in page


def test_summary_table_prints_the_same_figures():
    s = summarise(_ledger(), patients=5)
    console = Console(record=True, width=140)
    console.print(summary_table(s, []))
    text = console.export_text()
    assert yuan(s.total) in text and "not_covered" in text and "child_under_7" in text


def test_yuan_formatting():
    assert yuan(123456) == "1,234.56" and yuan(-5) == "-0.05" and yuan(0) == "0.00"
