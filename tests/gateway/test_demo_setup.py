"""``python -m settlement demo-setup`` as harness.md §A demo world in one command defines it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from card.image import CardImage
from settlement.rules.citizen_id import is_valid_ssn
from tests.gateway.conftest import demo_setup, run_settlement

TOP_KEYS = [
    "home",
    "database_url",
    "keystore",
    "admdvs",
    "fixmedins_code",
    "fixmedins_name",
    "api_keys",
    "gateway",
    "psam",
    "people",
]
PERSON_KEYS = [
    "psn_no",
    "psn_name",
    "certno",
    "insutype",
    "card_no",
    "card_sn",
    "card_image",
    "ssse_pin",
    "bank_pin",
]


def test_the_json_object_has_the_shape_of_harness_md(demo_home, demo_world):
    world = demo_world
    assert list(world) == TOP_KEYS
    assert world["home"] == str(demo_home.resolve())
    assert world["database_url"] == f"sqlite:///{demo_home.resolve() / 'settlement.db'}"
    assert world["admdvs"] == "430100"
    assert world["fixmedins_code"] == "H43010000001"
    assert world["fixmedins_name"]
    assert list(world["api_keys"]) == ["admin", "hospital", "bank_branch", "card_centre"]
    assert all(key.startswith("sk_") for key in world["api_keys"].values())
    assert list(world["gateway"]) == ["tif", "csb", "apikey"]
    assert list(world["gateway"]["tif"]) == ["paasid", "secret"]
    assert list(world["gateway"]["csb"]) == ["access_key", "secret_key"]
    assert world["gateway"]["apikey"]
    assert list(world["psam"]) == ["hospital", "bank_branch", "card_centre"]
    for path in world["psam"].values():
        assert json.loads(Path(path).read_text(encoding="utf-8"))["format"]
    assert len(world["people"]) == 6
    assert {p["insutype"] for p in world["people"]} == {"310", "390"}
    for person in world["people"]:
        assert list(person) == PERSON_KEYS
        assert is_valid_ssn(person["certno"])
        assert re.fullmatch(r"[0-9A-F]{32}", person["card_sn"])
        assert person["ssse_pin"] == "123456"
        assert re.fullmatch(r"\d{6}", person["bank_pin"])
        image = CardImage.load(person["card_image"])
        assert image.card_number == person["card_no"]
        assert image.identification_code.hex().upper() == person["card_sn"]
        assert image.ssn == person["certno"]


def test_a_rerun_on_the_same_folder_prints_the_same_world(demo_home, demo_world):
    assert demo_setup(demo_home, "--people", "6") == demo_world
    text = run_settlement(demo_home, "demo-setup", "--home", str(demo_home), "--people", "6")
    assert text.returncode == 0, text.stderr
    assert f"export SSCARD_HOME={demo_world['home']}" in text.stdout
    assert f"export SSCARD_API_KEY={demo_world['api_keys']['hospital']}" in text.stdout


def test_bad_usage_exits_2_with_one_line(tmp_path):
    proc = run_settlement(tmp_path, "demo-setup", "--home", str(tmp_path), "--people", "0")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "--people" in proc.stderr
    assert not (tmp_path / "settlement.db").exists()


def test_serve_serves_the_world(demo_service):
    world = demo_service.world
    hospital = httpx.Client(
        base_url=demo_service.url,
        headers={"Authorization": f"Bearer {world['api_keys']['hospital']}"},
    )
    admin = httpx.Client(
        base_url=demo_service.url,
        headers={"Authorization": f"Bearer {world['api_keys']['admin']}"},
    )
    with hospital, admin:
        answer = hospital.get(f"/v1/institutions/{world['fixmedins_code']}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["pin_service"] is True
        assert answer.json()["hospital_level"] == 3
        for person in world["people"]:
            seen = admin.get(f"/v1/people/{person['psn_no']}")
            assert seen.status_code == 200, seen.text
            body = seen.json()
            assert body["certno"] == person["certno"]
            assert person["insutype"] in json.dumps(body)
