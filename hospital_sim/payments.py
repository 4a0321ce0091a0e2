"""A contribution payment day (issue 20): the city's residents and flexible workers pay their
insurance year through the online channels at the published peak rate, with its invariants.

The city's first online month: 530 000 payments, 35 000 on the busiest day. This day runs
``payments`` payments at that day's rate (35 000 / 24 h), sped up ``speedup`` times, spread
over ``channels`` payment channels (the city's WeChat account, Alipay, ...), through the
channel API only (``terminal.client.contributions``). Everyone has an enrolment record entered
three days before (migrated by the admin, so payable today); a share of the people pay twice
(on two channels, as people do when an app seems stuck) and a share of callbacks are delivered
twice. Invariants afterwards:

- ``no_double_payment``: each person-year has exactly one confirmed order; the second order is
  refused ``already_paid`` at creation or at its callback;
- ``one_person_year_each``: every confirmed payment covers exactly one person-year: the
  person's state is paid/covered for that year and 1101 shows one paid period for it;
- ``channels_balance``: each channel's reconciliation of the day equals what the channel saw
  confirmed (count and sum) and is internally balanced.

The day is the service's business date (``GET /v1/health``'s ``business_date``): ``python -m
hospital_sim payment-day`` starts its service on a June day of the simulated insurance year
(:func:`payment_day_of`, the service's ``SSCARD_TODAY``, simulation only), so the people pay
the coming insurance year inside its 1–30 June window, as the city's residents do; a fourth
invariant, ``paid_in_window``, checks that every confirmed payment was made on that day and
inside that window.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from settlement.rules.contributions import payment_window, year_of
from terminal.client.contributions import EnrolmentClient, PaymentChannelClient
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient

CST = timezone(timedelta(hours=8))
PEAK_DAY = 35_000
CHANNEL_NAMES = ("WeChat city account", "Alipay city service", "bank app")


@dataclass
class ChannelLog:
    """What one channel saw: its confirmed orders and the refusals it got."""

    code: str
    confirmed: dict[str, dict] = field(default_factory=dict)  # order_no -> order
    refused: dict[str, int] = field(default_factory=dict)  # code -> count


@dataclass
class PaymentDay:
    """The outcome: per-channel logs, invariants (name -> (ok, detail)), timing."""

    year: int
    day: date
    people: list[str]
    channels: list[ChannelLog]
    invariants: dict[str, tuple[bool, str]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    coverage_start: date | None = None  # of everyone's enrolment (the window depends on it)

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.invariants.values())


def payment_day_of(today: date) -> date:
    """The simulated payment day: 15 June before the insurance year that contains ``today``
    (the window of that year is 1–30 June)."""
    return date(year_of(today), 6, 15)


def enrolment_dates(today: date) -> tuple[date, date, int]:
    """(entered_on, applied_on, year): entered three days ago, payable today."""
    entered = today - timedelta(days=3)
    applied = entered.replace(day=min(entered.day, 24))
    return entered, applied, year_of(coverage_start(applied))


def coverage_start(applied: date) -> date:
    """The 1st of the month after ``applied`` (days 1–24: docs/rules.md §Coverage)."""
    return date(applied.year + applied.month // 12, applied.month % 12 + 1, 1)


def _setup(url: str, admin_key: str, payments: int, channels: int, seed: int):
    admin = SettlementClient(url, admin_key)
    tag = f"{seed % 1000:03d}{secrets.token_hex(2).upper()}"  # a rerun on the same database
    keys = []
    for i in range(channels):
        code = f"PC{tag}{i}"
        admin.register_institution(
            {"code": code, "name": CHANNEL_NAMES[i % 3], "kind": "payment_channel"}
        )
        keys.append((code, admin.register_terminal(code, f"{code}-1", "callback")["api_key"]))
    today = date.fromisoformat(admin.health().get("business_date") or _local_today())
    entered, applied, year = enrolment_dates(today)
    enrol = EnrolmentClient.like(admin)
    people = []
    for n in range(payments):
        psn_no = f"R{tag}{n:06d}"
        admin.register_person(
            {"psn_no": psn_no, "psn_name": "市民", "brdy": "1975-01-01", "certno": psn_no}
        )
        category = "flexible_worker" if n % 5 == 0 else "resident"
        enrol.enter(psn_no, category=category, applied_on=applied, entered_on=entered)
        people.append(psn_no)
    admin.close()
    return keys, people, year, today


def _local_today() -> str:
    return datetime.now(CST).date().isoformat()


def _pay(client: PaymentChannelClient, log: ChannelLog, psn_no: str, year: int, dup: bool):
    try:
        order = client.create_order(f"{log.code}-{psn_no}", psn_no, year)
        done = client.confirm(order["order_no"], f"TX{order['order_no']}", order["amount_fen"])
        if dup:  # the channel delivers the callback twice
            client.confirm(order["order_no"], f"TX{order['order_no']}", order["amount_fen"])
        log.confirmed[done["order_no"]] = done
    except ServiceRefused as refused:
        log.refused[refused.code] = log.refused.get(refused.code, 0) + 1


def run_payment_day(
    url: str,
    admin_key: str,
    *,
    payments: int = 200,
    channels: int = 2,
    speedup: float = 2000.0,
    seed: int = 1,
) -> PaymentDay:
    """Pay ``payments`` person-years at the peak day's rate × ``speedup``; check invariants."""
    keys, people, year, today = _setup(url, admin_key, payments, channels, seed)
    logs = [ChannelLog(code) for code, _ in keys]
    clients = [PaymentChannelClient(url, key) for _, key in keys]
    rng = random.Random(seed)
    plan = [(psn, rng.randrange(channels), rng.random() < 0.1) for psn in people]
    twice = [(psn, (c + 1) % channels, False) for psn, c, _ in plan if rng.random() < 0.05]
    gap = 86_400 / PEAK_DAY / speedup
    started = time.perf_counter()
    lock = threading.Lock()
    queue = plan + twice

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                psn, c, dup = queue.pop(0)
            _pay(clients[c], logs[c], psn, year, dup)
            time.sleep(gap)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    day = PaymentDay(year, today, people, logs, elapsed_s=elapsed)
    day.coverage_start = coverage_start(enrolment_dates(today)[1])
    day.invariants = check(day, clients[0], clients)
    for client in clients:
        client.close()
    return day


def check(day: PaymentDay, reader: PaymentChannelClient, clients) -> dict[str, tuple[bool, str]]:
    """The three invariants of the module docstring."""
    orders = [o for log in day.channels for o in log.confirmed.values()]
    by_person: dict[str, int] = {}
    for o in orders:
        by_person[o["psn_no"]] = by_person.get(o["psn_no"], 0) + 1
    doubles = [p for p, n in by_person.items() if n != 1]
    unpaid = [p for p in day.people if p not in by_person]
    what = f"{len(orders)} confirmed for {len(day.people)} people; "
    what += f"{len(doubles)} paid twice, {len(unpaid)} unpaid"
    result = {"no_double_payment": (not doubles and not unpaid, what)}
    wrong = []
    with SettlementClient.like(reader) as people:
        for o in orders:
            state = reader.status(o["psn_no"], year=day.year)
            periods = [p for p in people.person(o["psn_no"])["insuinfo"] if p["paid"]]
            if state["state"] not in ("paid", "covered") or len(periods) != 1:
                wrong.append(o["psn_no"])
    result["one_person_year_each"] = (not wrong, f"{len(orders)} checked, {len(wrong)} wrong")
    unbalanced = []
    for log, client in zip(day.channels, clients, strict=True):
        count = len(log.confirmed)
        amount = sum(o["amount_fen"] for o in log.confirmed.values())
        days = {o["confirmed_on"] for o in log.confirmed.values()} or {day.day.isoformat()}
        total = [0, 0, True]
        for d in days:
            recon = client.reconciliation(log.code, date.fromisoformat(d))
            total = [total[0] + recon["count"], total[1] + recon["amount_fen"], total[2]]
            total[2] = total[2] and recon["internal_balanced"]
        if (total[0], total[1]) != (count, amount) or not total[2]:
            unbalanced.append(f"{log.code}: ours {count}/{amount}, service {total}")
    result["channels_balance"] = (not unbalanced, "; ".join(unbalanced) or "all balance")
    result["paid_in_window"] = paid_in_window(day, orders)
    return result


def paid_in_window(day: PaymentDay, orders: list[dict]) -> tuple[bool, str]:
    """Every confirmed payment was made on the payment day, inside its year's window."""
    outside = []
    for o in orders:
        paid_on = date.fromisoformat(o["confirmed_on"])
        opens, closes = payment_window(o["year"], day.coverage_start or date(o["year"], 7, 1))
        if paid_on != day.day or not opens <= paid_on <= closes:
            outside.append(f"{o['order_no']} paid {paid_on}")
    what = f"{len(orders)} paid on {day.day.isoformat()} for insurance year {day.year}"
    return not outside, "; ".join(outside[:5]) or what
