"""Idempotency on PostgreSQL when a first request commits while a second one with the same key
is already past its read of the record (docs/api.md §Idempotency, docs/deploy.md): the key's
advisory lock and the record are read in one statement (settlement/store/idempotency.py), whose
snapshot may miss a record committed just before the lock was taken. The second request's
work then fails - at the record's insert, or earlier with a refusal of its own - and the
answer is the first request's stored response, replayed, never the second's refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from settlement.config import Settings
from settlement.institutions import insert_admin_key
from settlement.migrate import upgrade
from settlement.problems import Problem
from settlement.rules.roles import ADMIN
from settlement.service import Principal, Service
from settlement.store import idempotency


@pytest.mark.postgres
@pytest.mark.parametrize("second_fails_with", ["refusal", "insert"])
def test_a_first_answer_committed_meanwhile_is_replayed(
    fresh_postgres_url, tmp_path, second_fails_with
):
    upgrade(fresh_postgres_url)
    svc = Service(Settings(fresh_postgres_url, str(tmp_path / "keystore.json")))
    try:
        with svc.db.write() as conn:
            key_id = insert_admin_key(conn, "race test")["api_key"].split("_")[1]
        principal = Principal(key_id, ADMIN, None, None)
        payload = {"what": "the same request"}
        first = {"done": "by the first request"}
        request_hash = svc._admit_mutation(principal, "k-race", "POST", "/v1/x", payload)[0]
        svc._release((key_id, "k-race"))

        def second(conn):
            # The first request (another process) commits its answer now: after our read of
            # the record, which found none.
            with svc.db.write() as other:
                idempotency.insert(
                    other, key_id, "k-race", request_hash, 201, json.dumps(first),
                    datetime.now(UTC),
                )  # fmt: skip
            if second_fails_with == "refusal":
                raise Problem(409, "conflict", "what the first request did is in the way")
            return 201, {"done": "by the second request"}

        outcome = svc.mutate(principal, "k-race", "POST", "/v1/x", payload, second)
        assert (outcome.status, outcome.body, outcome.replay) == (201, first, True)
        with svc.db.read() as conn:
            stored = idempotency.find(conn, key_id, "k-race")
        assert json.loads(stored.response_body) == first
    finally:
        svc.db.dispose()
