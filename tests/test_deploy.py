"""deploy/ (issue 16, docs/deploy.md): the Dockerfile, the compose file and the systemd unit
parse, and every command they run is one the project has (a console script of pyproject.toml
with arguments its own parser accepts). CI builds no image; these checks fail when a file is
malformed or names a command or an option that does not exist."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from card.cli import build_parser as card_parser
from rig.cli import add_parsers as rig_parsers
from settlement.cli import build_parser as settlement_parser

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]

#: Dockerfile instructions (the Dockerfile reference).
DOCKER_INSTRUCTIONS = frozenset(
    [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ]
)
#: The systemd keys a unit of this kind may use, by section (systemd.unit, .service, .exec,
#: .kill, .resource-control).
UNIT_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Before", "Wants", "Requires"},
    "Service": {
        "Type", "User", "Group", "Environment", "EnvironmentFile", "ExecStartPre",
        "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "Restart", "RestartSec",
        "TimeoutStartSec", "TimeoutStopSec", "KillSignal", "KillMode", "StateDirectory",
        "StateDirectoryMode", "RuntimeDirectory", "WorkingDirectory", "UMask",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths",
        "LimitNOFILE",
    },
    "Install": {"WantedBy", "RequiredBy", "Alias"},
}  # fmt: skip


def check_command(argv: list[str]) -> None:
    """``argv`` runs a console script of the project with arguments its parser accepts."""
    name = Path(argv[0]).name
    assert name in SCRIPTS, f"{argv[0]} is not a console script of pyproject.toml"
    module, _, attr = SCRIPTS[name].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    if name == "sscard-settlement":
        settlement_parser().parse_args(argv[1:])
    elif name == "sscard-card":
        card_parser([rig_parsers]).parse_args(argv[1:])
    else:
        raise AssertionError(f"no parser check for {name}")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        instructions.append((word, rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def test_dockerfile_instructions_and_entrypoint():
    steps = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    for word, _rest in steps:
        assert word in DOCKER_INSTRUCTIONS, word
    assert steps[0][0] == "FROM"
    by_word: dict[str, list[str]] = {}
    for word, rest in steps:
        by_word.setdefault(word, []).append(rest)
    for source in (part.split()[0] for part in by_word["COPY"]):
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    installs = " ".join(by_word["RUN"])
    for package in ("pcscd", "vsmartcard-vpcd", "tini"):
        assert re.search(rf"\b{package}\b", installs), f"{package} is not installed"
    (entrypoint,) = by_word["ENTRYPOINT"]
    (cmd,) = by_word["CMD"]
    entry, args = json.loads(entrypoint), json.loads(cmd)  # exec form
    assert entry[:2] == ["tini", "--"]
    check_command(entry[2:] + args)


def test_compose_file_parses_and_runs_project_commands():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "settlement", "readers"} <= set(services)
    image_entry = json.loads(
        dict(dockerfile_instructions((DEPLOY / "Dockerfile").read_text()))["ENTRYPOINT"]
    )
    for name in ("migrate", "settlement"):
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["environment"]["SSCARD_DATABASE_URL"].startswith("postgresql+psycopg://")
        check_command(image_entry[2:] + service["command"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    ready = services["settlement"]["depends_on"]["migrate"]["condition"]
    assert ready == "service_completed_successfully"
    readers = services["readers"]["entrypoint"]
    assert readers[:4] == ["tini", "--", "sh", "-c"]
    first, _, last = readers[4].partition(" && ")
    check_command(shlex.split(first))
    assert shlex.split(last) == ["exec", "pcscd", "--foreground"]
    for service in services.values():
        for mapping in service.get("ports", []):
            host, _, container = str(mapping).partition(":")
            assert host and container, mapping


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file as {section: [(key, value), ...]} (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        key, sep, value = stripped.partition("=")
        assert current is not None and sep, f"line {number} is not key=value in a section"
        current.append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_keys_and_commands():
    text = (DEPLOY / "sscard-settlement.service").read_text()
    sections = unit_sections(text)
    assert set(sections) == set(UNIT_KEYS)
    for section, entries in sections.items():
        for key, _value in entries:
            assert key in UNIT_KEYS[section], f"[{section}] {key} is not a key of that section"
    service = dict(sections["Service"])
    check_command(shlex.split(service["ExecStart"]))
    check_command(shlex.split(service["ExecStartPre"]))
    assert service["UMask"] == "0077"  # the database, its WAL and the log: 0600 (issue 16)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path):
    """systemd's own parser: no unknown key, no bad value. The program path points at a stand-in
    executable and the user at root, so the check does not depend on an installation (the
    command itself is checked by test_systemd_unit_keys_and_commands)."""
    script = tmp_path / "sscard-settlement"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    text = (DEPLOY / "sscard-settlement.service").read_text()
    text = text.replace("/opt/sscard/bin/sscard-settlement", str(script))
    text = re.sub(r"^(User|Group)=.*$", r"\1=root", text, flags=re.MULTILINE)
    unit = tmp_path / "sscard-settlement.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and str(unit) not in done.stderr, done.stderr
