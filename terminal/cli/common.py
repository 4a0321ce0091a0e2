"""What every counter's commands share: configuration, the reader, the PSAM, the
service client, output (tables or ``--json``) and the exit codes scripts rely on.

Configuration (options or environment):

* ``--service`` / ``SSCARD_SERVICE_URL`` — the settlement service (default http://127.0.0.1:8000)
* ``--api-key`` / ``SSCARD_API_KEY`` — this terminal's API key
* ``--psam`` / ``SSCARD_PSAM`` — this terminal's PSAM image
* ``--reader`` / ``SSCARD_READER`` — a card image path (in-process, or ``image:PATH``)
  or a PC/SC reader name / fragment / index (``pcsc:NAME``); default: the first PC/SC reader

PINs and passwords are asked at a masked prompt, or read one per line from
standard input with ``--pin-stdin`` (for scripts).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from card.issue import id_check_digit
from terminal.client.applications import ApplicationsClient
from terminal.client.settlement import SettlementClient
from terminal.i18n import _
from terminal.psam import Psam, PsamError, Role
from terminal.session import CardSession
from terminal.slip import business_zone

#: Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: please report it
EXIT_USAGE = 2  # bad arguments or configuration
EXIT_CARD = 3  # reader or card problem (no card, removed, not genuine, card error)
EXIT_REFUSED = 4  # refused by the service or the card's status (lost, expired...)
EXIT_NOT_ENTITLED = 5  # this institution may not do that (PSAM or service authority)
EXIT_PIN = 6  # wrong PIN, or PIN blocked
EXIT_UNAVAILABLE = 7  # the settlement service cannot be reached

EXIT_CODES_HELP = """exit codes:
  0  ok
  1  internal error (a bug)
  2  usage or configuration error
  3  card or reader error (no card, card removed, not genuine, card refused a command)
  4  refused by the settlement service or by the card's status (lost, expired, ...)
  5  not entitled (the PSAM or the service's PIN authority forbids it)
  6  wrong PIN or PIN blocked
  7  settlement service unreachable
"""


class UsageError(Exception):
    """Bad arguments or missing configuration."""


console = Console()
err = Console(stderr=True)


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals (display only)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


# --- configuration ------------------------------------------------------------------


def pin_entry(args: argparse.Namespace) -> Callable[[str], str]:
    """How PINs and passwords are asked: a masked prompt, or ``--pin-stdin`` lines."""
    if args.pin_stdin:

        def from_stdin(prompt: str) -> str:
            line = sys.stdin.readline()
            if not line:
                raise UsageError(
                    _("--pin-stdin: no line on standard input for {prompt}").format(
                        prompt=prompt.strip()
                    )
                )
            return line.strip()

        return from_stdin
    return lambda prompt: getpass.getpass(prompt)


def secret(args: argparse.Namespace, prompt: str) -> str:
    """One secret (a PIN or password); no terminal to ask at is a usage error."""
    try:
        return pin_entry(args)(prompt)
    except EOFError:
        raise UsageError(
            _(
                "{prompt}: nothing was entered (no terminal? give it on stdin with --pin-stdin)"
            ).format(prompt=prompt.strip().rstrip(":"))
        ) from None


def open_client(args: argparse.Namespace) -> SettlementClient:
    """The settlement service's client for this terminal; use it as a context manager."""
    if not args.api_key:
        raise UsageError(_("no API key: give --api-key or set SSCARD_API_KEY"))
    return SettlementClient(args.service, args.api_key, timeout=args.timeout)


def open_applications(args: argparse.Namespace) -> ApplicationsClient:
    """The card production client for this terminal; use it as a context manager."""
    if not args.api_key:
        raise UsageError(_("no API key: give --api-key or set SSCARD_API_KEY"))
    return ApplicationsClient(args.service, args.api_key, timeout=args.timeout)


def load_psam(args: argparse.Namespace, role: Role | None = None) -> Psam:
    """This terminal's PSAM (``--psam``); with ``role``, it must be that institution's."""
    if not args.psam:
        raise UsageError(_("no PSAM: give --psam PATH or set SSCARD_PSAM"))
    try:
        psam = Psam.load(args.psam)
    except PsamError as exc:
        raise UsageError(str(exc)) from exc
    if role is not None and psam.role is not role:
        raise UsageError(
            _("this step needs a {role} PSAM; {path} is {psam}").format(
                role=role.value, path=args.psam, psam=psam.describe()
            )
        )
    return psam


def open_reader_by_name(name: str | None):
    """An in-process reader for a card image path, else a PC/SC reader by name."""
    if name and (name.startswith("image:") or Path(name).is_file()):
        from card.icc import VirtualCard
        from terminal.readers.inprocess import InProcessReader

        path = name.removeprefix("image:")
        return InProcessReader(VirtualCard.open(path), name=f"in-process {path}")
    from terminal.readers import open_reader

    which: str | int | None = name.removeprefix("pcsc:") if name else None
    if isinstance(which, str) and which.isdigit():
        which = int(which)
    return open_reader(which)


@contextmanager
def card_session(args: argparse.Namespace, psam: Psam) -> Iterator[CardSession]:
    """A card session on ``--reader`` (waiting ``--wait`` seconds for a card)."""
    with open_reader_by_name(args.reader) as reader:
        if args.wait:
            reader.wait_for_card(args.wait)
        with reader.connect() as connection:
            session = CardSession(connection, psam, connection.atr)
            if args.trace:
                session.trace = trace_apdu
            yield session


def parse_when(text: str | None) -> datetime | None:
    """A time typed on the command line: ISO 8601 with its UTC offset, or the business
    zone's local time as a clerk writes it (``2026-11-23 08:00``, SSCARD_TIMEZONE)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            _("{text} is not a date and time: write it as 2026-11-23 08:00").format(text=text)
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=business_zone())
    return value


def id_number_reason(certno: str) -> str | None:
    """Why ``certno`` is not a citizen ID number (GB 11643: 17 digits and a check
    character, MOD 11-2), or None."""
    certno = certno.strip().upper()
    if len(certno) != 18 or not certno[:17].isdigit():
        return _("an ID number has 18 characters: 17 digits and a check digit or X")
    if id_check_digit(certno[:17]) != certno[17]:
        return _("the check digit is wrong (mistyped?)")
    return None


# --- output -------------------------------------------------------------------------


#: Commands whose data carries a PIN: never printed (VERIFY, CHANGE PIN, RESET RETRY
#: COUNTER, the bank's PIN CHANGE/UNBLOCK script).
PIN_COMMANDS = {0x20, 0x5E, 0x2C, 0x24}


def trace_apdu(command: bytes, data: bytes, sw: int) -> None:
    """``--trace``: each APDU on stderr, hex, with PIN-bearing data masked."""
    shown = command.hex().upper()
    if len(command) > 5 and command[1] in PIN_COMMANDS:
        shown = command[:5].hex().upper() + " " + "**" * (len(command) - 5)
    err.print(f"[dim]> {shown}\n< {data.hex().upper()} {sw:04X}[/]", highlight=False)


#: A JSON key of ``--json`` output: snake_case, the national field name where there is one.
JSON_KEY = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def show(
    title: str,
    rows: list[tuple[str, Any]],
    args: argparse.Namespace,
    data: dict[str, Any] | None = None,
) -> None:
    """A table of (label, text) rows, or with ``--json`` one JSON object.

    The JSON object is ``data`` (stable snake_case keys, typed values: ints in
    fen, booleans, ISO dates); without ``data`` the row labels must themselves
    be snake_case keys (field names such as ``mdtrt_id``), never human labels.
    """
    if args.json:
        if data is None:
            data = dict(rows)
        bad = [key for key in data if not JSON_KEY.fullmatch(key)]
        if bad:
            raise ValueError(f"JSON keys must be snake_case field names, not {bad}")
        print(json.dumps(data, ensure_ascii=False, default=str))
        return
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


def print_json(answer: Any) -> None:
    """A service answer as indented JSON (the production commands' ``--json``)."""
    print(json.dumps(answer, ensure_ascii=False, indent=2))
