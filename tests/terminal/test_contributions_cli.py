"""The enrolment office and a payment channel at the command line (issue 20, terminal/cli/
contributions.py), on a pseudo-terminal, against a service whose business date is a June day
(``SSCARD_TODAY``, tests only): enter → status → correct, order → confirm → reconcile, and the
service's refusals in the clerk's language."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import httpx
import pytest

from terminal import cli

from .clerk_pty import Clerk

ROOT = Path(__file__).resolve().parents[2]
JUNE = "2026-06-15"


@pytest.fixture(scope="module")
def june(settlement_service_factory):
    """A service on 15 June 2026: a card centre key, a payment channel key, the admin key."""
    service = settlement_service_factory(extra_env={"SSCARD_TODAY": JUNE})
    tag = secrets.token_hex(3).upper()
    service.centre_key = service.add_terminal(f"CC{tag}", kind="card_centre")
    service.channel = f"PC{tag}"
    service.channel_key = service.add_terminal(service.channel, kind="payment_channel")
    return service


def person(service) -> str:
    psn_no = f"430100{secrets.randbelow(10**14):014d}"
    body = {"psn_no": psn_no, "psn_name": "王五", "brdy": "1980-01-01", "certno": psn_no}
    answer = service.client().post("/v1/people", json=body, headers={"Idempotency-Key": psn_no})
    assert answer.status_code == 201, answer.text
    return psn_no


def env(service, key: str, lang: str) -> dict[str, str]:
    return {
        **os.environ,
        "SSCARD_SERVICE_URL": service.url,
        "SSCARD_API_KEY": key,
        "SSCARD_LANG": lang,
        "COLUMNS": "140",
        "PYTHONPATH": str(ROOT),
    }


def run(argv: list[str], environ: dict[str, str]) -> tuple[int, str]:
    clerk = Clerk(argv, environ)
    status = clerk.wait()
    return status, clerk.seen


def test_the_service_says_its_business_date_is_fixed(june):
    health = httpx.get(f"{june.url}/v1/health").json()
    assert (health["business_date"], health["business_date_fixed"]) == (JUNE, True)
    assert f"SSCARD_TODAY={JUNE} fixes the business date" in june.log_tail(20_000)


def test_enrolment_office_in_chinese_and_english(june):
    psn = person(june)
    centre = env(june, june.centre_key, "zh_CN")
    status, seen = run(["enrolment", "enter", psn, "--applied-on", "2026-06-10"], centre)
    assert status == cli.EXIT_OK, seen
    for text in ("参保登记已录入", psn, "城乡居民", "2026-07-01", "2026-06-18", "2026-06-23"):
        assert text in seen, (text, seen)

    status, seen = run(["enrolment", "status", psn], centre)
    assert status == cli.EXIT_OK, seen
    assert (
        "数据处理中（暂不能缴费）" in seen
        and "2026（2026 年 7 月 1 日至 2027 年 6 月 30 日）" in seen
    )

    english = env(june, june.centre_key, "en")
    status, seen = run(["enrolment", "correct", psn, "--category", "flexible_worker"], english)
    assert status == cli.EXIT_OK, seen
    assert "Enrolment record corrected" in seen and "flexible worker" in seen
    status, seen = run(["enrolment", "correct", psn], english)
    assert status == cli.EXIT_USAGE and "say what to correct" in seen

    status, seen = run(["enrolment", "enter", psn], centre)  # the service refuses, in Chinese
    assert status == cli.EXIT_REFUSED and "（already_enrolled）：已参保" in seen, seen
    status, seen = run(["enrolment", "status", psn, "--year", "26"], english)
    assert status == cli.EXIT_USAGE and "26 is not an insurance year" in seen, seen


def test_payment_channel_orders_confirms_and_reconciles(june):
    psn = person(june)
    admin = env(june, june.admin_key, "zh_CN")  # a record migrated from an earlier system
    enter = ["enrolment", "enter", psn, "--applied-on", "2026-06-02", "--entered-on", "2026-06-02"]
    status, seen = run(enter, admin)
    assert status == cli.EXIT_OK, seen

    channel = env(june, june.channel_key, "zh_CN")
    status, seen = run(["--json", "pay", "order", psn, "--year", "2026"], channel)
    assert status == cli.EXIT_OK, seen
    order = json.loads(re.search(r"\{.*\}", seen, re.DOTALL).group(0))
    assert (order["status"], order["amount_fen"]) == ("pending", 40_000)

    status, seen = run(["pay", "status", order["order_no"]], channel)
    assert status == cli.EXIT_OK and "待支付" in seen and "请在此时间前支付" in seen, seen
    status, seen = run(
        ["pay", "confirm", order["order_no"], "--txn", "WX0", "--amount", "4"], channel
    )
    assert status == cli.EXIT_REFUSED and "支付金额与订单不符" in seen, seen
    status, seen = run(
        ["pay", "confirm", order["order_no"], "--txn", "WX1", "--amount", "400.00"], channel
    )
    assert status == cli.EXIT_OK, seen
    for text in ("缴费已确认", "已支付", "400.00", "WX1", JUNE):
        assert text in seen, (text, seen)

    status, seen = run(["pay", "order", psn, "--year", "2026"], channel)
    assert status == cli.EXIT_REFUSED and "（already_paid）：已缴费" in seen, seen
    status, seen = run(["pay", "order", psn, "--year", "2027"], channel)
    assert status == cli.EXIT_REFUSED and "不在缴费期内" in seen, seen

    reconcile = ["pay", "reconcile", june.channel, "--day", JUNE, "--count", "1", "--amount", "400"]
    status, seen = run(reconcile, channel)
    assert status == cli.EXIT_OK, seen
    for text in ("渠道对账", "已确认笔数", "已支付 1 笔，待支付 0 笔，已过期 0 笔", "已平衡"):
        assert text in seen, (text, seen)
    english = env(june, june.channel_key, "en")
    status, seen = run([*reconcile[:-1], "500"], english)
    assert status == cli.EXIT_OK and "NOT balanced" in seen and "100.00 yuan" in seen, seen

    status, seen = run(["enrolment", "status", psn], env(june, june.centre_key, "en"))
    assert status == cli.EXIT_OK and "paid (coverage not begun yet)" in seen, seen
