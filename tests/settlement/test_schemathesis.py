"""Schemathesis against the served OpenAPI document (issue 16, "Done when"): every operation,
with an admin key and with a hospital key, on a real uvicorn service with a seeded world.

Checks: no server error, every status code, content type, header and body as the document
says (``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
``response_headers_conformance``, ``response_schema_conformance``). Bounded: a few examples
per operation (``SSCARD_FUZZ_EXAMPLES``, default 4) and a fixed seed (``SSCARD_FUZZ_SEED``);
the two runs go side by side (a process each), so they take about a minute on two cores.
Path and body identifiers are drawn half of the time from the seeded world (a person, a card,
an open and a settled admission), so the fuzzer reaches past ``404`` into the operations' own
answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.settlement.conftest import World

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
EXAMPLES = os.environ.get("SSCARD_FUZZ_EXAMPLES", "4")
SEED = os.environ.get("SSCARD_FUZZ_SEED", "16")
ROLES = ("admin", "hospital")


@pytest.fixture(scope="module")
def fuzzed(settlement_service_factory) -> dict:
    """A service of its own (the fuzzer writes junk), its keys and the seeded identifiers."""
    service = settlement_service_factory()
    world = World(service)
    desk = world.terminal("hospital")
    psn_no, card = world.insured()
    settled = world.admit(desk, psn_no, card)["mdtrt_id"]
    world.fees(desk, settled, [("A", 2, 1500), ("B", 1, 4200)])
    setl_id = world.settle(desk, settled, card)["setl_id"]
    other, other_card = world.insured()
    open_admission = world.admit(desk, other, other_card)["mdtrt_id"]
    hospital_key = desk.headers["Authorization"].removeprefix("Bearer ")
    return {
        "url": service.url,
        "keys": {"admin": service.admin_key, "hospital": hospital_key},
        "ids": {
            "psn_no": [psn_no, other],
            "card_no": [card.card_no, other_card.card_no],
            "mdtrt_id": [settled, open_admission],
            "setl_id": [setl_id],
            "code": [desk.institution],
        },
    }


def _config(ids: dict[str, list[str]]) -> str:
    """schemathesis.toml: each identifier bound to its dictionary half of the time."""
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in ids:
        binding = f'{{ dictionary = "{name}", probability = 0.5 }}'
        lines.append(f'"path.{name}" = {binding}')
        if name in ("psn_no", "card_no"):
            lines.append(f'"body.{name}" = {binding}')
    return "\n".join(lines) + "\n"


def _command(fuzzed: dict, role: str, config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{fuzzed['url']}/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {fuzzed['keys'][role]}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        # One worker: with threads, Hypothesis' concurrent ast parsing hits CPython 3.11's
        # "AST constructor recursion depth mismatch" (a Runtime Error of Schemathesis itself,
        # seen once in a clean-clone run), not a finding about the service.
        "--workers",
        "1",
        "--no-color",
        "--output-truncate",
        "false",
    ]


@pytest.fixture(scope="module")
def reports(fuzzed, tmp_path_factory) -> dict[str, tuple[int, str]]:
    """Both roles' runs, side by side (two processes; each alone keeps about one of the two
    cores busy between itself and the service): role → (exit status, end of the output)."""
    running = {}
    for role in ROLES:
        folder = tmp_path_factory.mktemp(f"schemathesis-{role}")
        config = folder / "schemathesis.toml"
        config.write_text(_config(fuzzed["ids"]))
        out, err = folder / "stdout.txt", folder / "stderr.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                _command(fuzzed, role, config), cwd=folder, stdout=stdout, stderr=stderr
            )
        running[role] = (process, out, err)
    done = {}
    try:
        for role, (process, out, err) in running.items():
            status = process.wait(timeout=540)
            text = (
                out.read_text(errors="replace")[-20000:] + err.read_text(errors="replace")[-3000:]
            )
            done[role] = (status, text)
    finally:
        for process, _, _ in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


@pytest.mark.timeout(600)  # about 40 s for both on an idle 2-core machine; twice that under load
@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_nothing(fuzzed, reports, role):
    returncode, report = reports[role]
    assert returncode == 0, report
    document = httpx.get(f"{fuzzed['url']}/v1/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Tested: {operations}" in report, report
