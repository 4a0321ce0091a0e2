"""Never lose, never double (settlement.md): racing discharges and reversals."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.settlement.conftest import World, code_of, idem


def _race_discharges(world: World, n: int = 20) -> None:
    desk = world.terminal()
    psn_no, card = world.insured(acct_balance=50000)
    mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, mdtrt_id, [("A", 10, 12345), ("B", 3, 1000)])
    proofs = [world.proof(desk, card, "discharge") for _ in range(n)]

    def discharge(proof):
        return desk.post(
            f"/v1/admissions/{mdtrt_id}/settlement",
            json={"acct_used_flag": True, "proof": proof},
            headers=idem(),
        )

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(discharge, proofs))
    won = [a for a in answers if a.status_code == 201]
    assert len(won) == 1, [a.text for a in answers]
    assert all(code_of(a) == "already_settled" for a in answers if a.status_code != 201), [
        a.text for a in answers if a.status_code != 201
    ]
    info = world.person_info(psn_no)
    assert info["acct_balance"] == 50000 - won[0].json()["acct_pay"]


def test_twenty_simultaneous_discharges_one_settlement(world):
    _race_discharges(world)


def test_twenty_simultaneous_discharges_two_workers(settlement_service_factory):
    """The same with two uvicorn worker processes sharing the SQLite file."""
    service = settlement_service_factory(workers=2)
    _race_discharges(World(service))


def test_reversal_racing_settlements_keeps_ceiling_and_account_exact(world, api):
    desk = world.terminal()
    psn_no, card = world.insured(acct_balance=100000)
    stays = [world.admit(desk, psn_no, card)["mdtrt_id"] for _ in range(3)]
    for n, mdtrt_id in enumerate(stays):
        world.fees(desk, mdtrt_id, [("A", 1, 300000 + 1000 * n), ("B", 1, 7777)])
    first = world.settle(desk, stays[0], card, acct_used_flag=True)
    standing = {stays[0]: first["setl_id"]}
    for _round in range(4):
        # reverse whatever stands on stay 0 while stays 1/2 settle, and stay 0 re-settles
        proofs = {m: world.proof(desk, card, "discharge") for m in stays}
        jobs = []
        if stays[0] in standing:
            jobs.append(("reverse", stays[0], standing[stays[0]]))
        for m in stays:
            jobs.append(("settle", m, proofs[m]))

        def run(job):
            kind, mdtrt_id, arg = job
            if kind == "reverse":
                return job, desk.post(f"/v1/settlements/{arg}/reversal", json={}, headers=idem())
            return job, desk.post(
                f"/v1/admissions/{mdtrt_id}/settlement",
                json={"acct_used_flag": True, "proof": arg},
                headers=idem(),
            )

        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(run, jobs))
        for (kind, mdtrt_id, _), answer in results:
            assert answer.status_code in (201, 409), answer.text
            if answer.status_code == 409:
                assert code_of(answer) in ("already_settled", "already_reversed")
        # what stands now, from the service
        standing = {}
        for m in stays:
            view = desk.get(f"/v1/admissions/{m}").json()
            if view["settlement"]:
                standing[m] = view["settlement"]["setl_id"]
        settled = [desk.get(f"/v1/settlements/{s}").json() for s in standing.values()]
        info = world.person_info(psn_no)
        assert info["acct_balance"] == 100000 - sum(s["acct_pay"] for s in settled)
        # the next pre-settlement halves the deductible only after an earlier admission that stands
        # (stays were admitted in list order; docs/api.md §Second admission)
        for n, m in enumerate(stays):
            if m not in standing:
                pre = desk.post(f"/v1/admissions/{m}/pre-settlement", json={}).json()
                earlier = any(other in standing for other in stays[:n])
                assert pre["act_pay_dedc"] == (40000 if earlier else 80000)
        # stays that stood reversed this round get settled again next round; reverse the rest
        for m in list(standing)[1:]:
            answer = desk.post(
                f"/v1/settlements/{standing.pop(m)}/reversal", json={}, headers=idem()
            )
            assert answer.status_code == 201, answer.text
    report = api.cli("report", "--json", "--ledger")
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr
    assert json.loads(report.stdout)["ledger"]["ok"]


@pytest.mark.parametrize("n", [8])
def test_parallel_cycles_reconcile(world, api, n):
    """Many complete cycles in parallel, then the daily report and the ledger balance to the fen."""
    desk = world.terminal()

    def cycle(i):
        psn_no, card = world.insured(acct_balance=10000 * i)
        mdtrt_id = world.admit(desk, psn_no, card)["mdtrt_id"]
        world.fees(desk, mdtrt_id, [("A", i + 1, 10001), ("B", 2, 3333), ("C", 1, 55)])
        return world.settle(desk, mdtrt_id, card, acct_used_flag=True)

    with ThreadPoolExecutor(n) as pool:
        settled = list(pool.map(cycle, range(n)))
    report = api.cli("report", "--json", "--ledger", "--institution", desk.institution)
    assert report.returncode == 0, report.stdout[-2000:]
    data = json.loads(report.stdout)
    assert data["settlements"]["count"] == n
    assert data["net"]["medfee_sumamt"] == sum(s["medfee_sumamt"] for s in settled)
