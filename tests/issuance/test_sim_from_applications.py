"""``hospital_sim run --from-applications``: the city's cards come out of the seven steps."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from rich.console import Console

from hospital_sim.applications import provision_cards_from_applications
from hospital_sim.run import Options, run


def test_hospital_day_starts_from_applications(tmp_path):
    console = Console(record=True, width=150)
    workdir = tmp_path / "run"
    outcome = run(
        Options(patients=24, desks=2, seed=7, workdir=workdir),
        console,
        provisioner=provision_cards_from_applications,
    )
    failed = [r for r in outcome.invariants if not r.ok]
    assert not failed, failed
    assert outcome.ok and not outcome.summary.unexpected
    assert outcome.summary.card_proven > 0  # cards made by the flow proved themselves
    db = sqlite3.connect(workdir / "settlement.db")
    statuses = dict(
        db.execute("SELECT status, COUNT(*) FROM card_application GROUP BY status").fetchall()
    )
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM card_application GROUP BY kind").fetchall())
    produced = db.execute(
        "SELECT COUNT(*) FROM card c JOIN card_application a ON a.card_no = c.card_no"
    ).fetchone()[0]
    old_cards = db.execute(
        "SELECT expiry FROM card WHERE card_no NOT IN "
        "(SELECT card_no FROM card_application WHERE card_no IS NOT NULL)"
    ).fetchall()
    db.close()
    assert set(statuses) == {"issued"} and statuses["issued"] == produced > 0
    assert kinds.get("batch", 0) + kinds.get("single", 0) == produced
    assert (workdir / "external" / "police_register.sqlite").exists()
    # The (in-process) service used the run's own bank files, not $SSCARD_HOME's.
    bank_files = list((workdir / "external" / "banks").glob("bank-*.json"))
    accounts = sum(
        len(c["accounts"])
        for f in bank_files
        for c in json.loads(f.read_text(encoding="utf-8"))["customers"].values()
    )
    assert accounts == produced
    # Expired cards predate the flow: they are the only cards not made by an application.
    today = date.today().isoformat()
    assert all(expiry < today for (expiry,) in old_cards)
