"""The production flow on PostgreSQL: whole path, a return and correction, loss → replacement."""

from __future__ import annotations

import pytest


@pytest.mark.postgres
def test_production_flow_on_postgresql(production_world_pg):
    w = production_world_pg
    person = w.citizen("罗宾")
    app_id = w.apply(person, psn_name="罗彬")["application_id"]
    w.step(w.centre, app_id, "audit")
    returned = w.step(w.bank102, app_id, "comparison")
    assert returned["returned"]["reason"] == "police_register_mismatch"
    w.step(w.centre, app_id, "corrections", {"psn_name": "罗宾"})
    first, _ = w.produce(app_id)
    assert first["status"] == "issued"
    assert w.hospital.get(f"/v1/cards/{first['card_no']}").json()["status"] == "active"

    again = w.apply(person)["application_id"]
    w.step(w.centre, again, "audit")
    w.step(w.bank102, again, "comparison")
    assert w.step(w.centre, again, "pre-check")["returned"]["reason"] == "active_card_exists"

    loss = w.post(w.bank102, "/v1/card-losses", {"card_no": first["card_no"]}, 201)
    second, _ = w.produce(loss["replacement_application"]["application_id"], start_at=4)
    assert w.hospital.get(f"/v1/cards/{first['card_no']}").json()["status"] == "replaced"
    assert w.hospital.get(f"/v1/cards/{second['card_no']}").json()["status"] == "active"
    progress = w.post(
        w.hospital, "/v1/card-progress", {"certno": person.ssn, "query_password": "open-sesame-1"}
    )
    assert [a["status"] for a in progress["applications"]] == ["issued", "returned", "issued"]
    for _ in range(5):
        w.hospital.post("/v1/card-progress", json={"certno": person.ssn, "query_password": "x"})
    locked = w.hospital.post(
        "/v1/card-progress", json={"certno": person.ssn, "query_password": "open-sesame-1"}
    )
    assert locked.status_code == 429


@pytest.mark.postgres
def test_progress_query_parallel_guesses_on_postgresql(production_world_pg):
    from concurrent.futures import ThreadPoolExecutor

    w = production_world_pg
    person = w.citizen("韦一笑")
    w.apply(person)

    def guess(i: int) -> int:
        return w.hospital.post(
            "/v1/card-progress", json={"certno": person.ssn, "query_password": f"g{i}"}
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(guess, range(12)))
    assert codes.count(403) == 5 and codes.count(429) == 7, codes
