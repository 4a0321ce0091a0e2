"""Issue #16: API keys can be revoked, rotated and expired, from the admin API and the CLI,
effective on the very next request in every worker (the key cache must not outlive a change;
docs/api.md §API keys)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import code_of, idem, uid


@pytest.fixture(scope="module")
def svc(settlement_service_factory):
    return settlement_service_factory(workers=2)


def warm(client, n: int = 12) -> None:
    """Requests enough for both workers to have the key cached."""
    for _ in range(n):
        assert client.post("/v1/probe").status_code == 201


def refused_everywhere(client, n: int = 12) -> bool:
    return all(client.post("/v1/probe").status_code == 401 for _ in range(n))


def new_terminal(svc):
    code = uid("HK")
    key = svc.add_terminal(code, kind="hospital", hospital_level=3)
    return key, key.split("_")[1], svc.client(key)


def test_revocation_holds_from_the_next_request_in_every_worker(svc):
    _key, key_id, desk = new_terminal(svc)
    warm(desk)
    answer = svc.client().post(f"/v1/api-keys/{key_id}/revocation", headers=idem())
    assert answer.status_code == 200, answer.text
    assert answer.json()["revoked"] is True
    assert refused_everywhere(desk)
    assert code_of(desk.post("/v1/probe")) == "unauthenticated"


def test_cli_revocation_holds_from_the_next_request(svc):
    _key, key_id, desk = new_terminal(svc)
    warm(desk)
    proc = svc.cli("keys", "revoke", key_id)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["revoked"] is True
    assert refused_everywhere(desk)


def test_rotation_replaces_the_secret(svc):
    old, key_id, desk = new_terminal(svc)
    warm(desk)
    answer = svc.client().post(f"/v1/api-keys/{key_id}/rotation", json={}, headers=idem())
    assert answer.status_code == 200, answer.text
    new = answer.json()["api_key"]
    assert new != old and new.split("_")[1] == key_id
    assert refused_everywhere(desk)
    warm(svc.client(new))


def test_rotation_with_grace_keeps_the_old_secret_for_a_while(svc):
    _old, key_id, desk = new_terminal(svc)
    warm(desk)
    answer = svc.client().post(
        f"/v1/api-keys/{key_id}/rotation", json={"grace_s": 600}, headers=idem()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["previous_valid_until"] is not None
    warm(desk)
    warm(svc.client(answer.json()["api_key"]))


def test_cli_rotation_prints_the_new_key_once(svc):
    _old, key_id, desk = new_terminal(svc)
    proc = svc.cli("keys", "rotate", key_id)
    assert proc.returncode == 0, proc.stderr
    warm(svc.client(json.loads(proc.stdout)["api_key"]))
    assert refused_everywhere(desk)


def test_expiry(svc):
    _key, key_id, desk = new_terminal(svc)
    warm(desk)
    admin = svc.client()
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    answer = admin.put(f"/v1/api-keys/{key_id}/expiry", json={"expires_at": past}, headers=idem())
    assert answer.status_code == 200, answer.text
    assert refused_everywhere(desk)
    answer = admin.put(f"/v1/api-keys/{key_id}/expiry", json={"expires_at": None}, headers=idem())
    assert answer.status_code == 200, answer.text
    warm(desk)
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    answer = admin.put(f"/v1/api-keys/{key_id}/expiry", json={"expires_at": soon}, headers=idem())
    assert answer.json()["expires_at"] is not None
    warm(desk)


def test_expiry_needs_an_offset(svc):
    _key, key_id, _desk = new_terminal(svc)
    answer = svc.client().put(
        f"/v1/api-keys/{key_id}/expiry", json={"expires_at": "2030-01-01T00:00:00"}, headers=idem()
    )
    assert answer.status_code == 422
    proc = svc.cli("keys", "expire", key_id, "--at", "2030-01-01T00:00:00")
    assert proc.returncode == 2 and "offset" in proc.stderr


def test_only_admins_manage_keys_and_listing_shows_no_secrets(svc):
    key, key_id, desk = new_terminal(svc)
    answer = desk.post(f"/v1/api-keys/{key_id}/revocation", headers=idem())
    assert answer.status_code == 403 and code_of(answer) == "not_entitled"
    assert desk.get("/v1/api-keys").status_code == 403
    listing = svc.client().get("/v1/api-keys").json()["keys"]
    mine = [k for k in listing if k["key_id"] == key_id]
    assert mine and mine[0]["revoked"] is False
    assert key.split("_", 2)[2] not in json.dumps(listing)
    assert "secret_hash" not in json.dumps(listing)


def test_unknown_key_and_revoked_rotation(svc):
    admin = svc.client()
    assert code_of(admin.post("/v1/api-keys/nosuch/revocation", headers=idem())) == "not_found"
    _key, key_id, _desk = new_terminal(svc)
    assert admin.post(f"/v1/api-keys/{key_id}/revocation", headers=idem()).status_code == 200
    answer = admin.post(f"/v1/api-keys/{key_id}/rotation", json={}, headers=idem())
    assert answer.status_code == 409 and code_of(answer) == "key_revoked"
