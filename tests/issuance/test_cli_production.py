"""``python -m terminal production``: a whole employer's batch moved along from the CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from card.crypto import Algorithm
from card.issue import new_blank_card
from settlement.rules.working_days import LOCAL_TIME as LOCAL

REPO = Path(__file__).resolve().parents[2]


def _run(
    w, key: str, psam: Path | None, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess:
    env = dict(os.environ, SSCARD_SERVICE_URL=w.service.url, SSCARD_API_KEY=key)
    if psam is not None:
        env["SSCARD_PSAM"] = str(psam)
    return subprocess.run(
        [sys.executable, "-m", "terminal", "--json", "--pin-stdin", *args],
        input=stdin,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_batch_mode_moves_a_whole_employer_through_seven_steps(production_world, tmp_path):
    w = production_world
    people = [w.citizen(name) for name in ("韩一", "韩二", "韩三", "韩四")]
    people.append(w.citizen("韩五", register=False))  # unknown to the police: returned
    roster = tmp_path / "employees.csv"
    fields = list(w.application_body(people[0]))
    with roster.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for person in people:
            writer.writerow(w.application_body(person))
    centre_key = w.centre.headers["Authorization"].removeprefix("Bearer ")
    bank_key = w.bank102.headers["Authorization"].removeprefix("Bearer ")
    centre_psam, bank_psam = tmp_path / "centre.psam", tmp_path / "bank.psam"
    w.psam_centre.save(centre_psam)
    w.psam_bank102.save(bank_psam)
    tray = tmp_path / "tray"
    tray.mkdir()
    (tray / "delivery-note.json").write_text('{"cards": 4}', encoding="utf-8")  # not a card
    for i in range(4):  # the chip maker's delivery, named as it came: one card short
        new_blank_card(
            tray / f"{'blank' if i % 2 else 'CM2026-lot7'}-{i:03d}.json",
            keystore=w.keystore,
            algorithm=Algorithm.TDES if i % 2 else Algorithm.SM4,
            region="430100",
        )

    done = _run(
        w,
        centre_key,
        None,
        "production",
        "batch-apply",
        str(roster),
        "--employer",
        "E914301007",
        "--employer-name",
        "Hunan Rail Works",
    )
    assert done.returncode == 0, done.stderr
    batch_id = json.loads(done.stdout)["batch_id"]

    def batch(key, psam, stdin=""):
        result = _run(
            w,
            key,
            psam,
            "production",
            "batch",
            batch_id,
            "--cards",
            str(tray),
            "--collected-by",
            "HR office (韩主任)",
            stdin=stdin,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    first = batch(centre_key, centre_psam)  # audit, then waits for the bank
    assert set(first["summary"]) == {"waiting"}
    batch(bank_key, bank_psam, stdin="135790\n")  # comparison
    batch(centre_key, centre_psam)  # pre-check, personalisation
    batch(bank_key, bank_psam, stdin="135790\n")  # account opening
    last = batch(centre_key, centre_psam)  # issuance
    assert last["summary"] == {"issued": 4, "returned": 1}
    returned = [t for t in last["applications"].values() if t.startswith("returned")]
    assert returned == ["returned: step 3 not_in_police_register"]
    assert sorted(p.name for p in tray.glob("*.json") if not p.name.startswith("S")) == [
        "delivery-note.json"
    ]  # every blank card was used, whatever its file name; the note left alone
    listing = w.centre.get("/v1/applications", params={"batch_id": batch_id}).json()
    issued = [a for a in listing["applications"] if a["status"] == "issued"]
    for item in issued:
        card = w.hospital.get(f"/v1/cards/{item['card_no']}").json()
        assert card["status"] == "active"
        assert (tray / f"{item['card_no']}.json").exists()
    view = w.centre.get(f"/v1/applications/{issued[0]['application_id']}").json()
    assert view["collected_by"] == "HR office (韩主任)"

    # Without --json the batch shows a progress bar (on stderr) and a table.
    env = dict(os.environ, SSCARD_SERVICE_URL=w.service.url, SSCARD_API_KEY=centre_key)
    env.update(SSCARD_PSAM=str(centre_psam), COLUMNS="120")
    shown = subprocess.run(
        [sys.executable, "-m", "terminal", "production", "batch", batch_id, "--cards", str(tray)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"batch {batch_id}" in shown.stderr and "5/5" in shown.stderr, shown.stderr
    assert "issued: 4" in shown.stdout and "returned: 1" in shown.stdout
    # The bank's run with no PIN on stdin: a usage error, not a traceback.
    no_pin = _run(w, bank_key, bank_psam, "production", "batch", batch_id, "--cards", str(tray))
    assert no_pin.returncode == 2 and "--pin-stdin" in " ".join(no_pin.stderr.split())

    # The holder's progress query from the CLI, password on stdin.
    progress = _run(
        w,
        centre_key,
        None,
        "production",
        "progress",
        "--certno",
        people[0].ssn,
        stdin="open-sesame-1\n",
    )
    assert progress.returncode == 0, progress.stderr
    [app] = json.loads(progress.stdout)["applications"]
    assert app["status"] == "issued" and app["batch_id"] == batch_id

    # Moving an issued application is refused by the service: the CLI's exit code 4.
    refused = _run(w, centre_key, None, "production", "compare", issued[0]["application_id"])
    assert refused.returncode == 4, refused.stderr
    assert "already_issued" in refused.stderr


def test_single_application_from_the_cli(production_world):
    w = production_world
    person = w.citizen("欧阳锋")
    centre_key = w.centre.headers["Authorization"].removeprefix("Bearer ")
    done = _run(
        w,
        centre_key,
        None,
        "production",
        "apply",
        "--certno",
        person.ssn,
        "--name",
        person.name,
        "--sex",
        person.sex,
        "--birth",
        person.birth_date.isoformat(),
        "--birthplace",
        person.birthplace,
        "--no-photo",
        "--query-password",
        stdin="ouyang-feng\n",
    )
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["kind"] == "single" and view["next_step"]["name"] == "audited"
    audit = _run(w, centre_key, None, "production", "audit", view["application_id"])
    assert audit.returncode == 4  # returned: no photo yet
    assert json.loads(audit.stdout)["returned"]["reason"] == "missing_photo"
    fixed = _run(
        w,
        centre_key,
        None,
        "production",
        "correct",
        view["application_id"],
        "--photo-taken",
        "--note",
        "photo taken at the hall",
    )
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["next_step"]["name"] == "audited"

    def progress_query(password: str) -> subprocess.CompletedProcess:
        return _run(
            w,
            centre_key,
            None,
            "production",
            "progress",
            "--certno",
            person.ssn,
            stdin=password + "\n",
        )

    progress = progress_query("ouyang-feng")
    assert progress.returncode == 0, progress.stderr
    assert (
        json.loads(progress.stdout)["applications"][0]["application_id"] == view["application_id"]
    )
    for _ in range(5):
        wrong = progress_query("x")
        assert wrong.returncode == 4 and "password_invalid" in wrong.stderr, wrong.stderr
    # Locked: a refusal saying how long to wait (exit 4), not "service unavailable" (exit 7).
    locked = progress_query("ouyang-feng")
    assert locked.returncode == 4, locked.stderr
    assert "too_many_attempts" in locked.stderr and "try again in" in locked.stderr
    assert "unavailable" not in locked.stderr and "Traceback" not in locked.stderr


def test_batch_apply_rosters_bad_and_from_a_spreadsheet(production_world, tmp_path):
    """A missing or malformed roster is a usage error (exit 2, no traceback); a BOM is fine."""
    w = production_world
    key = w.centre.headers["Authorization"].removeprefix("Bearer ")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"certno": ', encoding="utf-8")
    numbers = tmp_path / "numbers.json"
    numbers.write_text("[1, 2]", encoding="utf-8")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("certno,psn_name\n1,2,3\n", encoding="utf-8")
    for roster, words in (
        (tmp_path / "missing.csv", "cannot read"),
        (broken, "not valid JSON"),
        (numbers, "not an object"),
        (ragged, "more fields"),
    ):
        done = _run(w, key, None, "production", "batch-apply", str(roster), "--employer", "E1")
        assert done.returncode == 2, done.stderr
        said = " ".join(done.stderr.split())  # the console wraps long lines
        assert words in said and "Traceback" not in said, done.stderr
    person = w.citizen("钱七")
    body = w.application_body(person)
    body.pop("query_password")
    sheet = tmp_path / "excel.csv"
    with sheet.open("w", newline="", encoding="utf-8-sig") as out:  # Excel's "CSV UTF-8"
        writer = csv.DictWriter(out, fieldnames=list(body))
        writer.writeheader()
        writer.writerow(body)
    done = _run(w, key, None, "production", "batch-apply", str(sheet), "--employer", "E2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == 1


def test_issue_with_the_collection_time_from_the_cli(production_world):
    """Step 7 from the CLI with when the card was collected (local time by default)."""
    from datetime import datetime, timedelta

    from terminal.readers.inprocess import InProcessReader

    w = production_world
    person = w.citizen("周颠")
    app_id = w.registered(person)
    card = w.blank_card()
    w.personalise(app_id, InProcessReader(card))
    ready = w.open_account(app_id, InProcessReader(card))
    key = w.centre.headers["Authorization"].removeprefix("Bearer ")
    bad = _run(
        w,
        key,
        None,
        "production",
        "issue",
        app_id,
        "--collected-by",
        "x",
        "--collected-at",
        "yesterday",
    )
    assert bad.returncode == 2 and "not a date and time" in bad.stderr
    future = (datetime.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    early = _run(
        w, key, None, "production", "issue", app_id, "--collected-by", "x", "--collected-at", future
    )
    assert early.returncode == 4 and "validation_error" in early.stderr
    notice = datetime.fromisoformat(ready["collection_notice_at"])
    when = notice + timedelta(minutes=1)
    local = when.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S.%f")  # no offset: +08:00
    done = _run(
        w,
        key,
        None,
        "production",
        "issue",
        app_id,
        "--collected-by",
        "周颠本人",
        "--collected-at",
        local,
    )
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["status"] == "issued" and view["collected_by"] == "周颠本人"
    assert datetime.fromisoformat(view["issued_at"]) == when
