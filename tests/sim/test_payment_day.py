"""The simulation's contribution payment day (issue 20, hospital_sim/payments.py) against an
in-process service: everyone pays once, duplicates are refused, the channels balance."""

from __future__ import annotations

from datetime import date

from hospital_sim.payments import payment_day_of, run_payment_day
from hospital_sim.service import start_in_process


def test_payment_day_invariants_hold(tmp_path):
    from card.keystore import KeyStore

    keystore = tmp_path / "keystore.json"
    KeyStore.generate().save(keystore)
    june = payment_day_of(date.today())
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    handle = start_in_process(tmp_path, url, keystore, today=june)
    try:
        day = run_payment_day(
            handle.url, handle.admin_key, payments=40, channels=2, speedup=100_000, seed=3
        )
    finally:
        handle.stop()
    assert day.ok, day.invariants
    # paid_in_window: issue 20 wants the payment day to be a June day of the simulated year
    assert set(day.invariants) == {
        "no_double_payment",
        "one_person_year_each",
        "channels_balance",
        "paid_in_window",
    }
    assert (day.day, day.day.month, day.year) == (june, 6, june.year)
    confirmed = sum(len(log.confirmed) for log in day.channels)
    assert confirmed == 40
    refused = {}
    for log in day.channels:
        for code, n in log.refused.items():
            refused[code] = refused.get(code, 0) + n
    assert set(refused) == {"already_paid"}  # seed 3: some people pay on a second channel


def test_payment_day_command(tmp_path):
    from hospital_sim.cli import main

    args = ["payment-day", "--payments", "12", "--speedup", "100000", "--workdir", str(tmp_path)]
    assert main(args) == 0
    assert main(args) == 0  # again on the same database: new channels and people
