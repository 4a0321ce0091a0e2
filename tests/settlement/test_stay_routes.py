"""The stay lifecycle in /v1 (docs/api.md §Stay lifecycle, issue 15): discharge (2402),
discharge cancel (2405), admission cancel (2404), admission change (2403) and fee cancel
(2302), the same core functions as the national-platform gateway, on SQLite and PostgreSQL;
and a reversal undone (the core of the gateway's 2601 of a 2305)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from settlement.inpatient.reinstatement import undo_reversal
from settlement.problems import Problem
from settlement.service import Principal
from settlement.store.db import create_engine_for_cli
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient
from tests.settlement.conftest import CHINA, code_of, idem, uid


def _client(world, desk) -> SettlementClient:
    key = desk.headers["Authorization"].removeprefix("Bearer ")
    return SettlementClient(str(desk.base_url), key)


def _refused(call, *args, **kw) -> tuple[int, str]:
    with pytest.raises(ServiceRefused) as refused:
        call(*args, **kw)
    return refused.value.status, refused.value.code


def _view(desk, mdtrt_id: str) -> dict:
    answer = desk.get(f"/v1/admissions/{mdtrt_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_stay_lifecycle_through_v1(world):
    desk = world.terminal()
    client = _client(world, desk)
    psn_no, card = world.insured(acct_balance=20000)
    begntime = datetime.now(CHINA) - timedelta(hours=6)
    mdtrt_id = world.admit(desk, psn_no, card, begntime=begntime.isoformat())["mdtrt_id"]
    lines = world.fees(desk, mdtrt_id, [("A", 2, 10000), ("B", 1, 5000), ("C", 1, 700)])
    serials = lines["accepted"]
    # 2403: the department and diagnosis change while admitted.
    changed = client.change_admission(mdtrt_id, {"dept_name": "心内科", "dise_name": "冠心病"})
    assert changed == {"mdtrt_id": mdtrt_id, "status": "admitted"}
    assert _view(desk, mdtrt_id)["dept_name"] == "心内科"
    # 2302: one line leaves the bill; an unknown one is named.
    cancelled = client.cancel_fees(mdtrt_id, serials[2])
    assert cancelled == {"mdtrt_id": mdtrt_id, "cancelled": [serials[2]]}
    assert _view(desk, mdtrt_id)["medfee_sumamt"] == 25000
    assert _refused(client.cancel_fees, mdtrt_id, "NO-SUCH-LINE") == (404, "fee_line_unknown")
    # 2404 refused while fee lines stand.
    assert _refused(client.cancel_admission, mdtrt_id) == (409, "fees_standing")
    # 2402 at a time before now, then the refusals of a discharged stay.
    endtime = (datetime.now(CHINA) - timedelta(hours=1)).replace(microsecond=0)
    key = uid("K")
    done = client.discharge(mdtrt_id, endtime.isoformat(), idempotency_key=key)
    assert done == {"mdtrt_id": mdtrt_id, "status": "discharged"}
    replay = desk.post(
        f"/v1/admissions/{mdtrt_id}/discharge",
        json={"endtime": endtime.isoformat()},
        headers={"Idempotency-Key": key},
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replay"] == "true"
    assert replay.json() == done
    assert _refused(client.discharge, mdtrt_id) == (409, "stay_discharged")
    assert _refused(client.change_admission, mdtrt_id, {"dept_name": "x"}) == (
        409,
        "stay_discharged",
    )
    view = _view(desk, mdtrt_id)
    assert view["status"] == "discharged"
    # 2405 and a discharge again; then the discharged stay settles at its discharge time.
    assert client.cancel_discharge(mdtrt_id) == {"mdtrt_id": mdtrt_id, "status": "admitted"}
    assert _refused(client.cancel_discharge, mdtrt_id) == (409, "stay_not_discharged")
    client.discharge(mdtrt_id, endtime.isoformat())
    settled = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    assert settled["medfee_sumamt"] == 25000
    for step in (client.cancel_discharge, client.cancel_admission, client.discharge):
        assert _refused(step, mdtrt_id) == (409, "already_settled")
    assert _refused(client.cancel_fees, mdtrt_id, "0000") == (409, "already_settled")
    # Reversed: discharged again; 2405, every line cancelled ("0000"), 2404.
    client.reverse(settled["setl_id"], "wrong bill")
    assert _view(desk, mdtrt_id)["status"] == "discharged"
    client.cancel_discharge(mdtrt_id)
    assert client.cancel_fees(mdtrt_id, "0000")["cancelled"] == serials[:2]
    assert client.cancel_admission(mdtrt_id) == {"mdtrt_id": mdtrt_id, "status": "cancelled"}
    assert _view(desk, mdtrt_id)["status"] == "cancelled"
    late = desk.post(
        f"/v1/admissions/{mdtrt_id}/fees",
        json={"feedetail": [{"feedetl_sn": "L", "med_list_codg": "ITEMA", "cnt": 1, "pric": 1}]},
        headers=idem(),
    )
    assert late.status_code == 409 and code_of(late) == "stay_cancelled"
    client.close()


def test_bad_lifecycle_requests_are_refused_clearly(world):
    desk = world.terminal()
    psn_no, card = world.insured()
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    path = f"/v1/admissions/{mdtrt_id}"
    naive = desk.post(f"{path}/discharge", json={"endtime": "2026-11-28T08:00:00"}, headers=idem())
    assert naive.status_code == 422 and code_of(naive) == "validation_error"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    late = desk.post(f"{path}/discharge", json={"endtime": future}, headers=idem())
    assert late.status_code == 422 and code_of(late) == "discharge_time_invalid"
    empty = desk.post(f"{path}/fees/cancellation", json={}, headers=idem())
    assert empty.status_code == 422 and code_of(empty) == "validation_error"
    unkeyed = desk.post(f"{path}/cancellation")
    assert unkeyed.status_code == 428 and code_of(unkeyed) == "idempotency_key_required"
    other = world.terminal()  # another hospital: the stay does not exist for it
    foreign = other.post(f"{path}/cancellation", headers=idem())
    assert foreign.status_code == 404 and code_of(foreign) == "not_found"
    assert _view(desk, mdtrt_id)["status"] == "admitted"


def _principal(institution: str) -> Principal:
    return Principal(
        key_id="test",
        role="hospital",
        institution_code=institution,
        terminal_id="T-UNDO",
        hospital_level=3,
        pin_service=False,
        bank_code=None,
        region="430100",
    )


def test_a_reversal_undone_stands_again(world, api):
    desk = world.terminal()
    psn_no, card = world.insured(acct_balance=50000)
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, mdtrt_id, [("A", 1, 300000)])
    settled = world.settle(desk, mdtrt_id, card, acct_used_flag=True)
    assert settled["acct_pay"] > 0
    reversal = desk.post(f"/v1/settlements/{settled['setl_id']}/reversal", headers=idem()).json()
    assert world.person_info(psn_no)["acct_balance"] == 50000
    engine = create_engine_for_cli(api.database_url)
    principal = _principal(desk.institution)
    try:
        with engine.begin() as conn:
            undone = undo_reversal(
                conn, principal, reversal["revs_setl_id"], "test", datetime.now(UTC)
            )
        assert undone["status"] == "settled" and undone["balc"] == settled["balc"]
        assert world.person_info(psn_no)["acct_balance"] == settled["balc"]
        view = desk.get(f"/v1/settlements/{settled['setl_id']}").json()
        assert view["status"] == "settled"
        assert _view(desk, mdtrt_id)["status"] == "settled"
        # Not twice, and not once the stay has moved on.
        with pytest.raises(Problem) as again, engine.begin() as conn:
            undo_reversal(conn, principal, reversal["revs_setl_id"], "test", datetime.now(UTC))
        assert again.value.code == "not_found"
        second = desk.post(f"/v1/settlements/{settled['setl_id']}/reversal", headers=idem())
        world.fees(desk, mdtrt_id, [("A", 1, 100)])
        with pytest.raises(Problem) as moved, engine.begin() as conn:
            undo_reversal(conn, principal, second.json()["revs_setl_id"], "t", datetime.now(UTC))
        assert moved.value.code == "reversal_not_undoable" and "fee lines" in moved.value.detail
    finally:
        engine.dispose()
    assert world.person_info(psn_no)["acct_balance"] == 50000
