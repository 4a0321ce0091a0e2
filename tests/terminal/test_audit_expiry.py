"""Issue 6 audit: the EF05 expiry date is enforced by the terminal (settlement.md §Card states).

A card whose EF05 says it expired is refused with ``card_expired`` before any PIN is asked,
even when the service's record has a later expiry; ``terminal read --json`` says so.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from card.image import CardImage
from card.issue import CardHolder, new_card
from terminal import cli
from terminal.flows import desk
from terminal.flows.common import CardRefused
from tests.terminal.conftest import REGION
from tests.terminal.test_flows_e2e import session


def _expired_by_ef05(world):
    """A patient registered at the service with expiry 2036 whose card's EF05 says 2025-01-01."""
    patient = world.patient()  # service record: expiry 2036-01-01
    image = CardImage.load(patient.image)
    factor = image.identification_code[-8:]
    new_card(
        patient.image,
        CardHolder(name="张三丰", ssn=patient.certno, sex="1"),
        keystore=world.keystore,
        region=REGION,
        card_number=patient.card_no,
        card_factor=factor,
        psn_no=patient.psn_no,
        algorithm=image.algorithm,
        issue_date=date(2015, 1, 1),
        expiry_date=date(2025, 1, 1),
    )
    assert CardImage.load(patient.image).identification_code == image.identification_code
    return patient


def test_expired_card_refused_before_pin(world):
    from card.icc import VirtualCard
    from terminal.readers.inprocess import InProcessReader

    patient = _expired_by_ef05(world)
    reader = InProcessReader(VirtualCard.open(patient.image))
    asked = []
    with (
        world.hospital.client(world.url) as client,
        session(reader, world.hospital.psam) as s,
        pytest.raises(CardRefused) as info,
    ):
        desk.admit_with_card(
            s,
            client,
            lambda prompt: asked.append(prompt) or "123456",
            dept_name="er",
            dise_name="fall",
        )
    assert info.value.code == "card_expired" and "2025-01-01" in str(info.value)
    assert asked == []  # no PIN was asked


def test_cli_read_and_admit_say_expired(world, capsys):
    patient = _expired_by_ef05(world)
    common = [
        "--psam",
        str(world.hospital.psam_path),
        "--reader",
        str(patient.image),
        "--service",
        world.url,
        "--api-key",
        world.hospital.api_key,
    ]
    assert cli.main(["--json", *common, "read"]) == cli.EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["expired"] is True and out["card_status"] == "active"
    code = cli.main([*common, "--pin-stdin", "admit", "--dept", "er", "--diagnosis", "fall"])
    assert code == cli.EXIT_REFUSED == 4
    assert "card_expired" in capsys.readouterr().err
