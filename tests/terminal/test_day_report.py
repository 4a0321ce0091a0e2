"""The day report (#17): the service's daily report carries the fees by catalogue class
(甲/乙/丙), the money by department and the refusals by reason (docs/api.md §Reports); the
desk shows them in Chinese and English on a pseudo-terminal and writes a printable HTML
page that headless Chromium renders (checked text, and a screenshot)."""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from terminal import cli
from terminal.client.http import ServiceRefused
from terminal.psam import Role
from tests.fixtures.chromium import CHROMIUM, render
from tests.terminal.clerk_pty import Clerk
from tests.terminal.test_cli_e2e import last_json, terminal
from tests.terminal.test_i18n import _env
from tests.terminal.test_slip import _fee_file


@pytest.fixture(scope="module")
def day(world, tmp_path_factory):
    """A hospital of its own with one day: a cardiology stay settled, an orthopaedics stay
    settled then reversed, and an admission refused for want of coverage."""
    tmp = tmp_path_factory.mktemp("day-report")
    hospital = world._institution(
        f"HR{secrets.token_hex(3).upper()}", "hospital", Role.HOSPITAL, hospital_level=3
    )
    fees = tmp / "fees.csv"
    fees.write_text(
        "feedetl_sn,med_list_codg,med_list_name,list_type,cnt,pric\n"
        "1,A001,bed,A,5,20000\n2,B001,drug,B,2,1500\n3,C001,room,C,1,5000\n"
    )
    settled = {}
    for dept in ("心内科", "骨科"):
        patient = world.patient()
        image = str(patient.image)
        admitted = terminal(
            world, hospital, image, "admit", "--dept", dept, "--diagnosis", "x", stdin="123456\n"
        )
        mdtrt_id = last_json(admitted)["mdtrt_id"]
        assert terminal(world, hospital, None, "fees", mdtrt_id, str(fees)).returncode == 0
        out = terminal(world, hospital, image, "discharge", mdtrt_id, stdin="123456\n")
        settled[dept] = last_json(out)["setl_id"]
    reversed_ = terminal(
        world, hospital, None, "reverse", settled["骨科"], "--yes", "--reason", "录入错误"
    )
    assert reversed_.returncode == 0, reversed_.stderr
    # Resident (390) coverage asked for an employee-insured patient: refused, audited.
    patient = world.patient()
    refused = terminal(
        world, hospital, str(patient.image), "admit", "--dept", "内科", "--diagnosis", "x",
        "--insutype", "390", stdin="123456\n",
    )  # fmt: skip
    assert refused.returncode == cli.EXIT_REFUSED, refused.stderr
    return hospital, tmp


def test_the_service_reports_classes_departments_and_refusals(world, day):
    hospital, _tmp = day
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    report = hospital.client(world.url).daily_report(today)
    # The standing settlement's fees: 5 x 200.00 (甲), 2 x 15.00 (乙), 1 x 50.00 (丙).
    assert report["by_class"] == {"A": 100_000, "B": 3_000, "C": 5_000}
    departments = {d["dept_name"]: d for d in report["by_department"]}
    assert set(departments) == {"心内科", "骨科"}
    cardio, ortho = departments["心内科"], departments["骨科"]
    assert cardio["settlements"]["count"] == 1 and cardio["reversals"]["count"] == 0
    assert cardio["net"]["medfee_sumamt"] == 108_000
    assert ortho["settlements"]["medfee_sumamt"] == ortho["reversals"]["medfee_sumamt"] == 108_000
    assert ortho["net"] == {
        "count": 0,
        "medfee_sumamt": 0,
        "fund_pay_sumamt": 0,
        "acct_pay": 0,
        "psn_cash_pay": 0,
    }
    for key in ("count", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay"):
        assert sum(d["net"][key] for d in departments.values()) == report["net"][key], key
    assert report["refusals"] == [{"code": "not_covered", "count": 1}]
    # Another hospital's refusals are not this one's.
    assert world.hospital.client(world.url).daily_report(today)["institution"] != hospital.code
    with pytest.raises(ServiceRefused) as refused:
        world.hospital.client(world.url).daily_report(today, hospital.code)
    assert refused.value.status == 404


def _day_report_in_chinese(world, hospital, *args: str, shows: tuple[str, ...]) -> None:
    """``terminal day-report ARGS`` at the hospital's desk in Chinese, finished with exit 0,
    having shown every text of ``shows``."""
    clerk = Clerk(["day-report", *args], _env(world, hospital, "", "zh_CN"))
    clerk.expect("日结报表")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for shown in shows:
        assert shown in clerk.seen, (shown, clerk.seen)


def test_the_day_report_at_the_desk_in_chinese_with_its_html_page(world, day):
    hospital, tmp = day
    page = tmp / "day-report.html"
    _day_report_in_chinese(
        world,
        hospital,
        "--html",
        str(page),
        shows=(
            "按目录类别的费用",
            "甲类",
            "1,000.00",
            "乙类",
            "30.00",
            "丙类",
            "50.00",
            "按科室净额",
            "心内科",
            "1,080.00",
            "骨科",
            "按原因统计的拒绝",
            "无参保待遇",
            "not_covered",
            "已平衡",
            "HTML 报表已写入",
        ),
    )
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and hospital.code in text
    if CHROMIUM:
        rendered = render(page, tmp / "day-report.png", size="900,1400")
        for shown in ("日结报表", "甲类", "乙类", "丙类", "心内科", "骨科", "无参保待遇"):
            assert shown in rendered, (shown, rendered)
        assert "1,080.00" in rendered and "1,000.00" in rendered


def test_the_day_report_in_english(world, day):
    hospital, _tmp = day
    clerk = Clerk(["day-report"], _env(world, hospital, "", "en"))
    clerk.expect("Day report")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for shown in ("class A", "class B", "class C", "Refusals by reason", "Not covered"):
        assert shown in clerk.seen, (shown, clerk.seen)


def test_the_day_report_in_chinese_with_a_csv_of_the_settlements(world, tmp_path):
    patient = world.patient()
    image, hospital = str(patient.image), world.hospital
    admitted = terminal(
        world, hospital, image, "admit", "--dept", "骨科", "--diagnosis", "骨折", stdin="123456\n"
    )
    mdtrt_id = last_json(admitted)["mdtrt_id"]
    assert (
        terminal(world, hospital, None, "fees", mdtrt_id, str(_fee_file(tmp_path))).returncode == 0
    )
    settled = terminal(world, hospital, image, "discharge", mdtrt_id, stdin="123456\n")
    setl_id = last_json(settled)["setl_id"]

    export = tmp_path / "day.csv"
    _day_report_in_chinese(
        world,
        hospital,
        "--csv",
        str(export),
        shows=(
            "结算",
            "冲正",
            "净额",
            "笔数",
            "医疗费总额",
            "统筹基金支付",
            "已平衡",
            "笔结算导出至",
        ),
    )
    data = export.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with its BOM
    rows = data.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("setl_id,mdtrt_id,psn_no,insutype,dept_name,setl_time,medfee_sumamt")
    mine = [r for r in rows if r.startswith(setl_id)]
    assert len(mine) == 1, rows
    assert ",骨科," in mine[0] and ",1050.00," in mine[0], mine[0]
