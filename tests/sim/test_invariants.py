"""Each invariant passes on consistent evidence and fails on the specific breach it guards."""

from dataclasses import replace

from hospital_sim.invariants import (
    DailyReport,
    Evidence,
    PinState,
    ServiceSettlement,
    card_proven_or_exempt,
    check_all,
    pins_agree,
    reconciles,
    settled_once,
    split_identities,
)


def _settlement(setl_id="S1", mdtrt_id="M1", **kw):
    base = {
        "setl_id": setl_id,
        "mdtrt_id": mdtrt_id,
        "institution": "H1",
        "day": "2026-11-23",
        "medfee_sumamt": 10000,
        "fund_pay_sumamt": 6000,
        "psn_part_amt": 4000,
        "acct_pay": 1000,
        "psn_cash_pay": 3000,
        "reversed": False,
        "proof": "card",
        "admission_proof": "card",
        "evidence": "",
        "card_no": "X1",
    }
    base.update(kw)
    return ServiceSettlement(**base)


def _evidence():
    s1 = _settlement()
    s2 = _settlement(
        "S2", "M2", proof="child_under_7", admission_proof="child_under_7", evidence="HR1"
    )
    rev = _settlement("S0", "M2", reversed=True)
    report = DailyReport("H1", "2026-11-23", 2, 20000, 12000, 2000, 6000)
    return Evidence(
        settlements=[s1, s2, rev],
        reports=[report],
        pin_states=[PinState("X1", False, False), PinState("X2", True, True)],
        receipts={
            "S1": (6000, 1000, 3000),
            "S2": (6000, 1000, 3000),
            "S0": (6000, 1000, 3000),
        },
    )


def test_all_pass_on_consistent_evidence():
    results = check_all(_evidence())
    assert [r.ok for r in results] == [True] * 5, results


def test_exemption_without_evidence_fails():
    ev = _evidence()
    ev.settlements[1] = replace(ev.settlements[1], evidence="")
    assert not card_proven_or_exempt(ev).ok
    ev.settlements[1] = replace(ev.settlements[1], evidence="x", admission_proof="terminal_said_so")
    assert not card_proven_or_exempt(ev).ok


def test_card_proof_without_a_card_fails():
    ev = _evidence()
    ev.settlements[0] = replace(ev.settlements[0], card_no="")
    assert not card_proven_or_exempt(ev).ok


def test_double_settlement_fails():
    ev = _evidence()
    ev.settlements.append(_settlement("S9", "M1"))
    assert not settled_once(ev).ok


def test_broken_identities_and_receipt_mismatch_fail():
    ev = _evidence()
    ev.settlements[0] = replace(ev.settlements[0], psn_cash_pay=2999)
    assert not split_identities(ev).ok
    ev = _evidence()
    ev.receipts["S1"] = (6000, 0, 4000)
    assert not split_identities(ev).ok
    ev = _evidence()
    ev.receipts["S404"] = (1, 0, 0)
    assert not split_identities(ev).ok
    ev = _evidence()
    del ev.receipts["S2"]
    assert not split_identities(ev).ok


def test_reconciliation_mismatch_and_missing_report_fail():
    ev = _evidence()
    ev.reports[0] = replace(ev.reports[0], fund_pay_sumamt=12001)
    assert not reconciles(ev).ok
    ev = _evidence()
    ev.reports = []
    assert not reconciles(ev).ok


def test_pin_disagreement_fails():
    ev = _evidence()
    ev.pin_states.append(PinState("X3", True, False))
    assert not pins_agree(ev).ok
    ev = _evidence()
    ev.pin_states.append(PinState("X4", False, None))
    assert not pins_agree(ev).ok
