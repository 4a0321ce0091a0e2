"""A year of history, loaded fast, and the daily report and reconciliation on it (issue #19).

Fills a fresh database (SQLite file and/or a private PostgreSQL server) with a realistic year
through the stores' bulk writes (:mod:`settlement.store.bulk`: ``COPY`` on PostgreSQL,
``executemany`` on SQLite), never through HTTP:

- 16 hospitals (levels 1–3) with a terminal each; people (default: one per stay) with their
  employee (310, 70 %) or resident (390) coverage, an active card and, for employees, an opening
  personal-account balance;
- N settled stays spread evenly over the 365 days (``--days``) before today (admitted 0–13 days before
  discharge, settled 08:00–18:00 in the business zone), each with 5–35 fee lines (20 on
  average) of the shipped sample catalogue, classed by the catalogue's rules
  (:func:`settlement.rules.catalogue.line_parts`) and split by the real
  :func:`settlement.rules.split.split_bill` over the person's year so far (ceiling use, prior
  stays, account balance), the account debited, the benefit year counted, an audit entry;
- 2 % of the settlements reversed one hour later (reversal row, account refunded, benefit
  year uncounted, the stay back to ``discharged``).

Every amount is consistent, so the ledger check of the loaded database passes. Then it measures
the daily report (one hospital, and all hospitals) of a day inside the history and the ledger
check, each the best of three. ``--stays 50000,500000`` loads and measures each size on its own
fresh database. Spread over the same year, a day of 500 000 stays has ten times the
settlements of a day of 50 000; ``--stays 50000:37,500000`` (50 000 over 37 days) has the
daily volume of 500 000 over 365 days, so the two show whether a day's report depends on the
length of the history.

    .venv/bin/python benchmarks/history.py [--quick] [--stays 50000,500000]
        [--database sqlite|postgresql|both] [--keep DIR] [--history-cache DIR]

``--history-cache DIR`` loads each size once into DIR and measures a copy of it on later runs
(:mod:`benchmarks._history_cache`; ``cached`` and ``copy_s`` in the run's JSON).

The last line printed is one JSON object (``runs``: one entry per database and size with
``load_s``, ``stays_per_s``, ``fee_lines``, ``report_ms``, ``report_all_ms``,
``day_ledger_ms`` (the ledger of the day's people) and ``ledger_ms`` (the whole ledger)).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._history_cache import postgres_history, sqlite_history
from settlement import reconciliation
from settlement.catalogue import import_catalogue, sample_catalogue
from settlement.config import Settings
from settlement.migrate import upgrade
from settlement.rules.catalogue import (
    CHRGITM_LVS,
    CNT_SCALE,
    FEN_PER_YUAN,
    PRIC_SCALE,
    line_parts,
    round_half_up_signed,
)
from settlement.rules.coverage import benefit_year
from settlement.rules.policy import Policy, load_policy
from settlement.rules.split import SPLIT_AMOUNTS, FeeItem, SplitRequest, split_bill
from settlement.store import bulk
from settlement.store import catalogue as catalogue_store
from settlement.store.db import create_engine_for_cli

HOSPITALS = 16
YEAR = 365  # days of history by default
REVERSAL_SHARE = 0.02
OPENING_BALANCE = 300_000  # fen, employees' personal accounts
CHUNK = 2_000  # stays written per COPY / executemany round

ADMISSION_COLUMNS = (
    "mdtrt_id", "institution_code", "terminal_id", "psn_no", "insutype", "hospital_level",
    "begntime", "adm_date", "endtime", "dept_name", "dise_name", "auth_method", "card_no",
    "status", "created_at",
)  # fmt: skip
FEE_COLUMNS = (
    "mdtrt_id", "feedetl_sn", "med_list_codg", "med_list_name", "list_type", "cnt_e4", "pric_e6",
    "chrgitm_lv", "med_chrgitm_type", "selfpay_prop_bp", "pric_uplmt_e6", "catalogue_version",
    "det_item_fee_sumamt", "overlmt_amt", "fulamt_ownpay_amt", "preselfpay_amt", "inscp_scp_amt",
    "cnt", "pric", "created_at",
)  # fmt: skip
SETTLEMENT_COLUMNS = (
    "setl_id", "mdtrt_id", "active_mdtrt_id", "institution_code", "terminal_id", "psn_no",
    "insutype", "benefit_year", "auth_method", "card_no", "balc", "fee_count", "policy_version",
    "setl_time", "setl_date", "status", *SPLIT_AMOUNTS,
)  # fmt: skip
REVERSAL_COLUMNS = (
    "revs_setl_id", "setl_id", "mdtrt_id", "institution_code", "terminal_id", "reason",
    "revs_time", "revs_date",
)  # fmt: skip
ACCOUNT_COLUMNS = ("psn_no", "amount", "kind", "ref", "at")
AUDIT_COLUMNS = ("at", "institution_code", "terminal_id", "action", "subject", "outcome")


@dataclass
class Person:
    """What the loader tracks of one person while it writes the year in time order."""

    psn_no: str
    insutype: str
    card_no: str
    balance: int
    years: dict[int, list[int]] = field(default_factory=dict)  # year -> [ceiling used, stays]


@dataclass
class Chunk:
    """The rows of a few thousand stays, written together."""

    admissions: list[tuple] = field(default_factory=list)
    fee_lines: list[tuple] = field(default_factory=list)
    settlements: list[tuple] = field(default_factory=list)
    reversals: list[tuple] = field(default_factory=list)
    accounts: list[tuple] = field(default_factory=list)
    audit: list[tuple] = field(default_factory=list)


def line_templates(conn) -> tuple[list[tuple], str]:
    """Fee lines of the loaded catalogue (each item at 1, 2 and 3 units of a fixed price),
    each as (the row's middle columns, its five parts); and the catalogue version."""
    version = catalogue_store.current_version(conn)
    entries = catalogue_store.entries(conn, version)
    templates = []
    for n, entry in enumerate(sorted(entries.values(), key=lambda e: e.med_list_codg)):
        pric_e6 = (5 + (37 * n) % 400) * PRIC_SCALE + (n % 7) * 10_000
        for units in (1, 2, 3):
            cnt_e4 = units * CNT_SCALE
            terms = (entry.chrgitm_lv, entry.selfpay_prop_bp, entry.pric_uplmt_e6)
            parts = line_parts(*terms, cnt_e4, pric_e6)
            middle = (
                entry.med_list_codg, entry.med_list_name, CHRGITM_LVS[entry.chrgitm_lv], cnt_e4,
                pric_e6, entry.chrgitm_lv, entry.med_chrgitm_type, entry.selfpay_prop_bp,
                entry.pric_uplmt_e6, version,
            )  # fmt: skip
            legacy = (
                round_half_up_signed(cnt_e4, CNT_SCALE),
                round_half_up_signed(pric_e6, PRIC_SCALE // FEN_PER_YUAN),
            )
            amounts = (
                parts.det_item_fee_sumamt, parts.overlmt_amt, parts.fulamt_ownpay_amt,
                parts.preselfpay_amt, parts.inscp_scp_amt,
            )  # fmt: skip
            templates.append((middle + amounts + legacy, amounts))
    return templates, version


@dataclass
class World:
    """The fixed parts of the history: hospitals, people, the catalogue's lines, the policy."""

    hospitals: list[tuple[str, int]]
    people: list[Person]
    templates: list[tuple]
    policy: Policy
    tz: ZoneInfo
    first_day: date
    days: int
    stays: int


def write_world(conn, people: int, now: datetime, rng: random.Random) -> list[Person]:
    """Hospitals with a terminal each, people with coverage, a card and an opening balance."""
    hospitals = [(f"HIST{i:02d}", 1 + i % 3) for i in range(HOSPITALS)]
    bulk.insert_rows(
        conn,
        "institution",
        ("code", "name", "kind", "hospital_level", "pin_service", "region", "created_at"),
        [(c, f"history hospital {c}", "hospital", lv, False, "430100", now) for c, lv in hospitals],
    )
    bulk.insert_rows(
        conn,
        "terminal",
        ("terminal_id", "institution_code", "name", "created_at"),
        [(f"{c}-0", c, "desk", now) for c, _ in hospitals],
    )
    persons = [
        Person(
            f"HP{i:09d}",
            "310" if rng.random() < 0.7 else "390",
            f"HC{i:09d}",
            0,
        )
        for i in range(people)
    ]
    for p in persons:
        p.balance = OPENING_BALANCE if p.insutype == "310" else 0
    _write_people(conn, persons, now)
    return persons


def _write_people(conn, persons: list[Person], now: datetime) -> None:
    brdy, begin = date(1970, 1, 1), date(2020, 1, 1)
    bulk.insert_rows(
        conn,
        "person",
        ("psn_no", "psn_name", "gend", "brdy", "certno", "psn_cert_type", "acct_balance",
         "created_at"),
        ((p.psn_no, "history", "9", brdy, f"H{p.psn_no}", "resident_id", p.balance, now)
         for p in persons),
    )  # fmt: skip
    bulk.insert_rows(
        conn,
        "coverage_period",
        ("psn_no", "insutype", "begndate", "paid", "created_at"),
        ((p.psn_no, p.insutype, begin, True, now) for p in persons),
    )
    bulk.insert_rows(
        conn,
        "card",
        ("card_no", "card_id_code", "algorithm", "region", "psn_no", "status", "issue_date",
         "expiry", "bank_code", "created_at", "updated_at"),
        ((p.card_no, f"430100D1560000{i:018X}", "3des", "430100", p.psn_no, "active", begin,
          date(2036, 1, 1), "102", now, now) for i, p in enumerate(persons)),
    )  # fmt: skip
    bulk.insert_rows(
        conn,
        "account_entry",
        ACCOUNT_COLUMNS,
        ((p.psn_no, p.balance, "opening", None, now) for p in persons if p.balance),
    )


def settle_stay(world: World, chunk: Chunk, n: int, rng: random.Random) -> None:
    """Stay number ``n`` of the year: admission, fee lines, settlement (maybe reversed)."""
    day = world.first_day + timedelta(days=n * world.days // world.stays)
    code, level = world.hospitals[rng.randrange(len(world.hospitals))]
    terminal = f"{code}-0"
    person = world.people[rng.randrange(len(world.people))]
    local_midnight = datetime(day.year, day.month, day.day, tzinfo=world.tz)
    setl_time = (local_midnight + timedelta(seconds=28_800 + rng.randrange(36_000))).astimezone(UTC)
    begntime = setl_time - timedelta(days=rng.randrange(14), seconds=rng.randrange(3_600))
    adm_date = begntime.astimezone(world.tz).date()
    mdtrt_id, setl_id = f"MH{n:012d}", f"SH{n:012d}"
    totals = [0, 0, 0, 0, 0]
    fee_count = rng.randrange(5, 36)
    for sn in range(fee_count):
        row, amounts = world.templates[int(rng.random() * len(world.templates))]
        chunk.fee_lines.append((mdtrt_id, f"{sn:03d}", *row, begntime))
        for i in range(5):
            totals[i] += amounts[i]
    year = benefit_year(person.insutype, adm_date).year
    used = person.years.setdefault(year, [0, 0])
    split = split_bill(
        SplitRequest(
            insutype=person.insutype,
            hospital_level=level,
            items=[FeeItem("stay", *totals)],
            prior_admissions_this_year=used[1],
            ceiling_used_fen=used[0],
            account_balance_fen=person.balance,
            use_account=True,
        ),
        world.policy,
    )
    person.balance -= split.acct_pay
    used[0] += split.fund_pay_sumamt
    used[1] += 1
    reversed_ = rng.random() < REVERSAL_SHARE
    chunk.admissions.append(
        (mdtrt_id, code, terminal, person.psn_no, person.insutype, level, begntime, adm_date,
         setl_time, "internal medicine", "pneumonia", "card", person.card_no,
         "discharged" if reversed_ else "settled", begntime)
    )  # fmt: skip
    chunk.settlements.append(
        (setl_id, mdtrt_id, None if reversed_ else mdtrt_id, code, terminal, person.psn_no,
         person.insutype, year, "card", person.card_no, person.balance, fee_count,
         split.policy_version, setl_time, setl_time.astimezone(world.tz).date(),
         "reversed" if reversed_ else "settled", *(getattr(split, a) for a in SPLIT_AMOUNTS))
    )  # fmt: skip
    chunk.audit.append((setl_time, code, terminal, "settlement", setl_id, "ok"))
    if split.acct_pay:
        chunk.accounts.append((person.psn_no, -split.acct_pay, "settlement", setl_id, setl_time))
    if reversed_:
        ids = (code, terminal, setl_id, mdtrt_id, setl_time)
        _reverse(world, chunk, person, used, split, n, ids)


def _reverse(world: World, chunk: Chunk, person: Person, used, split, n: int, ids) -> None:
    code, terminal, setl_id, mdtrt_id, setl_time = ids
    revs_time = setl_time + timedelta(hours=1)
    revs_id = f"RH{n:012d}"
    chunk.reversals.append(
        (revs_id, setl_id, mdtrt_id, code, terminal, "correction", revs_time,
         revs_time.astimezone(world.tz).date())
    )  # fmt: skip
    chunk.audit.append((revs_time, code, terminal, "reversal", revs_id, "ok"))
    if split.acct_pay:
        person.balance += split.acct_pay
        chunk.accounts.append((person.psn_no, split.acct_pay, "reversal", revs_id, revs_time))
    used[0] -= split.fund_pay_sumamt
    used[1] -= 1


def write_chunk(conn, chunk: Chunk) -> int:
    """The chunk's rows, parents first; the number of fee lines written."""
    bulk.insert_rows(conn, "admission", ADMISSION_COLUMNS, chunk.admissions)
    lines = bulk.insert_rows(conn, "fee_line", FEE_COLUMNS, chunk.fee_lines)
    bulk.insert_rows(conn, "settlement", SETTLEMENT_COLUMNS, chunk.settlements)
    bulk.insert_rows(conn, "reversal", REVERSAL_COLUMNS, chunk.reversals)
    bulk.insert_rows(conn, "account_entry", ACCOUNT_COLUMNS, chunk.accounts)
    bulk.insert_rows(conn, "audit_log", AUDIT_COLUMNS, chunk.audit)
    return lines


def load(url: str, stays: int, people: int, days: int = YEAR, seed: int = 19) -> dict:
    """Migrate a fresh database at ``url`` and load the year into it; what was written and how
    long it took."""
    began = time.perf_counter()
    upgrade(url)
    rng = random.Random(seed)
    settings = Settings.from_env()
    policy, tz = load_policy(), settings.tz
    now = datetime.now(UTC)
    engine = create_engine_for_cli(url)
    try:
        with engine.begin() as conn:
            import_catalogue(conn, sample_catalogue(), "catalogue-sample.csv", policy, now)
            templates, _version = line_templates(conn)
            persons = write_world(conn, people, now, rng)
        today = now.astimezone(tz).date()
        world = World(
            hospitals=[(f"HIST{i:02d}", 1 + i % 3) for i in range(HOSPITALS)],
            people=persons,
            templates=templates,
            policy=policy,
            tz=tz,
            first_day=today - timedelta(days=days),
            days=days,
            stays=stays,
        )
        fee_lines = 0
        for start in range(0, stays, CHUNK):
            chunk = Chunk()
            for n in range(start, min(stays, start + CHUNK)):
                settle_stay(world, chunk, n, rng)
            with engine.begin() as conn:
                fee_lines += write_chunk(conn, chunk)
        with engine.begin() as conn:
            _write_years(conn, persons)
        with engine.begin() as conn:
            bulk.analyze(conn)
    finally:
        engine.dispose()
    seconds = time.perf_counter() - began
    return {
        "stays": stays,
        "people": people,
        "days": days,
        "fee_lines": fee_lines,
        "load_s": round(seconds, 1),
        "stays_per_s": round(stays / seconds, 1) if seconds else None,
    }


def _write_years(conn, persons: list[Person]) -> None:
    """The benefit years the stays counted, and every balance the stays moved."""
    bulk.insert_rows(
        conn,
        "benefit_year",
        ("psn_no", "insutype", "year", "ceiling_used", "settled_admissions"),
        (
            (p.psn_no, p.insutype, year, used, count)
            for p in persons
            for year, (used, count) in p.years.items()
        ),
    )
    opening = {"310": OPENING_BALANCE, "390": 0}
    bulk.update_balances(
        conn, [(p.psn_no, p.balance) for p in persons if p.balance != opening[p.insutype]]
    )


def best_ms(work, repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs of ``work()``, in ms."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


def measure(url: str, *, whole_ledger: bool = True, days: int = YEAR) -> dict:
    """The daily report of one hospital and of all, for a day 30 days back, the ledger check of
    that day's people (each the best of three) and of everyone (once, unless ``whole_ledger``
    is false: it reads the whole database, a minute at 500 000 stays); their outcome."""
    tz = Settings.from_env().tz
    day = datetime.now(tz).date() - timedelta(days=min(30, days - 1))
    engine = create_engine_for_cli(url)
    outcome: dict = {}
    try:
        with engine.connect() as conn:

            def one() -> None:
                outcome["one"] = reconciliation.daily_report(conn, "HIST01", day)

            def every() -> None:
                outcome["all"] = reconciliation.all_reports(conn, day)

            def ledger() -> None:
                outcome["ledger"] = reconciliation.ledger_check(conn)

            def day_ledger() -> None:
                outcome["day_ledger"] = reconciliation.ledger_check(conn, day)

            timings = {
                "report_ms": best_ms(one),
                "report_all_ms": best_ms(every),
                "day_ledger_ms": best_ms(day_ledger),
            }
            if whole_ledger:
                timings["ledger_ms"] = best_ms(ledger, repeat=1)
    finally:
        engine.dispose()
    return {
        **timings,
        "report_day": day.isoformat(),
        "day_settlements": sum(r["settlements"]["count"] for r in outcome["all"]["institutions"]),
        "balanced": outcome["all"]["balanced"] and outcome["one"]["balanced"],
        "ledger_ok": all(outcome[k]["ok"] for k in ("ledger", "day_ledger") if k in outcome),
        "ledger_problems": outcome.get("ledger", outcome["day_ledger"])["problems"][:3],
    }


def runs(args: argparse.Namespace, workdir: Path) -> Iterator[dict]:
    """Load (or copy from ``--history-cache``) and measure each database and size asked for."""
    names = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for name in names:
        for stays, days in args.sizes:
            how = {"days": days, "whole_ledger": not args.no_whole_ledger}
            people = max(1, int(stays * args.people_per_stay))
            where = workdir / f"{name}-{stays}-{days}d"
            if name == "sqlite":
                loaded = sqlite_history(args.history_cache, where, stays, people, load, days)
                yield {"database": name, **loaded.facts, **measure(loaded.url, **how)}
                continue
            with postgres_history(
                args.history_cache, where, stays, people, load, days, durable=False
            ) as (_server, loaded):
                yield {"database": name, **loaded.facts, **measure(loaded.url, **how)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred stays, for the suite")
    parser.add_argument(
        "--stays",
        default="50000,500000",
        help="history sizes, comma-separated (50000,500000); N:D spreads N stays over D days",
    )
    parser.add_argument("--people-per-stay", type=float, default=1.0)
    parser.add_argument(
        "--days",
        type=int,
        default=YEAR,
        help="days the stays are spread over (365); e.g. 50000 stays over 37 days have the "
        "daily volume of 500000 over 365: the report of a day, on a longer history",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--no-whole-ledger",
        action="store_true",
        help="skip the whole-ledger check (a minute or more at 500 000 stays)",
    )
    parser.add_argument("--keep", type=Path, help="keep the SQLite files in this directory")
    parser.add_argument(
        "--history-cache",
        type=Path,
        help="keep each loaded history in this directory and measure a copy of it next time "
        "(benchmarks/_history_cache.py; a stale entry is loaded again)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.stays = "300"
    args.sizes = [  # "N" or "N:DAYS"
        (int(n), int(d or args.days))
        for n, _, d in (s.partition(":") for s in args.stays.split(","))
    ]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    done = []
    with tempfile.TemporaryDirectory(prefix="sscard-history-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for run in runs(args, workdir):
            print(json.dumps(run), file=sys.stderr, flush=True)
            done.append(run)
    ok = all(r["balanced"] and r["ledger_ok"] for r in done)
    print(json.dumps({"runs": done, "ok": ok, "targets": {"report_all_ms": 1000}}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
