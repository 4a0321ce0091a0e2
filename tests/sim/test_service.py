"""The simulation's own settlement service: in-process (default) and as a child process."""

from __future__ import annotations

import threading

import httpx
import pytest

from hospital_sim.service import start_in_process, start_service


def _service_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "settlement-service" and t.is_alive()]


@pytest.mark.parametrize("start", [start_in_process, start_service], ids=["in-process", "process"])
def test_started_service_answers_on_an_ephemeral_port_and_stops(tmp_path, start) -> None:
    before = len(_service_threads())
    service = start(tmp_path, f"sqlite:///{tmp_path / 'settlement.db'}", tmp_path / "keys.json")
    try:
        assert service.started and service.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{service.url}/v1/health", timeout=5).status_code == 200
        # The bootstrapped admin key is accepted (404: no such institution), a wrong one not.
        url = f"{service.url}/v1/institutions/NOPE"
        admin = httpx.get(url, headers={"Authorization": f"Bearer {service.admin_key}"})
        assert admin.status_code == 404, admin.text
        wrong = httpx.get(url, headers={"Authorization": "Bearer sk_wrong"})
        assert wrong.status_code == 401, wrong.text
        if start is start_in_process:
            assert service.mode == "in-process" and service.process is None
            assert len(_service_threads()) == before + 1
        else:
            assert service.mode == "process" and service.process.poll() is None
    finally:
        service.stop()
    service.stop()  # idempotent
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{service.url}/v1/health", timeout=2)
    assert len(_service_threads()) == before


@pytest.mark.parametrize("start", [start_in_process, start_service], ids=["in-process", "process"])
def test_an_unusable_database_is_one_line_without_its_password(tmp_path, start) -> None:
    """Nothing listens on port 1: the error names the database, hides the password, and
    carries no SQLAlchemy help link (the CLI prints it and exits 2)."""
    from hospital_sim.service import ServiceStartError

    url = "postgresql+psycopg://sim:s3cret-pw@127.0.0.1:1/hospital"
    with pytest.raises(ServiceStartError) as caught:
        start(tmp_path, url, tmp_path / "keys.json")
    message = str(caught.value)
    assert "s3cret-pw" not in message and "127.0.0.1:1" in message
    assert "sqlalche.me" not in message and "Traceback" not in message


def test_runs_on_one_shared_service_never_reuse_a_namespace(tmp_path) -> None:
    """A run against --service-url picks a namespace whose hospitals the service does not
    know yet (two runs 999 s apart used to collide and fail with 409 conflict)."""
    from hospital_sim.population import REGION
    from hospital_sim.run import free_namespace
    from terminal.client.http import HttpClient

    service = start_in_process(tmp_path, f"sqlite:///{tmp_path / 's.db'}", tmp_path / "k.json")
    try:
        assert free_namespace(service.url, service.admin_key, 5) == 5
        with HttpClient(service.url, service.admin_key) as admin:
            for ns in (5, 6, 999):
                body = {
                    "code": f"H{REGION}{ns:03d}01",
                    "name": f"taken {ns}",
                    "kind": "hospital",
                    "hospital_level": 3,
                    "pin_service": False,
                    "region": REGION,
                }
                admin.request("POST", "/v1/institutions", json=body)
        assert free_namespace(service.url, service.admin_key, 5) == 7
        assert free_namespace(service.url, service.admin_key, 999) == 1  # wraps round
    finally:
        service.stop()
