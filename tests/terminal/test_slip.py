"""Clerk-grade output (#17): local time to the minute, schemes in words, the settlement slip
(结算单) as text at the desk and as an HTML page rendered by headless Chromium, and a
reversal only after the clerk confirms it at the terminal."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest

from terminal import cli, i18n
from terminal.slip import Slip, local_minute, scheme_name, stay_days
from tests.fixtures.chromium import CHROMIUM, render
from tests.terminal.clerk_pty import Clerk
from tests.terminal.test_i18n import _env


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    i18n.use("en")


def test_local_time_to_the_minute(monkeypatch):
    monkeypatch.delenv("SSCARD_TIMEZONE", raising=False)
    assert local_minute("2026-11-28T14:07:33.123456+00:00") == "2026-11-28 22:07"
    assert local_minute("2026-11-28T23:59:59+08:00") == "2026-11-28 23:59"
    assert local_minute(None) == ""
    monkeypatch.setenv("SSCARD_TIMEZONE", "UTC")
    assert local_minute("2026-11-28T22:07:00+08:00") == "2026-11-28 14:07"


def test_days_and_schemes(monkeypatch):
    monkeypatch.delenv("SSCARD_TIMEZONE", raising=False)
    assert stay_days("2026-11-23T08:00:00+08:00", "2026-11-30T10:00:00+08:00") == 7
    assert stay_days("2026-11-23T08:00:00+08:00", "2026-11-23T18:00:00+08:00") == 1
    # 23:30 UTC on the 22nd is the 23rd in Changsha
    assert stay_days("2026-11-22T23:30:00+00:00", "2026-11-25T01:00:00+08:00") == 2
    i18n.use("zh_CN")
    assert scheme_name("310") == "职工基本医疗保险"
    assert scheme_name("390") == "城乡居民基本医疗保险"
    i18n.use("en")
    assert scheme_name("310") == "employee basic medical insurance (职工基本医疗保险)"


def test_a_pre_settlement_slip_says_nothing_was_booked():
    i18n.use("zh_CN")
    slip = Slip(
        {"mdtrt_id": "M1", "medfee_sumamt": 1250, "policy_version": "2026.1"}, settled=False
    )
    text = slip.text()
    assert "预结算单（未入账）" in text and "None" not in text and "结算时间" not in text
    assert "\n医疗费总额" + " " * 29 + "12.50\n" in text  # 44 columns, a CJK char is 2


def _fee_file(tmp_path: Path) -> Path:
    fees = tmp_path / "fees.csv"
    fees.write_text(
        "feedetl_sn,med_list_codg,med_list_name,list_type,cnt,pric\n"
        "1,A001,bed,A,5,20000\n2,C001,room,C,1,5000\n"
    )
    return fees


def test_a_desk_day_in_chinese_with_the_slip_and_a_confirmed_reversal(world, tmp_path):
    patient = world.patient()
    env = _env(world, world.hospital, str(patient.image), "zh_CN")

    clerk = Clerk(["admit", "--dept", "心内科", "--diagnosis", "冠心病"], env)
    clerk.expect("请输入社保密码：")
    clerk.type("123456")
    clerk.expect("已办理入院")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    mdtrt_id = clerk.seen.split("已办理入院：", 1)[1].split()[0]
    assert "入院时间" in clerk.seen and "保险" in clerk.seen  # the scheme in words

    clerk = Clerk(["fees", mdtrt_id, str(_fee_file(tmp_path))], env)
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert "1,050.00" in clerk.seen

    clerk = Clerk(["pre-settle", mdtrt_id], env)
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert "预结算单（未入账）" in clerk.seen and "None" not in clerk.seen

    html, pdf = tmp_path / "slip.html", tmp_path / "slip.pdf"
    clerk = Clerk(["discharge", mdtrt_id, "--html", str(html), "--pdf", str(pdf)], env)
    clerk.expect("请输入社保密码：")
    clerk.type("123456")
    clerk.expect("住院结算单")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    slip = clerk.seen
    for shown in (
        "结算流水号",
        f"住院号: {mdtrt_id}",
        f"卡号: {patient.card_no}",
        "患者姓名: ",
        "科室: 心内科",
        "诊断: 冠心病",
        "住院天数: 1",
        "政策版本: ",
        "医疗费总额",
        "1,050.00",
        "统筹基金支付",
        "个人现金支付",
    ):
        assert shown in slip, (shown, slip)
    setl_id = slip.split("结算流水号: ", 1)[1].split()[0]
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    clerk = Clerk(["reverse", setl_id, "--reason", "费用录入错误"], env)
    clerk.expect("确认冲正这笔结算吗？")
    clerk.type("n")
    clerk.expect("未冲正：结算保持有效。")
    assert clerk.wait() == cli.EXIT_OK

    clerk = Clerk(["reverse", setl_id, "--reason", "费用录入错误"], env)
    clerk.expect("确认冲正这笔结算吗？")
    clerk.type("是")
    clerk.expect(f"结算 {setl_id} 已冲正")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen

    if CHROMIUM:
        rendered = render(html, tmp_path / "slip.png", size="800,1100")
        for shown in ("住院结算单", mdtrt_id, patient.card_no, "心内科", "冠心病", "1,050.00"):
            assert shown in rendered, (shown, rendered)
        assert "PDF 结算单已写入" in slip
        fonts, characters = _pdf_fonts_and_characters(pdf)
        assert any("WenQuanYi" in f or "Noto" in f for f in fonts), fonts
        assert set("住院结算单心内科冠心病结算流水号") <= characters


def _pdf_fonts_and_characters(pdf: Path) -> tuple[set[str], set[str]]:
    """The fonts a PDF embeds and the characters its ToUnicode maps give text for: the
    Chinese of the page was laid out with a CJK font and is in the file as text."""
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    fonts = {f.decode() for f in re.findall(rb"/FontName\s*/([A-Za-z0-9+_-]+)", data)}
    characters: set[str] = set()
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            stream = zlib.decompress(match.group(1))
        except zlib.error:
            continue
        if b"beginbfchar" in stream or b"beginbfrange" in stream:
            for code in re.findall(rb"<([0-9A-Fa-f]{4})>", stream):
                characters.add(chr(int(code, 16)))
    return fonts, characters
