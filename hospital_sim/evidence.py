"""Gather the invariants' evidence after the day: from the service over HTTP and from the cards.

The service is asked, with the admin key, for every settlement the desks
printed a receipt for and every settled admission it holds (so a settlement
no desk knew about is seen too), for each admission's proof method and
evidence, and for its daily reconciliation reports. The cards are read from
their image files (the PIN try counters).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hospital_sim.invariants import DailyReport, Evidence, PinState, ServiceSettlement
from hospital_sim.ledger import Ledger
from hospital_sim.world import World
from settlement.config import Settings
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient


def service_zone() -> ZoneInfo:
    """The service's business time zone, as its settings read it (``SSCARD_TIMEZONE``)."""
    return Settings.from_env().tz


def service_day(timestamp: str, zone: ZoneInfo) -> str:
    """The calendar day (in the service's time zone) a settlement is booked on."""
    return datetime.fromisoformat(timestamp).astimezone(zone).date().isoformat()


def _settled_admissions(admin: SettlementClient) -> list[dict[str, Any]]:
    answer = admin.admissions(status="settled")
    if isinstance(answer, dict):
        answer = answer.get("admissions") or answer.get("items") or []
    return list(answer)


def _evidence_text(admission: dict[str, Any]) -> str:
    evidence = admission.get("evidence")
    if isinstance(evidence, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(evidence.items()) if k != "kind" and v)
    return str(evidence or "")


def service_pin_blocked(card: dict[str, Any]) -> bool | None:
    """The service's view of a card's SSSE PIN, from its card record (None: not reported)."""
    for key in ("ssse_pin_blocked", "pin_blocked"):
        if key in card and card[key] is not None:
            return bool(card[key])
    state = card.get("ssse_pin_state") or card.get("pin_state")
    if isinstance(state, str):
        return state == "blocked"
    return None


def gather(world: World, ledger: Ledger) -> Evidence:
    from card.image import CardImage

    admin = world.admin
    zone = service_zone()
    admissions: dict[str, dict[str, Any]] = {}
    setl_ids: set[str] = {s.setl_id for s in ledger.settlements}
    ours = {h.code for h in world.population.hospitals}
    for admission in _settled_admissions(admin):
        if admission.get("fixmedins_code") not in ours:
            continue  # another run's hospitals on a shared service
        admissions[admission["mdtrt_id"]] = admission
        settlement = admission.get("settlement")
        if isinstance(settlement, dict) and settlement.get("setl_id"):
            setl_ids.add(settlement["setl_id"])
    settlements: list[ServiceSettlement] = []
    for setl_id in sorted(setl_ids):
        s = admin.settlement(setl_id)
        mdtrt_id = s["mdtrt_id"]
        if mdtrt_id not in admissions:
            admissions[mdtrt_id] = admin.admission(mdtrt_id)
        admission = admissions[mdtrt_id]
        settlements.append(
            ServiceSettlement(
                setl_id=setl_id,
                mdtrt_id=mdtrt_id,
                institution=s["fixmedins_code"],
                day=service_day(s["setl_time"], zone),
                medfee_sumamt=s["medfee_sumamt"],
                fund_pay_sumamt=s["fund_pay_sumamt"],
                psn_part_amt=s["psn_part_amt"],
                acct_pay=s["acct_pay"],
                psn_cash_pay=s["psn_cash_pay"],
                reversed=s.get("status") == "reversed",
                proof=s.get("auth_method", "unrecorded"),
                admission_proof=admission.get("auth_method", "unrecorded"),
                evidence=_evidence_text(admission),
                card_no=admission.get("card_no") or "",
            )
        )
    reports: list[DailyReport] = []
    for day in sorted({s.day for s in settlements}):
        for code in sorted(ours):
            report = admin.daily_report(date.fromisoformat(day), code)
            net = report["net"]
            reports.append(
                DailyReport(
                    institution=report["institution"],
                    day=report["date"],
                    settlements=net["count"],
                    medfee_sumamt=net["medfee_sumamt"],
                    fund_pay_sumamt=net["fund_pay_sumamt"],
                    acct_pay=net["acct_pay"],
                    psn_cash_pay=net["psn_cash_pay"],
                )
            )
    pin_states = []
    for card_no, path in sorted(world.cards.items()):
        image = CardImage.load(path)
        try:
            record = admin.card(card_no)
        except ServiceRefused:
            record = {}
        pin_states.append(
            PinState(card_no, image.ssse_pin_tries_left <= 0, service_pin_blocked(record))
        )
    receipts = {
        s.setl_id: (s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay) for s in ledger.settlements
    }
    return Evidence(settlements, reports, pin_states, receipts)
