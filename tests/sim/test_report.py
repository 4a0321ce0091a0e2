"""The report is one self-contained HTML file whose figures are the summary's."""

import json
import re
from datetime import datetime

import pytest
from rich.console import Console

from hospital_sim.console import summary_table
from hospital_sim.invariants import InvariantResult
from hospital_sim.labels import EXEMPTIONS, PATIENT_KINDS
from hospital_sim.ledger import Ledger, Refusal, Settlement, summarise, yuan
from hospital_sim.population import CST, PatientKind
from hospital_sim.report import RunInfo, render
from terminal.flows.desk import EXEMPTION_KINDS


def _settlement(i: int, proof: str, settled_at: datetime, *amounts: int) -> Settlement:
    """Settlement S{i} of card holder P{i} at desk H1-D1; amounts in Settlement's order."""
    return Settlement(
        f"S{i}", f"M{i}", f"P{i}", "H1", "H1-D1", "card_holder", proof, settled_at, *amounts
    )


def _ledger():
    ledger = Ledger()
    for i, hour in enumerate([9, 9, 11, 15]):
        ledger.admitted()
        ledger.settled(
            _settlement(
                i,
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


def _two_day_ledger() -> Ledger:
    """Day 1: two at 09h, one at 10h; day 2: one at 09h, three at 14h."""
    ledger = Ledger()
    times = [(22, 9), (22, 9), (22, 10), (23, 9), (23, 14), (23, 14), (23, 14)]
    for i, (day, hour) in enumerate(times):
        ledger.admitted()
        ledger.settled(
            _settlement(
                i, "card", datetime(2026, 11, day, hour, 30, tzinfo=CST), 1000, 600, 300, 100, 300
            )
        )
    return ledger


def _bars(svg: str) -> dict[str, int]:
    return {label: int(n) for label, n in re.findall(r"<title>(\d\dh): (\d+)</title>", svg)}


def test_several_days_get_one_per_hour_chart_each_never_summed():
    s = summarise(_two_day_ledger(), patients=7)
    assert s.per_day_hour == {"2026-11-22": {9: 2, 10: 1}, "2026-11-23": {9: 1, 14: 3}}
    assert s.per_day == {"2026-11-22": 3, "2026-11-23": 4}
    info = RunInfo(1, "2026-11-22", 2, 4, 1, "inprocess", "http://127.0.0.1:1", "sqlite", 1.0, ())
    page = render(info, s, [])
    section = re.search(r'<section id="per-hour">(.*?)</section>', page, re.DOTALL).group(1)
    figures = dict(re.findall(r'<figure data-day="([\d-]+)">(.*?)</figure>', section, re.DOTALL))
    assert list(figures) == ["2026-11-22", "2026-11-23"]
    axis = {f"{h:02d}h": 0 for h in range(9, 15)}  # the same hours on every day's chart
    assert _bars(figures["2026-11-22"]) == {**axis, "09h": 2, "10h": 1}
    assert _bars(figures["2026-11-23"]) == {**axis, "09h": 1, "14h": 3}
    assert "2026-11-22: 3 settlement(s)" in section and "2026-11-23: 4 settlement(s)" in section
    # One scale for both days: the busiest hour of the run (3) is the full-height bar on
    # the second day; the first day's 2 is two thirds of it.
    heights = {
        day: {
            label: float(h)
            for h, label in re.findall(r'height="([\d.]+)" fill="[^"]+"><title>(\d\dh)', svg)
        }
        for day, svg in figures.items()
    }
    full = heights["2026-11-23"]["14h"]
    assert heights["2026-11-22"]["09h"] == pytest.approx(full * 2 / 3, abs=0.1)
    embedded = json.loads(re.search(r'id="summary">(.*?)</script>', page, re.DOTALL).group(1))
    assert embedded["per_day_hour"]["2026-11-23"] == {"9": 1, "14": 3}


def test_summary_table_prints_the_same_figures():
    s = summarise(_ledger(), patients=5)
    console = Console(record=True, width=140)
    console.print(summary_table(s, []))
    text = console.export_text()
    assert yuan(s.total) in text and "not_covered" in text and "child_under_7" in text


def test_yuan_formatting():
    assert yuan(123456) == "1,234.56" and yuan(-5) == "-0.05" and yuan(0) == "0.00"


def test_a_simulated_day_straddling_midnight_is_one_day_in_the_figures():
    """A run early in the Beijing day simulates the ten hours before now (population.py
    day_closes): its settlements fall on two dates but belong to one simulated day."""
    from dataclasses import replace
    from datetime import date

    ledger = Ledger()
    for i, (d, hour) in enumerate([(22, 21), (22, 23), (23, 0), (23, 2)]):
        settled = _settlement(i, "card", datetime(2026, 11, d, hour, 5, tzinfo=CST), 10, 6, 4, 0, 4)
        ledger.settled(replace(settled, sim_day=date(2026, 11, 23)))
    s = summarise(ledger, patients=4)
    assert s.per_day == {"2026-11-23": 4}
    assert s.per_day_hour == {"2026-11-23": {0: 1, 2: 1, 21: 1, 23: 1}}
    # The chart reads in the order of the day: 21h … 23h 00h … 02h.
    info = RunInfo(1, "2026-11-23", 1, 4, 1, "inprocess", "http://127.0.0.1:1", "sqlite", 1.0, ())
    section = re.search(r'<section id="per-hour">(.*?)</section>', render(info, s, []), re.DOTALL)
    labels = re.findall(r"<title>(\d\dh)", section.group(1))
    assert labels == ["21h", "22h", "23h", "00h", "01h", "02h"], labels
    # Without a simulated day (a ledger from elsewhere) the calendar date still counts.
    bare = Ledger()
    bare.settled(_settlement(9, "card", datetime(2026, 11, 22, 23, 5, tzinfo=CST), 10, 6, 4, 0, 4))
    assert summarise(bare, patients=1).per_day == {"2026-11-22": 1}


def test_long_stays_and_refund_lines_are_counted_in_summary_table_and_report():
    from dataclasses import replace

    ledger = _ledger()
    ledger.settlements[1] = replace(ledger.settlements[1], long_stay=True)
    ledger.settlements[3] = replace(ledger.settlements[3], long_stay=True)  # reversed: not standing
    ledger.uploaded(12, refunds=2)
    ledger.uploaded(5)
    s = summarise(ledger, patients=5)
    assert (s.long_stays, s.refund_lines, s.fee_lines) == (1, 2, 17)
    console = Console(record=True, width=120)
    console.print(summary_table(s, []))
    text = console.export_text()
    assert re.search(r"refund lines +│ +2 │", text) and re.search(r"long stays.* +│ +1 │", text)
    info = RunInfo(1, "2026-11-23", 1, 5, 1, "inprocess", "http://127.0.0.1:1", "sqlite", 1.0, ())
    page = render(info, s, [])
    assert 'data-key="long_stays">1<' in page and 'data-key="refund_lines">2<' in page


def test_money_by_catalogue_class_and_over_the_ceilings():
    """The service classes each fee line (issue 14); the summary, the table and the report show
    the billed money by 甲/乙/丙 and what the patients paid above the price ceilings."""
    ledger = Ledger()
    at = datetime(2026, 11, 23, 10, tzinfo=CST)
    for i, (by_class, over, reversed_) in enumerate(
        [
            ({"01": 7000, "02": 2500, "03": 500}, 300, False),
            ({"01": 1000, "03": 200}, 0, False),
            ({"02": 9999}, 50, True),  # reversed: not counted
        ]
    ):
        total = sum(by_class.values())
        ledger.settled(
            Settlement(
                f"S{i}", f"M{i}", f"P{i}", "H1", "H1-D1", "card_holder", "card", at,
                total, 0, total, 0, total, by_class=by_class, overlmt_selfpay=over,
            )
        )  # fmt: skip
    ledger.reversed_("S2")
    s = summarise(ledger, patients=3)
    assert s.by_class == {"甲": 8000, "乙": 2500, "丙": 700}
    assert sum(s.by_class.values()) == s.total
    assert s.overlmt_selfpay == 300
    assert s.as_json()["by_class"] == {"甲": 8000, "乙": 2500, "丙": 700}
    console = Console(record=True, width=140)
    console.print(summary_table(s, []))
    text = console.export_text()
    assert "甲类 items (yuan)" in text and yuan(8000) in text and yuan(300) in text
    info = RunInfo(1, "2026-11-23", 1, 3, 1, "inprocess", "http://127.0.0.1:1", "sqlite", 1.0, ())
    page = render(info, s, [])
    section = re.search(r'id="classes">(.*?)</section>', page, re.DOTALL).group(1)
    for name, fen in (("甲类", 8000), ("乙类", 2500), ("丙类", 700)):
        assert f"<td>{name}</td><td>{yuan(fen)}</td>" in section
    assert yuan(300) in section


def test_patient_and_exemption_kinds_are_shown_in_words_a_hospital_reads():
    """Chinese first (the desk's reports speak Chinese), the English after it; the embedded
    JSON keeps the internal names its readers rely on."""
    s = summarise(_ledger(), patients=5, kinds={"forgetful_pin": 2, "uninsured": 1})
    info = RunInfo(1, "2026-11-23", 1, 5, 1, "inprocess", "http://127.0.0.1:1", "sqlite", 1.0, ())
    page = render(info, s, [])
    patients = re.search(r'<table data-table="by_kind">(.*?)</table>', page, re.DOTALL).group(1)
    assert (
        "<td>忘记社保卡密码（锁卡后到银行重置）（forgot the card PIN, reset at the bank）</td>"
        in (patients)
    )
    assert "<td>未参保（not insured）</td>" in patients
    exemptions = re.search(r'<section id="exemptions">(.*?)</section>', page, re.DOTALL).group(1)
    assert "7 岁以下儿童（户口本）（child under 7, household register）" in exemptions
    for internal in ("forgetful_pin", "uninsured", "child_under_7"):
        assert internal not in patients + exemptions, internal
    embedded = json.loads(re.search(r'id="summary">(.*?)</script>', page, re.DOTALL).group(1))
    assert set(embedded["by_kind"]) == {"forgetful_pin", "uninsured"}
    assert embedded["exemptions"] == {"child_under_7": 1}


def test_every_patient_kind_has_its_words():
    assert set(PATIENT_KINDS) == {kind.value for kind in PatientKind}
    assert set(EXEMPTIONS) == set(EXEMPTION_KINDS)
