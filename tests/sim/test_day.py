"""A small hospital day end to end: real service (uvicorn subprocess, SQLite file), real
terminal flows, cards in-process and in real pcscd/vpcd readers; invariants and report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from hospital_sim.ledger import yuan
from hospital_sim.run import Options, Outcome, run

ROOT = Path(__file__).resolve().parents[2]


def _check_outcome(outcome: Outcome) -> None:
    s = outcome.summary
    failed = [r for r in outcome.invariants if not r.ok]
    assert not failed, failed
    assert not s.unexpected, s.unexpected
    assert outcome.ok
    # The day did real work of every sort the population planned.
    assert s.settlements > 0 and s.card_proven > 0
    assert s.exemptions, "no exemption was settled"
    assert s.refusals, "nobody was refused"
    assert s.fund + s.account + s.cash == s.total > 0
    assert set(s.per_scheme) == {"310", "390"}
    assert sum(v["total"] for v in s.per_scheme.values()) == s.total
    assert sum(s.per_day.values()) == sum(s.per_hour.values()) == s.settlements
    assert {r.name for r in outcome.invariants} >= {
        "no admission settled twice",
        "settlement identities hold",
        "totals reconcile with the daily report",
    }
    # Every kind of patient ended as the rules say.
    kinds = s.by_kind
    assert set(kinds) == {
        "card_holder",
        "forgetful_pin",
        "child_no_card",
        "foreign_no_card",
        "lost_card",
        "uninsured",
        "lapsed",
        "expired_card",
    }
    for kind in ("card_holder", "child_no_card", "foreign_no_card", "lost_card"):
        assert kinds[kind]["settled"] == kinds[kind]["patients"], (kind, kinds[kind])
    for kind in ("uninsured", "lapsed", "expired_card"):
        assert kinds[kind]["settled"] == 0 and kinds[kind]["refused"] == kinds[kind]["patients"]
    assert kinds["forgetful_pin"]["refused"] == kinds["forgetful_pin"]["patients"]
    assert s.pin_services, "no forgetful typist had the PIN reset"
    # Long stays, refunds and reversals happened and are counted from what the desks did.
    assert s.long_stays > 0 and s.refund_lines > 0 and s.reversals > 0, s.as_json()
    # the catalogue classed every line: money by 甲/乙/丙 adds up to the bills, some items
    # were billed above their price ceiling (the sample's general-ward bed, CT, MRI ...)
    assert sum(s.by_class.values()) == s.total and all(s.by_class.values()), s.by_class
    assert 0 < s.overlmt_selfpay < s.total
    # The report: one self-contained file whose figures are the summary's.
    page = outcome.report_path.read_text(encoding="utf-8")
    assert outcome.report_path.suffix == ".html"
    for section in ("per-hour", "money", "refusals", "exemptions", "latency", "invariants"):
        assert f'id="{section}"' in page
    assert page.count("<svg") >= 4 and "<script src" not in page
    embedded = json.loads(re.search(r'id="summary">(.*?)</script>', page, re.DOTALL).group(1))
    assert embedded == json.loads(json.dumps(s.as_json()))
    assert f'data-key="settlements">{s.settlements}<' in page
    assert f'data-key="total">{yuan(s.total)}<' in page
    assert f'data-key="long_stays">{s.long_stays}<' in page
    assert f'data-key="refund_lines">{s.refund_lines}<' in page
    assert sum(embedded["per_hour"].values()) == s.settlements
    assert page.count("<figure data-day=") == len(s.per_day) == len(s.per_day_hour)  # a chart a day
    assert {d: sum(h.values()) for d, h in s.per_day_hour.items()} == s.per_day
    assert "All invariants hold." in page


def test_small_day_in_process(tmp_path):
    """The default run: in-process cards and the service in a thread of this process."""
    console = Console(record=True, width=150)
    options = Options(patients=16, days=2, desks=3, seed=11, workdir=tmp_path / "run")
    assert options.service_mode == "in-process" and not options.service_url
    outcome = run(options, console)
    _check_outcome(outcome)
    assert "started for this run, in-process" in outcome.report_path.read_text(encoding="utf-8")
    assert not [t for t in threading.enumerate() if t.name == "settlement-service"]
    text = console.export_text()
    assert "Hospital day summary" in text and yuan(outcome.summary.total) in text
    assert (tmp_path / "run" / "settlement.db").exists()
    assert len(outcome.summary.per_day) == 2  # two simulated days, each with discharges


@pytest.mark.pcsc
def test_small_day_on_pcscd_vpcd(tmp_path, pcsc_rig):
    outcome = run(
        Options(patients=12, desks=2, seed=5, readers="pcsc", workdir=tmp_path / "run"),
        Console(record=True, width=150),
    )
    _check_outcome(outcome)


def _sim_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m hospital_sim <args>`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "hospital_sim", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_cli_rejects_bad_arguments_without_traceback():
    proc = _sim_cli("run", "--patients", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = _sim_cli("run", "--service-url", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "--api-key" in proc.stdout


@pytest.mark.parametrize("where", ["--workdir", "--report"])
def test_cli_refuses_an_unwritable_workdir_or_report_before_the_day(tmp_path, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "sub" / ("r.html" if where == "--report" else "run")
    proc = _sim_cli("run", "--patients", "2", where, str(target), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert str(blocker) in proc.stdout and "cannot" in proc.stdout
    # Refused before any service or city was set up.
    assert "Hospital day summary" not in proc.stdout
    directory = tmp_path / "report-dir"
    directory.mkdir()
    proc = _sim_cli("run", "--patients", "2", "--report", str(directory), timeout=60)
    assert proc.returncode == 2 and "is a directory" in proc.stdout, proc.stdout + proc.stderr


def test_cli_refuses_an_unreadable_key_store_without_traceback(tmp_path):
    junk = tmp_path / "keys.json"
    junk.write_text("not a key store")
    proc = _sim_cli("run", "--patients", "2", "--keystore", str(junk), "--workdir", str(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "key store" in proc.stdout


def test_main_command_ends_with_summary_table_and_report_path(tmp_path):
    proc = _sim_cli(
        "run",
        "--patients",
        "10",
        "--desks",
        "2",
        "--seed",
        "4",
        "--workdir",
        str(tmp_path / "run"),
        "--report",
        str(tmp_path / "r.html"),
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},  # a CI log: not a TTY, 80 columns
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "Hospital day summary" in proc.stdout and "all invariants hold" in proc.stdout
    assert lines[-1] == f"report: {tmp_path / 'r.html'}"
    # The tables fit in 80 columns and no label is wrapped onto a second line.
    assert all(len(line) <= 80 for line in lines[:-1]), [ln for ln in lines if len(ln) > 80]
    for label in (
        "settlements standing (2304)",
        "personal account (yuan)",
        "card-proven or exempt with evidence",
        "totals reconcile with the daily report",
        "card images and service agree on PINs",
    ):
        assert any(label in line for line in lines), label
    assert any(re.match(r"│ discharge +│ +[\d.]+ │", line) for line in lines)
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_day_that_goes_wrong_exits_non_zero(tmp_path, monkeypatch, capsys):
    """A real fault, end to end: one card holder's card is issued with another PIN than the
    holder knows, so the desk is refused where the plan says settle; the run says so and
    ``python -m hospital_sim run`` exits 1 (the invariants' own breaches: test_invariants)."""
    from dataclasses import replace

    from hospital_sim import cli, world
    from hospital_sim.population import PatientKind

    real = world.provision_cards

    def misprinted(population, workdir, keystore):
        victim = next(p for p in population.people if p.kind is PatientKind.CARD_HOLDER)
        other = f"{(int(victim.card.pin) + 5) % 10**6:06d}"
        people = tuple(
            replace(p, card=replace(p.card, pin=other)) if p is victim else p
            for p in population.people
        )
        return real(replace(population, people=people), workdir, keystore)

    monkeypatch.setattr(world, "provision_cards", misprinted)
    code = cli.main(
        [
            "run",
            "--patients",
            "8",
            "--desks",
            "2",
            "--seed",
            "2",
            "--workdir",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert code == cli.EXIT_INVARIANT, out[-3000:]
    assert "unexpected:" in out and "did not end as planned" in out
    assert (tmp_path / "run" / "report.html").exists()


def test_a_running_service_by_url_and_a_key_store_that_does_not_match_it(tmp_path, capsys):
    """--service-url/--api-key drive a service someone else started: with its key store the
    day passes; with another, every card proof is refused and the run says why (exit 1)."""
    from hospital_sim import cli
    from hospital_sim.service import start_in_process

    keys = tmp_path / "service-keys.json"
    (tmp_path / "svc").mkdir()
    service = start_in_process(tmp_path / "svc", f"sqlite:///{tmp_path / 'svc.db'}", keys)
    try:
        common = ["run", "--patients", "8", "--desks", "2", "--seed", "3"]
        common += ["--service-url", service.url, "--api-key", service.admin_key]
        ok = cli.main([*common, "--keystore", str(keys), "--workdir", str(tmp_path / "a")])
        out = capsys.readouterr().out
        assert ok == cli.EXIT_OK, out[-3000:]
        assert "all invariants hold" in out and "hint:" not in out
        other = tmp_path / "other-keys.json"
        bad = cli.main([*common, "--keystore", str(other), "--workdir", str(tmp_path / "b")])
        out = capsys.readouterr().out
        assert bad == cli.EXIT_INVARIANT, out[-3000:]
        assert "proof_invalid" in out and "--keystore" in out and str(other) in out
    finally:
        service.stop()


@pytest.mark.postgres
def test_small_day_on_postgresql(tmp_path, fresh_postgres_url):
    """--database-url on PostgreSQL: the same day, the same invariants and report, no SQLite."""
    outcome = run(
        Options(
            patients=12,
            desks=2,
            seed=6,
            database_url=fresh_postgres_url,
            workdir=tmp_path / "run",
        ),
        Console(record=True, width=150),
    )
    _check_outcome(outcome)
    page = outcome.report_path.read_text(encoding="utf-8")
    assert "postgresql" in page and not (tmp_path / "run" / "settlement.db").exists()
