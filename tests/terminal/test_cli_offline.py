"""CLI behaviour that needs no card and no service: PSAM provisioning, usage exit codes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from card.keystore import KeyStore
from terminal import cli
from terminal.cli.common import card_session
from terminal.psam import Psam, Role


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "terminal", *argv],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )


def test_provision_and_show(tmp_path, capsys):
    keystore = tmp_path / "keystore.json"
    KeyStore.generate().save(keystore)
    out = tmp_path / "bank.psam"
    code = cli.main(
        [
            "--json",
            "psam",
            "provision",
            str(out),
            "--institution",
            "B102-01",
            "--role",
            "bank_branch",
            "--bank",
            "102",
            "--keystore",
            str(keystore),
        ]
    )
    assert code == cli.EXIT_OK
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown == {
        "psam_id": shown["psam_id"],
        "institution": "B102-01",
        "role": "bank_branch",
        "pin_service": False,
        "key_ids": ["01", "0A", "03"],  # card.md §What real cards do: 0A in every PSAM
        "city": None,
        "bank_code": "102",
        "path": str(out),
    }
    assert shown["psam_id"]
    assert cli.main(["--json", "psam", "show", str(out)]) == cli.EXIT_OK
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again == shown
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert Psam.load(out).bank_code == "102"


def test_provision_refuses_bank_without_code(tmp_path, capsys):
    keystore = tmp_path / "keystore.json"
    KeyStore.generate().save(keystore)
    code = cli.main(
        [
            "psam",
            "provision",
            str(tmp_path / "x"),
            "--institution",
            "B",
            "--role",
            "bank_branch",
            "--keystore",
            str(keystore),
        ]
    )
    assert code == cli.EXIT_USAGE
    assert "bank's code" in capsys.readouterr().err


def test_missing_configuration_is_usage_error(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = run("admit", "--dept", "x", "--diagnosis", "y", env=env)
    assert result.returncode == cli.EXIT_USAGE
    assert "PSAM" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("frobnicate", env=env)
    assert result.returncode == 2


def test_ordinary_hospital_psam_refuses_pin_reset_before_the_card(tmp_path):
    """Exit 5 with no card at all in the reader: the PSAM refuses first."""
    keystore = tmp_path / "keystore.json"
    issuer = KeyStore.generate()
    issuer.save(keystore)
    psam = tmp_path / "h.psam"
    Psam.provision(issuer, "H-ordinary", Role.HOSPITAL).save(psam)
    code = cli.main(
        [
            "--api-key",
            "sk_x",
            "--psam",
            str(psam),
            "--reader",
            str(tmp_path / "no-such-card"),
            "--pin-stdin",
            "pin",
            "unblock",
        ]
    )
    assert code == cli.EXIT_NOT_ENTITLED


def test_broken_card_image_is_a_card_error(tmp_path, capsys):
    issuer = KeyStore.generate()
    psam = tmp_path / "h.psam"
    Psam.provision(issuer, "H", Role.HOSPITAL).save(psam)
    image = tmp_path / "card.json"
    image.write_text('{"format": "something else"}')
    code = cli.main(["--psam", str(psam), "--reader", str(image), "read"])
    assert code == cli.EXIT_CARD
    assert "card image" in capsys.readouterr().err


def test_trace_never_shows_a_pin(tmp_path, capsys):
    from card.issue import new_card, sample_holder

    issuer = KeyStore.generate()
    psam = tmp_path / "h.psam"
    Psam.provision(issuer, "H", Role.HOSPITAL).save(psam)
    image = tmp_path / "card.json"
    new_card(image, sample_holder(), keystore=issuer, ssse_pin="918273")
    session_psam = Psam.load(psam)
    import argparse

    args = argparse.Namespace(reader=str(image), wait=0, trace=True)
    with card_session(args, session_psam) as session:
        session.read_public()
        session.verify_pin("918273")
    trace = capsys.readouterr().err
    # SELECT SSSE shown (with its FCI: the terminal reads the algorithm there,
    # card.md §What real cards do)
    assert "00A404000F" in trace.replace(" ", "")
    assert "918273" not in trace.replace(" ", "")
    assert "0020000003 ******" in trace
