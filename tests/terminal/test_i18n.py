"""The counters in Chinese and English (terminal/i18n.py): the catalogue is complete and
compiled, problem titles by code, new PINs checked as typed, and a clerk at a
pseudo-terminal sees the prompts, tries left and results in the chosen language."""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from terminal import cli, i18n
from terminal.flows.pins import weak_pin_reason
from tests.terminal.clerk_pty import Clerk

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "terminal/locale/zh_CN/LC_MESSAGES/sscard.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    i18n.use("en")


def _catalogue() -> dict:
    with MO.open("rb") as f:
        return gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs xgettext (Debian gettext)")
def test_every_message_in_the_code_has_a_chinese_translation(tmp_path):
    pot = tmp_path / "sscard.pot"
    sources = sorted(
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("terminal/cli/*.py"), *ROOT.glob("terminal/flows/*.py")]
    ) + ["terminal/i18n.py", "terminal/slip.py", "terminal/dayreport.py", "terminal/pdf.py"]
    subprocess.run(
        ["xgettext", "--from-code=UTF-8", "-L", "Python", "-k_", "-kngettext:1,2", "-o", pot]
        + sources,
        cwd=ROOT,
        check=True,
    )
    msgids = _msgids(pot.read_text(encoding="utf-8"))
    assert len(msgids) > 80
    catalogue = _catalogue()
    translated = {k[0] if isinstance(k, tuple) else k for k, v in catalogue.items() if v}
    assert sorted(msgids - translated) == []


def _msgids(pot: str) -> set[str]:
    """The msgids of a .pot file (each one possibly continued over several quoted lines)."""
    ids = set()
    for block in re.findall(r'^msgid ((?:".*"\n)+)', pot, re.MULTILINE):
        text = "".join(ast.literal_eval(line) for line in block.split("\n") if line)
        if text:
            ids.add(text)
    return ids


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="needs msgfmt (Debian gettext)")
def test_the_shipped_mo_is_compiled_from_the_po(tmp_path):
    fresh = tmp_path / "sscard.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", fresh, PO], check=True)
    assert fresh.read_bytes() == MO.read_bytes(), "run scripts/build_locale.sh"


def test_problem_titles_by_code():
    i18n.use("zh_CN")
    assert i18n.problem_title("card_lost", "Card reported lost") == "卡片已挂失"
    assert i18n.problem_title("catalogue_unknown_item", "x") == "医保目录中无此项目"
    assert i18n.problem_title("some_new_code", "Some new problem") == "Some new problem"
    i18n.use("en")
    assert i18n.problem_title("card_lost", "Card reported lost") == "Card reported lost"


def test_language_choice():
    assert i18n.language_from_argv([], {}) == "zh_CN"
    assert i18n.language_from_argv([], {"SSCARD_LANG": "en"}) == "en"
    assert i18n.language_from_argv(["--lang", "en", "admit"], {}) == "en"
    assert i18n.language_from_argv(["--lang=zh_CN"], {"SSCARD_LANG": "en"}) == "zh_CN"
    with pytest.raises(ValueError, match="zh_CN, en"):
        i18n.use("fr")


@pytest.mark.parametrize(
    ("pin", "reason"),
    [
        ("246810", None),
        ("135790", None),
        ("0000", "all digits the same"),
        ("111111", "all digits the same"),
        ("123456", "digits in sequence"),
        ("654321", "digits in sequence"),
        ("890123", "digits in sequence"),
        ("123", "a PIN is 4 to 12 digits"),
        ("12a456", "a PIN is 4 to 12 digits"),
        ("1234567890123", "a PIN is 4 to 12 digits"),
    ],
)
def test_new_pin_rules(pin, reason):
    assert weak_pin_reason(pin) == reason


def test_help_in_both_languages(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--lang", "zh_CN", "admit", "--help"])
    assert "允许输入密码的次数" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--lang", "en", "admit", "--help"])
    assert "PIN attempts to allow" in capsys.readouterr().out


def _env(world, institution, reader: str, lang: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SSCARD_SERVICE_URL": world.url,
        "SSCARD_API_KEY": institution.api_key,
        "SSCARD_PSAM": str(institution.psam_path),
        "SSCARD_READER": reader,
        "SSCARD_LANG": lang,
        "COLUMNS": "120",
        "PYTHONPATH": str(ROOT),
    }
    return env


WORDS = {
    "zh_CN": {
        "pin": "请输入社保密码：",
        "again": "密码错误，还可再试 2 次。请输入社保密码：",
        "admitted": "已办理入院",
        "old": "原社保密码：",
        "new": "新社保密码：",
        "confirm": "再次输入新社保密码：",
        "weak": "不能用作新密码：各位数字全部相同",
        "differ": "两次输入的新密码不一致",
        "done": "密码业务",
    },
    "en": {
        "pin": "social security PIN (社保密码): ",
        "again": "wrong PIN, 2 tries left. Social security PIN (社保密码): ",
        "admitted": "Admitted: ",
        "old": "current social security PIN: ",
        "new": "new social security PIN: ",
        "confirm": "new social security PIN again: ",
        "weak": "not accepted as a new PIN: all digits the same",
        "differ": "the two new PINs differ",
        "done": "PIN operation",
    },
}


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_clerk_admits_and_the_holder_changes_the_pin(world, lang):
    """As typed at the desk: a wrong PIN says the tries left and asks again; a new PIN of
    all the same digit and a mistyped confirmation are said and asked again; no PIN is
    ever echoed."""
    words = WORDS[lang]
    patient = world.patient()
    env = _env(world, world.hospital, str(patient.image), lang)

    clerk = Clerk(["admit", "--dept", "内科", "--diagnosis", "肺炎", "--tries", "3"], env)
    clerk.expect(words["pin"])
    clerk.type("999999")
    clerk.expect(words["again"])
    clerk.type("123456")
    clerk.expect(words["admitted"])
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert "999999" not in clerk.seen and "123456" not in clerk.seen

    clerk = Clerk(["pin", "change"], env)
    clerk.expect(words["old"])
    clerk.type("123456")
    clerk.expect(words["new"])
    clerk.type("111111")
    clerk.expect(words["weak"])
    clerk.expect(words["new"])
    clerk.type("246810")
    clerk.expect(words["confirm"])
    clerk.type("246811")
    clerk.expect(words["differ"])
    clerk.expect(words["new"])
    clerk.type("246810")
    clerk.expect(words["confirm"])
    clerk.type("246810")
    clerk.expect(words["done"])
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert not {"111111", "246810", "246811"} & set(re.findall(r"\d{6}", clerk.seen))


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("zh_CN", ["结算服务拒绝（not_found）", "未找到: admission ZY-NO-SUCH-STAY"]),
        ("en", ["refused by the service (not_found)", "Not found: admission ZY-NO-SUCH-STAY"]),
    ],
)
def test_a_refusal_in_the_clerks_language(world, lang, shown):
    env = _env(world, world.hospital, "", lang)
    clerk = Clerk(["pre-settle", "ZY-NO-SUCH-STAY"], env)
    assert clerk.wait() == cli.EXIT_REFUSED
    for text in shown:
        assert text in clerk.seen, clerk.seen


def test_a_pin_reset_checks_the_holders_id_document_first(world):
    """At the PIN service counter (Chinese): an ID number with a wrong check digit is said
    and asked again; another person's ID document stops the reset before the card is
    touched; the holder's own lets the new PIN be set."""
    patient, other = world.patient(), world.patient()
    env = _env(world, world.pin_hospital, str(patient.image), "zh_CN")
    certno = patient.certno
    wrong_check = certno[:17] + ("0" if certno[17] != "0" else "1")

    clerk = Clerk(["pin", "reset"], env)
    clerk.expect("请输入持卡人身份证件上的号码：")
    clerk.type(wrong_check)
    clerk.expect("校验码不对（是否输错？）")
    clerk.expect("请输入持卡人身份证件上的号码：")
    clerk.type(other.certno)
    clerk.expect("新社保密码：")
    clerk.type("135790")
    clerk.expect("再次输入新社保密码：")
    clerk.type("135790")
    clerk.expect("所出示的身份证件不是本卡持卡人的：未做任何修改")
    assert clerk.wait() == cli.EXIT_USAGE

    clerk = Clerk(["pin", "reset"], env)
    clerk.expect("请输入持卡人身份证件上的号码：")
    clerk.type(certno)
    clerk.expect("新社保密码：")
    clerk.type("135790")
    clerk.expect("再次输入新社保密码：")
    clerk.type("135790")
    clerk.expect("密码业务")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen


def test_a_bank_pin_change_at_the_issuing_bank_in_english(world):
    patient = world.patient()
    env = _env(world, world.bank102, str(patient.image), "en")
    clerk = Clerk(["bank-pin", "change"], env)
    clerk.expect("current bank PIN: ")
    clerk.type("123456")
    clerk.expect("new bank PIN: ")
    clerk.type("2222")
    clerk.expect("not accepted as a new PIN: all digits the same")
    clerk.expect("new bank PIN: ")
    clerk.type("8642")
    clerk.expect("new bank PIN again: ")
    clerk.type("8642")
    clerk.expect("PIN operation")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert "change" in clerk.seen and "8642" not in clerk.seen


def test_input_checked_where_typed(monkeypatch, capsys):
    from datetime import datetime, timedelta, timezone

    from terminal.cli.common import UsageError, id_number_reason, parse_when

    monkeypatch.delenv("SSCARD_TIMEZONE", raising=False)
    assert parse_when("2026-11-23 08:00") == datetime(
        2026, 11, 23, 8, 0, tzinfo=timezone(timedelta(hours=8))
    )
    assert parse_when("2026-11-23T08:00:00+00:00").utcoffset() == timedelta(0)
    with pytest.raises(UsageError, match="2026-13-01 08:00 is not a date and time"):
        parse_when("2026-13-01 08:00")
    assert id_number_reason("11010519491231002X") is None
    assert id_number_reason("110105194912310021") == "the check digit is wrong (mistyped?)"
    assert "18 characters" in id_number_reason("1101051949")
    code = cli.main(
        [
            "--lang", "zh_CN", "--api-key", "k", "discharge-exempt", "M1", "--kind",
            "lost_card_receipt", "--certno", "110105194912310021", "--receipt-no", "R1",
        ]
    )  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert "校验码不对（是否输错？）" in capsys.readouterr().err
