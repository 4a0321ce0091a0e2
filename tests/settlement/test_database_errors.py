"""Issue #16: database failures answer 503/409, never a 500 with the statement's parameters
in the log; after PostgreSQL dropped every connection (a restart) the first request is a
503 the client retries, and the next one works (docs/api.md §Errors)."""

from __future__ import annotations

import psycopg

from .conftest import code_of, idem, uid


def test_first_request_after_the_server_dropped_its_connections_is_503(
    settlement_service_factory, postgres_server
):
    name = f"restart_{uid().lower()}"
    svc = settlement_service_factory(database_url=postgres_server.create_database(name))
    admin = svc.client()
    for _ in range(5):
        assert admin.post("/v1/probe").status_code == 201
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )
    first = admin.post("/v1/probe")
    assert first.status_code in (201, 503), first.text
    if first.status_code == 503:
        assert code_of(first) == "busy"
    assert admin.post("/v1/probe").status_code == 201
    assert "Traceback" not in svc.log_tail(100_000)


def test_a_constraint_error_logs_no_parameters(settlement_service):
    """A terminal id that exists under another spelling of the request still answers 409."""
    admin = settlement_service.client()
    code = uid("HD")
    settlement_service.add_institution(code, "hospital", hospital_level=2)
    terminal = f"{code}-T1"
    body = {"terminal_id": terminal, "name": "secret-name-张三"}
    assert (
        admin.post(f"/v1/institutions/{code}/terminals", json=body, headers=idem()).status_code
        == 201
    )
    again = admin.post(f"/v1/institutions/{code}/terminals", json=body, headers=idem())
    assert again.status_code == 409 and code_of(again) == "conflict"
    assert "张三" not in settlement_service.log_tail(200_000)
