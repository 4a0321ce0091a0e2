"""A first desk (issue 17): a card image's holder, coverage and card registered through
``register-card``, and a citizen added to the simulated police register so card
production's step 3 finds them — typed by a clerk on a pseudo-terminal, in Chinese
and in English."""

from __future__ import annotations

import re
import secrets
from datetime import date

import pytest

from card.crypto import Algorithm
from card.issue import CardHolder, citizen_id, new_blank_card, new_card
from terminal import cli
from terminal.client.applications import ApplicationsClient
from terminal.client.http import RetryPolicy
from tests.terminal.clerk_pty import Clerk
from tests.terminal.test_i18n import _env

REGION = "430100"


def _card_image(world, *, insutype: str = "390", medical: bool = True):
    """A card made by the card centre, never registered with the service."""
    ssn = citizen_id(REGION, date(1991, 3, 9), secrets.randbelow(1000), "2")
    psn_no = REGION + f"{secrets.randbelow(10**14):014d}"
    card_no = f"F{secrets.randbelow(10**8):08d}"
    path = world.tmp / f"{card_no}.json"
    image = new_card(
        path,
        CardHolder(name="欧阳娜娜", ssn=ssn, sex="2"),
        keystore=world.keystore,
        region=REGION,
        card_number=card_no,
        psn_no=psn_no,
        insurance_type=insutype,
        bank_code="102",
    )
    if not medical:  # a card whose DF04 was never written
        image.records.pop("DF04")
        image.save(path)
    return path, ssn, psn_no, card_no


def _admin_env(world, lang: str) -> dict[str, str]:
    env = _env(world, world.centre, "", lang)
    env["SSCARD_API_KEY"] = world.service.admin_key
    return env


def test_register_a_card_image_in_chinese_then_again_in_english_then_admit(world):
    """The admin registers the person, a paid coverage period (a migration: only a payment or
    the admin's migration sets paid, issue 20) and the card from the image; the same command
    again changes nothing; the hospital then admits with it."""
    image, ssn, psn_no, card_no = _card_image(world)
    env = _admin_env(world, "zh_CN")
    clerk = Clerk(["register-card", str(image), "--coverage-from", "2026-01-01"], env)
    shown = clerk.expect("按卡映像登记")
    shown = clerk.expect(card_no)
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for text in ("欧阳娜娜", ssn, psn_no, "城乡居民基本医疗保险", "已登记", "已新增已缴费参保期"):
        assert text in clerk.seen, (text, clerk.seen)
    assert "已登记过" not in clerk.seen, shown

    person = world.centre_client.person(psn_no)
    assert person["certno"] == ssn and person["psn_name"] == "欧阳娜娜"
    assert [(p["insutype"], p["begndate"], p["paid"]) for p in person["insuinfo"]] == [
        ("390", "2026-01-01", True)
    ]
    assert world.centre_client.card(card_no)["status"] == "active"

    env_en = _admin_env(world, "en")
    clerk = Clerk(["register-card", str(image)], env_en)
    clerk.expect("Registered from the card image")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert clerk.seen.count("already registered") == 2 and "already covered today" in clerk.seen

    hospital = _env(world, world.hospital, str(image), "en")
    clerk = Clerk(["admit", "--dept", "内科", "--diagnosis", "肺炎"], hospital)
    clerk.expect("social security PIN (社保密码): ")
    clerk.type("123456")
    clerk.expect("Admitted: ")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen


def test_the_card_centre_registers_person_and_card_but_not_a_paid_period(world):
    """Issue 20: only a payment or the admin's migration sets paid. With the card centre's
    key the person and the card are registered and the coverage row says why it is not."""
    image, _ssn, psn_no, card_no = _card_image(world)
    clerk = Clerk(["register-card", str(image)], _env(world, world.centre, "", "zh_CN"))
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    assert "未登记：已缴费参保期只能由缴费或管理员迁移产生" in clerk.seen, clerk.seen
    person = world.centre_client.person(psn_no)
    assert person["insuinfo"] == [] and world.centre_client.card(card_no)["psn_no"] == psn_no
    clerk = Clerk(["register-card", str(image)], _admin_env(world, "en"))  # the admin migrates
    assert clerk.wait() == cli.EXIT_OK and "paid coverage added" in clerk.seen, clerk.seen


def test_register_card_refusals_in_both_languages(world):
    image, *_ = _card_image(world, medical=False)
    for lang, shown in (
        ("zh_CN", "卡内没有医保信息（DF04）：请给出 --psn-no 和 --insutype 310|390"),
        ("en", "the card holds no medical insurance data (DF04): give --psn-no"),
    ):
        clerk = Clerk(["register-card", str(image)], _env(world, world.centre, "", lang))
        assert clerk.wait() == cli.EXIT_USAGE
        assert shown in clerk.seen.replace("\r\n", " ").replace("\n", " "), clerk.seen

    blank = world.tmp / "blank-first-desk.json"
    new_blank_card(blank, keystore=world.keystore, algorithm=Algorithm.SM4, region=REGION)
    clerk = Clerk(["register-card", str(blank)], _env(world, world.centre, "", "zh_CN"))
    assert clerk.wait() == cli.EXIT_CARD
    assert "这是一张空白卡" in clerk.seen, clerk.seen

    # A hospital may not register people: the service refuses, in the clerk's language.
    image, *_ = _card_image(world)
    clerk = Clerk(["register-card", str(image)], _env(world, world.hospital, "", "zh_CN"))
    assert clerk.wait() == cli.EXIT_NOT_ENTITLED, clerk.seen
    assert "无权办理" in clerk.seen

    clerk = Clerk(
        ["register-card", str(image), "--balance", "12.345"], _env(world, world.centre, "", "en")
    )
    assert clerk.wait() == cli.EXIT_USAGE
    assert "12.345 is not an amount in yuan" in clerk.seen, clerk.seen


def test_police_register_lets_card_production_pass_step_3(world):
    """Step 3 returns an applicant the police register does not know; once the admin has
    added the citizen (Chinese desk), a new application passes the comparison."""
    ssn = citizen_id(REGION, date(1988, 8, 8), secrets.randbelow(1000), "1")
    centre = ApplicationsClient(
        world.url, world.centre.api_key, retry=RetryPolicy(attempts=3, backoff_s=0.02)
    )
    bank = ApplicationsClient(
        world.url, world.bank102.api_key, retry=RetryPolicy(attempts=3, backoff_s=0.02)
    )
    body = {
        "certno": ssn,
        "psn_name": "司马光",
        "gend": "1",
        "brdy": "1988-08-08",
        "birthplace": REGION,
        "photo_taken": True,
    }
    first = centre.apply(body)["application_id"]
    centre.audit(first)
    assert bank.compare(first)["returned"]["reason"] == "not_in_police_register"
    centre.withdraw(first)

    bad = ssn[:17] + ("0" if ssn[17] != "0" else "1")
    clerk = Clerk(["police-register", "add", bad, "--name", "司马光"], _admin_env(world, "zh_CN"))
    assert clerk.wait() == cli.EXIT_USAGE
    assert "不是身份证号码：校验码不对（是否输错？）" in clerk.seen, clerk.seen

    clerk = Clerk(["police-register", "add", ssn, "--name", "司马光"], _admin_env(world, "zh_CN"))
    clerk.expect("已加入公安人口信息库（模拟）")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for text in (ssn, "司马光", "男", "1988-08-08", REGION):
        assert text in clerk.seen, (text, clerk.seen)

    second = centre.apply(body)["application_id"]
    centre.audit(second)
    view = bank.compare(second)
    assert view["status"] == "in_progress" and view["next_step"]["step"] == 4, view

    # Only the admin writes the register (the card centre's key is refused, audited).
    clerk = Clerk(
        ["police-register", "add", ssn, "--name", "司马光"], _env(world, world.centre, "", "en")
    )
    assert clerk.wait() == cli.EXIT_NOT_ENTITLED
    assert "not entitled (service)" in clerk.seen, clerk.seen


def test_police_register_from_a_card_image_in_english(world):
    image, ssn, *_ = _card_image(world)
    clerk = Clerk(["police-register", "add", "--from-card", str(image)], _admin_env(world, "en"))
    clerk.expect("Added to the police population")
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for text in (ssn, "欧阳娜娜", "female", "1991-03-09"):
        assert text in clerk.seen, (text, clerk.seen)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh_CN", ["按卡映像登记持卡人、参保和卡片", "模拟公安人口信息库", "社保密码都是 123456"]),
        (
            "en",
            [
                "register a card image's holder, coverage and card",
                "police population",
                "security PIN 123456",
            ],
        ),
    ],
)
def test_first_desk_help(capsys, lang, words):
    with pytest.raises(SystemExit):
        cli.main(["--lang", lang, "--help"])
    out = capsys.readouterr().out.replace("\n", " ")
    out = " ".join(out.split())
    for word in words:
        assert word in out, out


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "zh_CN",
            {
                "title": "制卡申请",
                "shown": ["办理中", "预判和登记", "数据比对", "制卡环节", "个工作日", "沿用"],
                "card": [
                    "社会保障卡",
                    "持卡人",
                    "身份证号码",
                    "性别",
                    "男",
                    "真（PSAM 已校验",
                    "已启用",
                ],
                "help": "第 3 环节：公安人口信息 + 银行比对（银行）",
            },
        ),
        (
            "en",
            {
                "title": "Card application",
                "shown": ["in progress", "pre-check", "comparison", "Steps", "working days"],
                "card": ["Social security card", "holder", "ID number", "sex", "male", "active"],
                "help": "step 3: police register + bank (bank)",
            },
        ),
    ],
)
def test_the_card_centre_desk_in_both_languages(world, lang, words):
    """Card production by hand at the card centre and the bank, as typed: the application,
    its steps and the card read back in the clerk's language."""
    ssn = citizen_id(REGION, date(1979, 4, 4), secrets.randbelow(1000), "2")
    admin = _admin_env(world, lang)
    clerk = Clerk(["police-register", "add", ssn, "--name", "林黛玉"], admin)
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    centre = _env(world, world.centre, "", lang)
    clerk = Clerk(
        ["production", "apply", "--certno", ssn, "--name", "林黛玉", "--sex", "2",
         "--birth", "1979-04-04", "--birthplace", REGION],
        centre,
    )  # fmt: skip
    clerk.expect(words["title"])
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    application_id = re.search(r"(AP\w+)", clerk.seen).group(1)
    clerk = Clerk(["production", "audit", application_id], centre)
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    clerk = Clerk(["production", "compare", application_id], _env(world, world.bank102, "", lang))
    clerk.expect(words["title"])
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for text in words["shown"][:2]:
        assert text in clerk.seen, (text, clerk.seen)
    clerk = Clerk(["production", "show", application_id], centre)
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for text in words["shown"]:
        if lang == "en" or text != "沿用":
            assert text in clerk.seen, (text, clerk.seen)

    clerk = Clerk(["read"], _env(world, world.centre, str(world.patient().image), lang))
    assert clerk.wait() == cli.EXIT_OK, clerk.seen
    for text in words["card"]:
        assert text in clerk.seen, (text, clerk.seen)

    clerk = Clerk(["production", "--help"], centre)
    assert clerk.wait() == 0
    assert words["help"] in " ".join(clerk.seen.split()), clerk.seen


def test_an_application_is_checked_where_the_clerk_types_it(world):
    """Step 1 at the counter: an ID number with a wrong check digit, a birth date or sex the
    ID number contradicts are said before anything is sent (issue 17)."""
    ssn = citizen_id(REGION, date(1985, 6, 1), secrets.randbelow(1000), "1")
    bad = ssn[:17] + ("0" if ssn[17] != "0" else "1")
    base = ["production", "apply", "--name", "贾宝玉", "--birthplace", REGION]
    cases = (
        ("zh_CN", ["--certno", bad, "--sex", "1", "--birth", "1985-06-01"], "校验码不对"),
        ("en", ["--certno", ssn, "--sex", "1", "--birth", "1985-06-02"], "is not the birth date"),
        (
            "zh_CN",
            ["--certno", ssn, "--sex", "2", "--birth", "1985-06-01"],
            "与身份证号码所示性别不符",
        ),
    )
    for lang, typed, said in cases:
        clerk = Clerk([*base, *typed], _env(world, world.centre, "", lang))
        assert clerk.wait() == cli.EXIT_USAGE, clerk.seen
        assert said in " ".join(clerk.seen.split()), clerk.seen
    listing = world.centre_client.request("GET", "/v1/applications", params={"certno": ssn})
    assert listing["applications"] == []
