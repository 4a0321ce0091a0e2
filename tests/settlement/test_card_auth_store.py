"""settlement.store.card_auth.find_recent: the look-up the national-platform gateway uses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from settlement.migrate import upgrade
from settlement.store import card_auth
from settlement.store.db import Database

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
BASE = card_auth.CardAuthRecord(
    token="ca_1",
    card_no="A12345678",
    card_id_code="430100D156000005" + "0123456789ABCDEF",
    psn_no="P1",
    institution_code="H1",
    terminal_id="H1-T1",
    key_id="k1",
    challenge_id="c_1",
    created_at=NOW - timedelta(minutes=5),
    expires_at=NOW + timedelta(minutes=5),
    pin_challenge_id=None,
    pin_verified_at=None,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('cardauth') / 'db.sqlite'}"
    upgrade(url)
    database = Database(url)
    with database.write() as conn:
        card_auth.insert(conn, BASE)
        card_auth.insert(
            conn,
            replace(
                BASE,
                token="ca_old",
                created_at=NOW - timedelta(hours=1),
                expires_at=NOW - timedelta(minutes=50),
            ),
        )
        card_auth.insert(conn, replace(BASE, token="ca_2", created_at=NOW - timedelta(minutes=1)))
        card_auth.mark_pin_verified(conn, "ca_1", "c_9", NOW - timedelta(minutes=4))
        card_auth.insert(conn, replace(BASE, token="ca_h2", institution_code="H2"))
    yield database
    database.dispose()


@pytest.mark.parametrize(
    ("query", "token"),
    [
        ({"token": "ca_1"}, "ca_1"),
        ({"token": "ca_old"}, None),  # expired
        ({"token": "ca_h2"}, None),  # another institution's
        ({"token": "ca_1", "card_no": "B00000000"}, None),
        ({"card_no": "A12345678"}, "ca_2"),  # the newest valid one
        ({"card_no": "A12345678", "pin_verified": True}, "ca_1"),
        ({"card_no": "A12345678", "card_sn": BASE.card_id_code.lower()}, "ca_2"),
        ({"card_no": "A12345678", "card_sn": "430100D156000005" + "F" * 16}, None),
        ({"card_no": "B00000000"}, None),
    ],
)
def test_find_recent(db, query, token):
    with db.read() as conn:
        found = card_auth.find_recent(conn, institution_code="H1", now=NOW, **query)
    assert (found.token if found else None) == token


def test_find_reads_back_aware_times(db):
    with db.read() as conn:
        found = card_auth.find(conn, "ca_1")
    assert found.pin_verified and found.pin_challenge_id == "c_9"
    assert found.created_at == BASE.created_at and found.expires_at.tzinfo is not None
    assert found.card_sn == BASE.card_id_code


def test_find_recent_needs_token_or_card(db):
    with db.read() as conn, pytest.raises(ValueError):
        card_auth.find_recent(conn, institution_code="H1", now=NOW)
