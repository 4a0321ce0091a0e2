"""settlement.rules.card_auth: when a networked card authentication stands in for the card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from settlement.rules.card_auth import (
    CardAuthFacts,
    CardAuthRefused,
    check_pin_upgrade,
    check_use,
    expiry,
)

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
AUTH = CardAuthFacts("H1", "H1-T1", "P1", NOW + timedelta(minutes=10), pin_verified=False)
PIN = CardAuthFacts("H1", "H1-T1", "P1", NOW + timedelta(minutes=10), pin_verified=True)


@pytest.mark.parametrize(
    ("auth", "institution", "psn_no", "now", "need_pin", "code"),
    [
        (AUTH, "H1", "P1", NOW, False, None),
        (PIN, "H1", "P1", NOW, True, None),
        (AUTH, "H1", "P1", NOW, True, "pin_not_verified"),
        (AUTH, "H2", "P1", NOW, False, "card_auth_foreign"),
        (AUTH, None, "P1", NOW, False, "card_auth_foreign"),
        (AUTH, "H1", "P2", NOW, False, "card_not_holder"),
        (AUTH, "H1", "P1", NOW + timedelta(minutes=10), False, "card_auth_expired"),
        (PIN, "H1", "P1", NOW + timedelta(minutes=9, seconds=59), True, None),
        # Place before time before person before PIN: the first reason that applies.
        (AUTH, "H2", "P2", NOW + timedelta(hours=1), True, "card_auth_foreign"),
        (AUTH, "H1", "P2", NOW + timedelta(hours=1), True, "card_auth_expired"),
        (AUTH, "H1", "P2", NOW, True, "card_not_holder"),
    ],
)
def test_check_use(auth, institution, psn_no, now, need_pin, code):
    if code is None:
        check_use(auth, institution_code=institution, psn_no=psn_no, now=now, need_pin=need_pin)
        return
    with pytest.raises(CardAuthRefused) as refused:
        check_use(auth, institution_code=institution, psn_no=psn_no, now=now, need_pin=need_pin)
    assert refused.value.code == code and refused.value.message


@pytest.mark.parametrize(
    ("auth", "institution", "terminal", "now", "code"),
    [
        (AUTH, "H1", "H1-T1", NOW, None),
        (AUTH, "H1", "H1-T2", NOW, "card_auth_foreign"),
        (AUTH, "H2", "H1-T1", NOW, "card_auth_foreign"),
        (AUTH, "H1", "H1-T1", NOW + timedelta(minutes=11), "card_auth_expired"),
        (PIN, "H1", "H1-T1", NOW, "card_auth_pin_done"),
    ],
)
def test_check_pin_upgrade(auth, institution, terminal, now, code):
    if code is None:
        check_pin_upgrade(auth, institution_code=institution, terminal_id=terminal, now=now)
        return
    with pytest.raises(CardAuthRefused) as refused:
        check_pin_upgrade(auth, institution_code=institution, terminal_id=terminal, now=now)
    assert refused.value.code == code


def test_expiry():
    assert expiry(NOW, 600) == NOW + timedelta(minutes=10)
    with pytest.raises(ValueError):
        expiry(NOW, 0)
