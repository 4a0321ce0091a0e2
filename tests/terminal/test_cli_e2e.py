"""``python -m terminal`` as a clerk's script would run it: real service, real cards, exit codes."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys

import httpx

from terminal import cli

from .test_exemptions_e2e import person


def terminal(world, institution, reader_name, *argv, stdin="", json_output=True):
    env = {
        **os.environ,
        "SSCARD_SERVICE_URL": world.url,
        "SSCARD_API_KEY": institution.api_key,
        "SSCARD_PSAM": str(institution.psam_path),
    }
    if reader_name:
        env["SSCARD_READER"] = reader_name
    return subprocess.run(
        [sys.executable, "-m", "terminal", *(["--json"] if json_output else []), "--pin-stdin"]
        + list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def last_json(result) -> dict:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def reader_name(card_reader, patient) -> str:
    if card_reader.kind == "inprocess":
        return str(patient.image)
    return card_reader(patient.image).name


def test_desk_day_through_the_cli(world, card_reader, tmp_path):
    patient = world.patient()
    name = reader_name(card_reader, patient)
    hospital = world.hospital

    read = terminal(world, hospital, name, "read")
    assert read.returncode == cli.EXIT_OK, read.stderr
    card = last_json(read)
    assert card["card_no"] == patient.card_no
    assert card["psn_no"] == patient.psn_no and card["certno"] == patient.certno
    assert card["card_status"] == "active" and card["expired"] is False
    assert card["genuine"] is True and card["gend"] in {"1", "2"}
    assert len(card["card_sn"]) == 32 and card["insutype"] in {"310", "390"}
    assert set(card) == READ_KEYS

    wrong = terminal(
        world, hospital, name, "admit", "--dept", "icu", "--diagnosis", "x", stdin="999999\n"
    )
    assert wrong.returncode == cli.EXIT_PIN
    assert "2 tries left" in wrong.stderr

    admitted = terminal(
        world, hospital, name, "admit", "--dept", "icu", "--diagnosis", "x", stdin="123456\n"
    )
    assert admitted.returncode == cli.EXIT_OK, admitted.stderr
    mdtrt_id = last_json(admitted)["mdtrt_id"]

    fees = tmp_path / "fees.csv"
    fees.write_text(
        "feedetl_sn,med_list_codg,med_list_name,list_type,cnt,pric\n"
        "1,A001,bed,A,5,20000\n2,C001,room,C,1,5000\n"
    )
    uploaded = terminal(world, hospital, None, "fees", mdtrt_id, str(fees))
    assert uploaded.returncode == cli.EXIT_OK, uploaded.stderr
    assert last_json(uploaded) == {
        "mdtrt_id": mdtrt_id,
        "accepted": 2,
        "duplicates": 0,
        "fee_count": 2,
        "medfee_sumamt": 105_000,
    }

    preview = terminal(world, hospital, None, "pre-settle", mdtrt_id, "--no-account")
    assert preview.returncode == cli.EXIT_OK, preview.stderr

    receipt = terminal(
        world, hospital, name, "discharge", mdtrt_id, "--no-account", stdin="123456\n"
    )
    assert receipt.returncode == cli.EXIT_OK, receipt.stderr
    settlement = last_json(receipt)
    assert settlement["medfee_sumamt"] == 105_000
    assert settlement["acct_pay"] == 0
    assert settlement["fund_pay_sumamt"] + settlement["psn_cash_pay"] == 105_000
    assert last_json(preview)["fund_pay_sumamt"] == settlement["fund_pay_sumamt"]

    again = terminal(world, hospital, name, "discharge", mdtrt_id, stdin="123456\n")
    assert again.returncode == cli.EXIT_REFUSED
    assert "already_settled" in again.stderr

    reversed_ = terminal(
        world, hospital, None, "reverse", settlement["setl_id"], "--reason", "typo"
    )
    assert reversed_.returncode == cli.EXIT_OK, reversed_.stderr
    undone = last_json(reversed_)
    assert undone["mdtrt_id"] == mdtrt_id and undone["setl_id"] == settlement["setl_id"]
    assert undone["fund_pay_sumamt"] == settlement["fund_pay_sumamt"]
    assert set(undone) == {
        "setl_id",
        "revs_setl_id",
        "mdtrt_id",
        "fund_pay_sumamt",
        "acct_pay",
        "balc",
    }


def test_admission_with_the_hospitals_inpatient_number(world, card_reader):
    """``admit --ipt-no``: the number is stored and shown; a second live stay of the hospital
    under it is refused in one line for the clerk (exit 4), nothing admitted, before the PIN is
    asked (no PIN on stdin: asking for one would be exit 2)."""
    patient, other = world.patient(), world.patient()
    number = f"ZY{secrets.randbelow(10**8):08d}"
    admit = ("admit", "--dept", "icu", "--diagnosis", "x", "--ipt-no", number)
    hospital = world.hospital
    admitted = terminal(
        world, hospital, reader_name(card_reader, patient), *admit, stdin="123456\n"
    )
    assert admitted.returncode == cli.EXIT_OK, admitted.stderr
    record = last_json(admitted)
    assert record["ipt_no"] == number and record["psn_no"] == patient.psn_no
    with hospital.client(world.url) as client:
        assert client.admission(record["mdtrt_id"])["ipt_no"] == number

    other_reader = reader_name(card_reader, other)
    taken = terminal(world, hospital, other_reader, "--lang", "zh_CN", *admit, stdin="")
    assert taken.returncode == cli.EXIT_REFUSED, taken.stderr
    assert taken.stdout == ""
    (line,) = taken.stderr.strip().splitlines()
    assert line.startswith("医院住院号已被占用：") and f"{number} 已用于本院的住院记录" in line
    assert record["mdtrt_id"] in line
    with hospital.client(world.url) as client:
        assert client.admissions(psn_no=other.psn_no)["admissions"] == []


def test_exempt_admission_with_the_hospitals_inpatient_number(world):
    """``admit-exempt --ipt-no`` shows the number in the table (English and Chinese); a taken
    number is refused in English with ``--lang en``; a blank one is bad usage (exit 2)."""
    documents = {}
    for _ in range(2):
        document = f"E{secrets.randbelow(10**8):08d}"
        psn_no = person(
            world,
            psn_name="John Smith",
            gend="1",
            brdy="1975-03-02",
            certno=document,
            psn_cert_type="passport",
            origin="foreign",
            acct_balance=0,
        )
        documents[psn_no] = document
    first, second = documents
    numbers = [f"ZY-{secrets.token_hex(4)}" for _ in range(2)]

    def admit_exempt(psn_no: str, ipt_no: str, *lang: str):
        evidence = ("--kind", "foreign_document", "--doc-type", "passport")
        return terminal(
            world,
            world.hospital,
            None,
            *lang,
            "admit-exempt",
            *("--psn-no", psn_no, "--insutype", "390", "--dept", "a", "--diagnosis", "b"),
            *evidence,
            *("--doc-no", documents[psn_no], "--ipt-no", ipt_no),
            json_output=False,
        )

    shown = admit_exempt(first, numbers[0], "--lang", "en")
    assert shown.returncode == cli.EXIT_OK, shown.stderr
    assert re.search(rf"hospital inpatient no\.\s*│?\s*{numbers[0]}", shown.stdout), shown.stdout
    mdtrt_id = re.search(r"Admitted: (\S+)", shown.stdout).group(1)

    taken = admit_exempt(second, numbers[0], "--lang", "en")
    assert taken.returncode == cli.EXIT_REFUSED, taken.stderr
    assert taken.stderr.strip() == (
        f"inpatient number taken: {numbers[0]} is already the number of stay {mdtrt_id} at "
        "this hospital; check the number, or cancel that stay first. Nothing was admitted."
    )

    blank = admit_exempt(second, "  ", "--lang", "zh_CN")
    assert blank.returncode == cli.EXIT_USAGE
    assert "--ipt-no" in blank.stderr and "医院住院号" in blank.stderr

    chinese = admit_exempt(second, numbers[1], "--lang", "zh_CN")
    assert chinese.returncode == cli.EXIT_OK, chinese.stderr
    assert re.search(rf"医院住院号\s*│?\s*{numbers[1]}", chinese.stdout), chinese.stdout


READ_KEYS = {
    "card_no",
    "card_sn",
    "algorithm",
    "genuine",
    "issue_date",
    "expiry_date",
    "psn_name",
    "certno",
    "gend",
    "brdy",
    "insuplc_admdvs",
    "insutype",
    "psn_no",
    "card_status",
    "expired",
}


def query_password_valid(world, institution, psn_no: str, password: str) -> bool:
    answer = httpx.post(
        f"{world.url}/v1/people/{psn_no}/query-password/verification",
        json={"password": password},
        headers={"Authorization": f"Bearer {institution.api_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["valid"]


def test_query_password_change_through_the_cli(world, card_reader):
    patient = world.patient()
    name = reader_name(card_reader, patient)
    bank = world.bank102
    reset = terminal(world, bank, name, "query-password", "reset", stdin="first-pw-1\nfirst-pw-1\n")
    assert reset.returncode == cli.EXIT_OK, reset.stderr

    wrong_old = terminal(
        world, bank, name, "query-password", "change", stdin="not-it\nsecond-pw-2\nsecond-pw-2\n"
    )
    assert wrong_old.returncode == cli.EXIT_REFUSED, wrong_old.stdout + wrong_old.stderr
    assert "password_invalid" in wrong_old.stderr
    differ = terminal(
        world, bank, name, "query-password", "change", stdin="first-pw-1\nsecond-pw-2\nother\n"
    )
    assert differ.returncode == cli.EXIT_USAGE and "differ" in differ.stderr
    assert query_password_valid(world, bank, patient.psn_no, "first-pw-1")

    changed = terminal(
        world,
        bank,
        name,
        "query-password",
        "change",
        stdin="first-pw-1\nsecond-pw-2\nsecond-pw-2\n",
    )
    assert changed.returncode == cli.EXIT_OK, changed.stderr
    assert last_json(changed) == {"psn_no": patient.psn_no, "operation": "change"}
    assert query_password_valid(world, bank, patient.psn_no, "second-pw-2")
    assert not query_password_valid(world, bank, patient.psn_no, "first-pw-1")
    # By person number, without the card, at the card centre.
    by_number = terminal(
        world,
        world.centre,
        None,
        "query-password",
        "change",
        "--psn-no",
        patient.psn_no,
        stdin="second-pw-2\nthird-pw-3\nthird-pw-3\n",
    )
    assert by_number.returncode == cli.EXIT_OK, by_number.stderr
    assert query_password_valid(world, bank, patient.psn_no, "third-pw-3")


def test_pin_services_through_the_cli(world, card_reader):
    patient = world.patient()
    name = reader_name(card_reader, patient)
    refused = terminal(world, world.hospital, name, "pin", "reset", stdin="111111\n111111\n")
    assert refused.returncode == cli.EXIT_NOT_ENTITLED
    assert "not entitled" in refused.stderr

    changed = terminal(
        world, world.hospital, name, "pin", "change", stdin="123456\n246810\n246810\n"
    )
    assert changed.returncode == cli.EXIT_OK, changed.stderr

    reset = terminal(
        world,
        world.pin_hospital,
        name,
        "pin",
        "reset",
        stdin=f"{patient.certno}\n135790\n135790\n",
    )
    assert reset.returncode == cli.EXIT_OK, reset.stderr
    assert last_json(reset) == {
        "card_no": patient.card_no,
        "pin": "ssse",
        "operation": last_json(reset)["operation"],
        "tries_left": 3,
        "verified": False,
    }

    other_bank = terminal(
        world, world.bank103, name, "bank-pin", "reset", stdin=f"{patient.certno}\n2468\n2468\n"
    )
    assert other_bank.returncode == cli.EXIT_NOT_ENTITLED
    own_bank = terminal(
        world, world.bank102, name, "bank-pin", "unblock", stdin=f"{patient.certno}\n"
    )
    assert own_bank.returncode == cli.EXIT_OK, own_bank.stderr
    # card.md §What real cards do: the holder changes the bank PIN at the issuing bank, old
    # PIN first (a wrong one is a PIN error, exit EXIT_PIN)
    wrong_old = terminal(
        world, world.bank102, name, "bank-pin", "change", stdin="000000\n8642\n8642\n"
    )
    assert wrong_old.returncode == cli.EXIT_PIN, wrong_old.stderr
    bank_change = terminal(
        world, world.bank102, name, "bank-pin", "change", stdin="123456\n8642\n8642\n"
    )
    assert bank_change.returncode == cli.EXIT_OK, bank_change.stderr
    assert last_json(bank_change)["operation"] == "change"

    password = terminal(
        world, world.bank102, name, "query-password", "reset", stdin="pass-word-1\npass-word-1\n"
    )
    assert password.returncode == cli.EXIT_OK, password.stderr
    assert last_json(password) == {"psn_no": patient.psn_no, "operation": "reset"}

    updated = terminal(world, world.centre, name, "update-holder", "--name", "张无忌")
    assert updated.returncode == cli.EXIT_OK, updated.stderr
    assert last_json(updated)["card_no"] == patient.card_no
    assert last_json(updated)["changes"]["name"]["after"] == "张无忌"

    lost = terminal(world, world.bank102, None, "report-lost", patient.card_no)
    assert lost.returncode == cli.EXIT_OK, lost.stderr
    loss = last_json(lost)
    assert set(loss) == {"card_no", "status", "replacement_receipt_no"}
    assert loss["card_no"] == patient.card_no
    receipt_no = loss["replacement_receipt_no"]
    refused = terminal(
        world, world.hospital, name, "admit", "--dept", "a", "--diagnosis", "b", stdin="135790\n"
    )
    assert refused.returncode == cli.EXIT_REFUSED
    assert "card_lost" in refused.stderr
    exempt = terminal(
        world,
        world.hospital,
        None,
        "admit-exempt",
        "--psn-no",
        patient.psn_no,
        "--insutype",
        "310",
        "--dept",
        "a",
        "--diagnosis",
        "b",
        "--kind",
        "lost_card_receipt",
        "--receipt-no",
        receipt_no,
        "--certno",
        patient.certno,
    )
    assert exempt.returncode == cli.EXIT_OK, exempt.stderr
    assert last_json(exempt)["auth_method"] == "lost_card_receipt"
