"""Issue #16: ``date=0`` and other garbage where a date is taken is ``422 validation_error``
naming the parameter, never a Unix time read as 1970 (docs/api.md §Errors)."""

from __future__ import annotations

import pytest

from .conftest import code_of, idem, today

GARBAGE = ["0", "1764288000", "2026-13-01", "2026-02-30", "20261123", "", "yesterday", "1e9"]


def _refused(answer, where: str, name: str) -> None:
    assert answer.status_code == 422, answer.text
    assert code_of(answer) == "validation_error"
    assert [where, name] in [e["loc"] for e in answer.json()["errors"]], answer.text


@pytest.mark.parametrize("value", GARBAGE)
def test_report_date_garbage_is_422(world, value):
    _refused(world.admin.get("/v1/reports/daily", params={"date": value}), "query", "date")


def test_every_date_query_parameter_is_checked(world):
    psn_no = world.person()
    cases = [
        (world.centre, f"/v1/people/{psn_no}", "on"),
        (world.centre, "/v1/people", "on"),
        (world.centre, f"/v1/people/{psn_no}/contributions", "on"),
        (world.admin, "/v1/payment-channels/PC1/reconciliation", "day"),
    ]
    for client, path, name in cases:
        _refused(client.get(path, params={name: "0", "certno": "x"}), "query", name)
    assert world.admin.get("/v1/reports/daily", params={"date": today().isoformat()}).is_success
    assert world.centre.get(f"/v1/people/{psn_no}", params={"on": "2026-01-05"}).is_success


def test_dates_in_bodies_are_calendar_dates(world):
    body = {"psn_no": "PX0", "psn_name": "张三", "brdy": 0, "certno": "430102198005170011"}
    answer = world.centre.post("/v1/people", json=body, headers=idem())
    _refused(answer, "body", "brdy")
    psn_no = world.person()
    answer = world.centre.post(
        f"/v1/people/{psn_no}/coverage",
        json={"insutype": "310", "begndate": "1700000000"},
        headers=idem(),
    )
    _refused(answer, "body", "begndate")
    desk = world.terminal("hospital")
    answer = desk.post(
        "/v1/admissions",
        json={"psn_no": psn_no, "insutype": "310", "begntime": 0, "exemption": {}},
        headers=idem(),
    )
    assert answer.status_code == 422 and code_of(answer) == "validation_error", answer.text
    assert ["body", "begntime"] in [e["loc"] for e in answer.json()["errors"]], answer.text
