"""The partner bank's system failing while the service blocks or cancels a card.

The bank's records are their own system: when it cannot freeze or close an
account, the service's own change stands and the answer says what the bank
did not do, and why (it was an ``except Exception`` that hid it).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from settlement.applications.common import change_account_status
from settlement.applications.registers import Registers
from settlement.config import Settings


def _registers(tmp_path) -> Registers:
    return Registers.from_settings(
        Settings(
            database_url="sqlite://",
            keystore_path=None,
            police_register_path=tmp_path / "police.sqlite",
            bank_records_dir=tmp_path / "banks",
        )
    )


def test_a_readable_bank_freezes_the_account(tmp_path):
    regs = _registers(tmp_path)
    pan = regs.bank("102").open_account("A", "张三", opened_at=datetime.now(UTC))
    change = change_account_status(regs, "102", "A", pan, "frozen")
    assert change.done and change.bank_error is None
    assert [a.status for a in regs.bank("102").accounts("A")] == ["frozen"]


def test_an_unreadable_bank_file_is_an_outcome_not_an_exception(tmp_path):
    regs = _registers(tmp_path)
    regs.bank("102")  # creates the file
    (tmp_path / "banks" / "bank-102.json").write_text("{not json", encoding="utf-8")
    change = change_account_status(regs, "102", "A", "6222020000000017", "frozen")
    assert not change.done
    assert "cannot read bank records" in change.bank_error


def test_an_account_the_bank_does_not_hold_and_an_unknown_bank(tmp_path):
    regs = _registers(tmp_path)
    missing = change_account_status(regs, "102", "A", "6222020000000017", "closed")
    assert not missing.done and "has no account 6222020000000017" in missing.bank_error
    unknown = change_account_status(regs, "999", "A", "6222020000000017", "closed")
    assert not unknown.done and "999 is not a partner bank" in unknown.bank_error


def test_loss_report_while_the_bank_is_down_blocks_the_card_and_says_so(production_world):
    w = production_world
    person = w.citizen("周八")
    application_id = w.apply(person)["application_id"]
    final, _card = w.produce(application_id)
    card_no, pan = final["card_no"], final["pan"]
    bank_file = w.banks_dir / "bank-102.json"
    saved = bank_file.read_bytes()
    bank_file.write_text("{the bank's system is down", encoding="utf-8")
    try:
        loss = w.post(w.bank102, "/v1/card-losses", {"card_no": card_no}, 201)
    finally:
        bank_file.write_bytes(saved)
    assert loss["status"] == "lost"
    assert loss["account_frozen"] is False
    assert "cannot read bank records" in loss["bank_error"]
    reported = loss["replacement_application"]["history"][0]
    assert reported["action"] == "loss_reported"
    assert reported["detail"]["account_frozen"] is False
    assert "cannot read bank records" in reported["detail"]["bank_error"]
    # The card is blocked all the same; the account stays as the bank had it.
    blocked = w.hospital.post(
        "/v1/challenges",
        json={"card_no": card_no, "purpose": "admission"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    assert blocked.status_code == 403 and blocked.json()["code"] == "card_lost"
    assert [(a.pan, a.status) for a in w.bank("102").accounts(person.ssn)] == [(pan, "open")]


def test_loss_report_with_the_bank_up_freezes_the_account(production_world):
    w = production_world
    person = w.citizen("吴九")
    final, _card = w.produce(w.apply(person)["application_id"])
    loss = w.post(w.bank102, "/v1/card-losses", {"card_no": final["card_no"]}, 201)
    assert loss["account_frozen"] is True and "bank_error" not in loss
    assert [a.status for a in w.bank("102").accounts(person.ssn)] == ["frozen"]
