"""The terminal's command line: one subcommand per flow, readable tables, stable exit codes.

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
import csv
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from card.keystore import KEY_MAINTENANCE, KEY_PIN_UNBLOCK
from terminal import apdu
from terminal.cardinfo import CardDataError
from terminal.client import ServiceRefused, ServiceUnavailable, SettlementClient
from terminal.flows import centre, desk, pins
from terminal.flows.common import CardRefused, card_expired, present_card, read_card
from terminal.psam import CardNotGenuine, NotEntitled, Psam, PsamError, Role
from terminal.session import CardSession, PinBlocked, WrongPin

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


def _pin_entry(args: argparse.Namespace) -> Callable[[str], str]:
    if args.pin_stdin:

        def from_stdin(prompt: str) -> str:
            line = sys.stdin.readline()
            if not line:
                raise UsageError(f"--pin-stdin: no line on standard input for {prompt.strip()}")
            return line.strip()

        return from_stdin
    return lambda prompt: getpass.getpass(prompt)


def _client(args: argparse.Namespace) -> SettlementClient:
    if not args.api_key:
        raise UsageError("no API key: give --api-key or set SSCARD_API_KEY")
    return SettlementClient(args.service, args.api_key, timeout=args.timeout)


def _psam(args: argparse.Namespace) -> Psam:
    if not args.psam:
        raise UsageError("no PSAM: give --psam PATH or set SSCARD_PSAM")
    try:
        return Psam.load(args.psam)
    except PsamError as exc:
        raise UsageError(str(exc)) from exc


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
    with open_reader_by_name(args.reader) as reader:
        if args.wait:
            reader.wait_for_card(args.wait)
        with reader.connect() as connection:
            session = CardSession(connection, psam, connection.atr)
            if args.trace:
                session.trace = trace_apdu
            yield session


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


def show_receipt(receipt: desk.Receipt, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(receipt.settlement, ensure_ascii=False))
        return
    s = receipt.settlement
    table = Table(title=f"Discharge receipt {s['setl_id']} (admission {s['mdtrt_id']})")
    table.add_column("item")
    table.add_column("yuan", justify="right")
    for label, fen in receipt.lines():
        table.add_row(label, yuan(fen))
    console.print(table)
    console.print(f"policy {s.get('policy_version')}, settled {s.get('setl_time')}")


# --- commands -----------------------------------------------------------------------


def cmd_psam_provision(args: argparse.Namespace) -> int:
    from card.keystore import KeyStore, default_path

    issuer = KeyStore.load(args.keystore or default_path())
    try:
        psam = Psam.provision(
            issuer,
            args.institution,
            Role(args.role),
            pin_service=args.pin_service,
            bank_code=args.bank,
            city=args.city,
        )
    except PsamError as exc:
        raise UsageError(str(exc)) from exc
    psam.save(args.out)
    return cmd_psam_show(args, psam, args.out)


def cmd_psam_show(args: argparse.Namespace, psam: Psam | None = None, path=None) -> int:
    psam = psam or Psam.load(args.path)
    path = path or getattr(args, "path", None)
    show(
        f"PSAM {psam.psam_id}" + (f" ({path})" if path else ""),
        [
            ("institution", psam.institution),
            ("role", psam.role.value + (" with PIN service" if psam.pin_service else "")),
            ("SSSE keys", " ".join(f"{kid:02X}" for kid in psam.key_ids)),
            ("key scope", f"city {psam.city}" if psam.city else "master keys"),
            ("bank issuer keys", psam.bank_code or "none"),
        ],
        args,
        {
            "psam_id": psam.psam_id,
            "institution": psam.institution,
            "role": psam.role.value,
            "pin_service": psam.pin_service,
            "key_ids": [f"{kid:02X}" for kid in psam.key_ids],
            "city": psam.city,
            "bank_code": psam.bank_code,
            "path": str(path) if path else None,
        },
    )
    return EXIT_OK


def cmd_readers(args: argparse.Namespace) -> int:
    from terminal.readers import list_readers

    names = list_readers()
    if args.json:
        print(json.dumps(names))
    else:
        for index, name in enumerate(names):
            console.print(f"{index}: {name}")
    return EXIT_OK


def cmd_read(args: argparse.Namespace) -> int:
    psam = _psam(args)
    with card_session(args, psam) as session:
        card = read_card(session)
    rows: list[tuple[str, Any]] = [
        ("card number", card.issuance.card_number),
        ("identification code", card.identity.identification_code.hex().upper()),
        ("algorithm", card.identity.algorithm.value),
        ("genuine", "yes (internal authentication 01 checked by the PSAM)"),
        (
            "issued / expires",
            f"{card.issuance.issue_date} / {card.issuance.expiry_date}"
            + (" (expired)" if card_expired(card) else ""),
        ),
        ("holder", card.holder.name),
        ("SSN", card.holder.ssn),
        ("sex", {"1": "male", "2": "female"}.get(card.holder.sex, card.holder.sex)),
        ("birth date", card.holder.birth_date),
    ]
    data: dict[str, Any] = {
        "card_no": card.issuance.card_number,
        "card_sn": card.identity.identification_code.hex().upper(),
        "algorithm": card.identity.algorithm.value,
        "genuine": True,
        "issue_date": card.issuance.issue_date,
        "expiry_date": card.issuance.expiry_date,
        "expired": card_expired(card),  # by EF05; the service's record can only add to it
        "psn_name": card.holder.name,
        "certno": card.holder.ssn,
        "gend": card.holder.sex,
        "brdy": card.holder.birth_date,
    }
    if card.medical:
        rows += [
            ("insured region", card.medical.insured_region),
            ("insurance type", card.medical.insurance_type),
            ("psn_no", card.medical.psn_no),
        ]
        data |= {
            "insuplc_admdvs": card.medical.insured_region,
            "insutype": card.medical.insurance_type,
            "psn_no": card.medical.psn_no,
        }
    if args.api_key:
        with _client(args) as client:
            record = client.card(card.issuance.card_number)
        rows.append(
            ("status online", record["status"] + (" (expired)" if record.get("expired") else ""))
        )
        data |= {
            "card_status": record["status"],
            "expired": card_expired(card) or bool(record.get("expired")),
        }
    show("Social security card", rows, args, data)
    return EXIT_OK


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise UsageError(f"{text}: give a time with its UTC offset, e.g. 2026-11-23T08:00:00+08:00")
    return value


def cmd_admit(args: argparse.Namespace) -> int:
    psam = _psam(args)
    with _client(args) as client, card_session(args, psam) as session:
        admission = desk.admit_with_card(
            session,
            client,
            _pin_entry(args),
            dept_name=args.dept,
            dise_name=args.diagnosis,
            insutype=args.insutype,
            begntime=_when(args.begntime),
            pin_attempts=args.tries,
        )
    _show_admission(admission.record, args)
    return EXIT_OK


def _show_admission(record: dict[str, Any], args: argparse.Namespace) -> None:
    show(
        f"Admitted: {record['mdtrt_id']}",
        [
            (key, record.get(key))
            for key in (
                "mdtrt_id",
                "psn_no",
                "insutype",
                "begntime",
                "fixmedins_code",
                "auth_method",
                "card_no",
                "status",
            )
        ],
        args,
    )


def _evidence(args: argparse.Namespace) -> dict[str, str]:
    return desk.exemption_evidence(
        args.kind,
        household_register_no=args.hukou_no,
        document_type=args.doc_type,
        document_number=args.doc_no,
        receipt_no=args.receipt_no,
        certno=args.certno,
    )


def cmd_admit_exempt(args: argparse.Namespace) -> int:
    exemption = _evidence(args)
    with _client(args) as client:
        admission = desk.admit_exempt(
            client,
            args.psn_no,
            exemption,
            dept_name=args.dept,
            dise_name=args.diagnosis,
            insutype=args.insutype,
            begntime=_when(args.begntime),
        )
    _show_admission(admission.record, args)
    return EXIT_OK


def read_fee_lines(path: str) -> list[dict[str, Any]]:
    """Fee lines from JSON (a list, or ``{"feedetail": [...]}``) or CSV with the API's columns."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith(("[", "{")):
        data = json.loads(text)
        return data["feedetail"] if isinstance(data, dict) else data
    lines = []
    for row in csv.DictReader(text.splitlines()):
        line: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        try:
            line["cnt"] = int(line["cnt"])
            line["pric"] = int(line["pric"])
        except (KeyError, ValueError) as exc:
            raise UsageError(f"{path}: cnt and pric must be integers (pric in fen): {row}") from exc
        lines.append(line)
    return lines


def cmd_fees(args: argparse.Namespace) -> int:
    try:
        lines = read_fee_lines(args.file)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"cannot read fee lines from {args.file}: {exc}") from exc
    with _client(args) as client:
        answer = desk.upload_fees(client, args.mdtrt_id, lines)
    show(
        f"Fees uploaded to {args.mdtrt_id}",
        [
            ("accepted", len(answer["accepted"])),
            ("duplicates (already there)", len(answer["duplicates"])),
            ("fee lines in the stay", answer.get("fee_count")),
            ("total so far (yuan)", yuan(answer.get("medfee_sumamt", 0))),
        ],
        args,
        {
            "mdtrt_id": args.mdtrt_id,
            "accepted": len(answer["accepted"]),
            "duplicates": len(answer["duplicates"]),
            "fee_count": answer.get("fee_count"),
            "medfee_sumamt": answer.get("medfee_sumamt", 0),
        },
    )
    return EXIT_OK


def cmd_pre_settle(args: argparse.Namespace) -> int:
    with _client(args) as client:
        split = client.pre_settle(args.mdtrt_id, acct_used_flag=not args.no_account)
    split.setdefault("setl_id", "(pre-settlement)")
    split.setdefault("mdtrt_id", args.mdtrt_id)
    show_receipt(desk.Receipt(split), args)
    return EXIT_OK


def cmd_discharge(args: argparse.Namespace) -> int:
    psam = _psam(args)
    with _client(args) as client, card_session(args, psam) as session:
        receipt = desk.discharge_with_card(
            session,
            client,
            _pin_entry(args),
            args.mdtrt_id,
            acct_used_flag=not args.no_account,
            endtime=_when(args.endtime),
            pin_attempts=args.tries,
        )
    show_receipt(receipt, args)
    return EXIT_OK


def cmd_discharge_exempt(args: argparse.Namespace) -> int:
    exemption = _evidence(args)
    with _client(args) as client:
        receipt = desk.discharge_exempt(
            client,
            args.mdtrt_id,
            exemption,
            acct_used_flag=not args.no_account,
            endtime=_when(args.endtime),
        )
    show_receipt(receipt, args)
    return EXIT_OK


def cmd_reverse(args: argparse.Namespace) -> int:
    with _client(args) as client:
        answer = client.reverse(args.setl_id, args.reason)
    show(
        f"Settlement {args.setl_id} reversed",
        [
            ("reversal", answer.get("revs_setl_id")),
            ("admission (open again)", answer.get("mdtrt_id")),
            ("fund paid back (yuan)", yuan(answer.get("fund_pay_sumamt", 0))),
            ("account restored (yuan)", yuan(answer.get("acct_pay", 0))),
            ("account balance (yuan)", yuan(answer.get("balc", 0))),
        ],
        args,
        {
            "setl_id": args.setl_id,
            "revs_setl_id": answer.get("revs_setl_id"),
            "mdtrt_id": answer.get("mdtrt_id"),
            "fund_pay_sumamt": answer.get("fund_pay_sumamt", 0),
            "acct_pay": answer.get("acct_pay", 0),
            "balc": answer.get("balc", 0),
        },
    )
    return EXIT_OK


def _show_pin(result: pins.PinResult, args: argparse.Namespace) -> None:
    rows: list[tuple[str, Any]] = [
        ("card number", result.card_no),
        ("PIN", {"ssse": "social security (社保)", "bank": "bank (金融)"}[result.pin]),
        ("operation", result.operation),
        ("result", "done, reported to the audit log"),
    ]
    data: dict[str, Any] = {
        "card_no": result.card_no,
        "pin": result.pin,
        "operation": result.operation,
        "tries_left": None,
        "verified": None,
    }
    if result.tries_left is not None:
        tries = "verified" if result.tries_left < 0 else result.tries_left
        rows.append(("tries left", tries))
        data["verified"] = result.tries_left < 0
        data["tries_left"] = None if result.tries_left < 0 else result.tries_left
    show("PIN operation", rows, args, data)


def cmd_pin(args: argparse.Namespace) -> int:
    psam = _psam(args)
    entry = _pin_entry(args)
    with _client(args) as client:
        if args.operation == "change":
            old = entry("current social security PIN: ")
            new = pins.new_pin_entry(entry, "social security PIN")
            with card_session(args, psam) as session:
                result = pins.change_ssse_pin(session, client, old, new)
        elif args.operation == "reset":
            psam.require_role_key(KEY_PIN_UNBLOCK, "reset the SSSE PIN")
            new = pins.new_pin_entry(entry, "social security PIN")
            with card_session(args, psam) as session:
                result = pins.unblock_ssse_pin(session, client, new_pin=new)
        else:
            psam.require_role_key(KEY_PIN_UNBLOCK, "unblock the SSSE PIN")
            with card_session(args, psam) as session:
                result = pins.unblock_ssse_pin(session, client)
    _show_pin(result, args)
    return EXIT_OK


def cmd_bank_pin(args: argparse.Namespace) -> int:
    from terminal.flows import bank

    psam = _psam(args)
    entry = _pin_entry(args)
    if psam.role is not Role.BANK:
        raise NotEntitled(f"{args.operation} the bank PIN", f"{psam.describe()} is not a bank")
    new = pins.new_pin_entry(entry, "bank PIN") if args.operation == "reset" else None
    with _client(args) as client, card_session(args, psam) as session:
        result = bank.bank_pin(session, client, new_pin=new)
    _show_pin(result, args)
    return EXIT_OK


def cmd_query_password(args: argparse.Namespace) -> int:
    entry = _pin_entry(args)
    with _client(args) as client:
        psn_no = args.psn_no
        if not psn_no:
            psam = _psam(args)
            with card_session(args, psam) as session:
                psn_no = present_card(session, client, medical=False).psn_no
        old = entry("current query password: ") if args.mode == "change" else None
        new = entry("new query password: ")
        if entry("new query password again: ") != new:
            raise UsageError("the two new passwords differ: nothing was changed")
        client.query_password(psn_no, args.mode, new, old)
    show(
        "Query password (查询密码)",
        [("person", psn_no), ("done", args.mode)],
        args,
        {"psn_no": psn_no, "operation": args.mode},
    )
    return EXIT_OK


def cmd_report_lost(args: argparse.Namespace) -> int:
    with _client(args) as client:
        answer = client.report_loss(args.card_no, args.reason)
    show(
        "Card reported lost",
        [
            ("card number", answer["card_no"]),
            ("status", answer["status"]),
            ("replacement receipt (补卡回执)", answer["replacement_receipt_no"]),
        ],
        args,
        {
            "card_no": answer["card_no"],
            "status": answer["status"],
            "replacement_receipt_no": answer["replacement_receipt_no"],
        },
    )
    return EXIT_OK


def cmd_update_holder(args: argparse.Namespace) -> int:
    changes = {
        field: getattr(args, field)
        for field in centre.EF06_FIELDS
        if getattr(args, field) is not None
    }
    if not changes:
        raise UsageError("nothing to update: give at least one of --name, --sex, ...")
    psam = _psam(args)
    psam.require_role_key(KEY_MAINTENANCE, "update card data")
    with card_session(args, psam) as session:
        update = centre.update_holder(session, changes)
    rows = [("card number", update.card_no), ("records written", update.records_written)]
    data: dict[str, Any] = {
        "card_no": update.card_no,
        "records_written": update.records_written,
        "changes": {},
    }
    for field in changes:
        before, after = getattr(update.before, field), getattr(update.after, field)
        rows.append((field, f"{before} → {after}"))
        data["changes"][field] = {"before": before, "after": after}
    show("Cardholder data updated (key 04)", rows, args, data)
    return EXIT_OK


# --- parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m terminal",
        description="Social security card terminal: registration desk, bank branch, card centre.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = os.environ.get
    parser.add_argument("--service", default=env("SSCARD_SERVICE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=env("SSCARD_API_KEY"))
    parser.add_argument("--psam", default=env("SSCARD_PSAM"), help="this terminal's PSAM image")
    parser.add_argument(
        "--reader",
        default=env("SSCARD_READER"),
        help="card image path (in-process) or PC/SC reader name/fragment/index",
    )
    parser.add_argument("--pin-stdin", action="store_true", help="read PINs from stdin lines")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--trace", action="store_true", help="print each APDU on stderr (PINs masked)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="service timeout, seconds")
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for a card"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    psam = sub.add_parser("psam", help="provision or show a PSAM image (card centre)")
    psam_sub = psam.add_subparsers(dest="psam_command", required=True)
    prov = psam_sub.add_parser("provision", help="cut a PSAM for one institution")
    prov.add_argument("out", help="where to write the PSAM image (mode 0600)")
    prov.add_argument("--institution", required=True, help="institution code")
    prov.add_argument("--role", required=True, choices=[r.value for r in Role])
    prov.add_argument("--pin-service", action="store_true", help="designated PIN service")
    prov.add_argument("--bank", help="bank code of a bank branch (102, 103, ...)")
    prov.add_argument("--city", help="hold city keys for this region instead of master keys")
    prov.add_argument("--keystore", help="issuer key store (default $SSCARD_KEYSTORE)")
    prov.set_defaults(func=cmd_psam_provision)
    show_p = psam_sub.add_parser("show", help="what a PSAM may do (never its keys)")
    show_p.add_argument("path")
    show_p.set_defaults(func=lambda a: cmd_psam_show(a))

    sub.add_parser("readers", help="list PC/SC readers").set_defaults(func=cmd_readers)
    sub.add_parser("read", help="read and authenticate the card").set_defaults(func=cmd_read)

    def admission_options(p: argparse.ArgumentParser, insutype_required: bool) -> None:
        p.add_argument("--dept", required=True, help="department (dept_name)")
        p.add_argument("--diagnosis", required=True, help="diagnosis (dise_name)")
        p.add_argument(
            "--insutype",
            choices=["310", "390"],
            required=insutype_required,
            help="insurance type (default: from the card's DF04)",
        )
        p.add_argument("--begntime", help="admission time, ISO 8601 with offset (default now)")

    def evidence_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kind", required=True, choices=desk.EXEMPTION_KINDS)
        p.add_argument("--hukou-no", help="household register number (child under 7)")
        p.add_argument("--doc-type", help="passport | hk_macao_permit | taiwan_permit | ...")
        p.add_argument("--doc-no", help="identity document number")
        p.add_argument("--certno", help="resident ID card number (lost card)")
        p.add_argument("--receipt-no", help="replacement receipt number (lost card)")

    admit = sub.add_parser("admit", help="2401 admission with card and PIN")
    admission_options(admit, False)
    admit.add_argument("--tries", type=int, default=1, help="PIN attempts to allow (default 1)")
    admit.set_defaults(func=cmd_admit)

    admit_ex = sub.add_parser("admit-exempt", help="2401 admission on an exemption")
    admit_ex.add_argument("--psn-no", required=True)
    admission_options(admit_ex, True)
    evidence_options(admit_ex)
    admit_ex.set_defaults(func=cmd_admit_exempt)

    fees = sub.add_parser("fees", help="2301 fee upload from a JSON or CSV file ('-' = stdin)")
    fees.add_argument("mdtrt_id")
    fees.add_argument("file")
    fees.set_defaults(func=cmd_fees)

    pre = sub.add_parser("pre-settle", help="2303 pre-settlement (nothing written)")
    pre.add_argument("mdtrt_id")
    pre.add_argument("--no-account", action="store_true", help="do not use the personal account")
    pre.set_defaults(func=cmd_pre_settle)

    dis = sub.add_parser("discharge", help="2304 discharge settlement with card and PIN")
    dis.add_argument("mdtrt_id")
    dis.add_argument("--no-account", action="store_true", help="do not use the personal account")
    dis.add_argument("--endtime", help="discharge time, ISO 8601 with offset (default now)")
    dis.add_argument("--tries", type=int, default=1)
    dis.set_defaults(func=cmd_discharge)

    dis_ex = sub.add_parser("discharge-exempt", help="2304 discharge on an exemption")
    dis_ex.add_argument("mdtrt_id")
    dis_ex.add_argument("--no-account", action="store_true")
    dis_ex.add_argument("--endtime")
    evidence_options(dis_ex)
    dis_ex.set_defaults(func=cmd_discharge_exempt)

    rev = sub.add_parser("reverse", help="2305 reverse a settlement (the stay opens again)")
    rev.add_argument("setl_id")
    rev.add_argument("--reason", required=True)
    rev.set_defaults(func=cmd_reverse)

    pin = sub.add_parser("pin", help="social security PIN: change (holder), unblock, reset")
    pin.add_argument("operation", choices=["change", "unblock", "reset"])
    pin.set_defaults(func=cmd_pin)

    bank_pin = sub.add_parser("bank-pin", help="bank PIN unblock/reset (issuing bank only)")
    bank_pin.add_argument("operation", choices=["unblock", "reset"])
    bank_pin.set_defaults(func=cmd_bank_pin)

    qp = sub.add_parser("query-password", help="change or reset the query password")
    qp.add_argument("mode", choices=["change", "reset"])
    qp.add_argument("--psn-no", help="person number (default: from the card in the reader)")
    qp.set_defaults(func=cmd_query_password)

    lost = sub.add_parser("report-lost", help="report a card lost (bank branch, card centre)")
    lost.add_argument("card_no")
    lost.add_argument("--reason")
    lost.set_defaults(func=cmd_report_lost)

    upd = sub.add_parser("update-holder", help="update cardholder data (card centre, key 04)")
    for field in centre.EF06_FIELDS:
        upd.add_argument(f"--{field.replace('_', '-')}", dest=field)
    upd.set_defaults(func=cmd_update_holder)
    from terminal.cli_production import register as register_production  # issue 8

    register_production(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        err.print(f"[red]usage:[/] {exc}")
        return EXIT_USAGE
    except NotEntitled as exc:
        err.print(f"[red]not entitled:[/] {exc}. Nothing was sent to the card.")
        return EXIT_NOT_ENTITLED
    except (WrongPin, PinBlocked) as exc:
        err.print(f"[red]PIN:[/] {exc}. Nothing was submitted.")
        return EXIT_PIN
    except CardRefused as exc:
        err.print(f"[red]card refused ({exc.code}):[/] {exc}")
        return EXIT_REFUSED
    except ServiceRefused as exc:
        if exc.code == "not_entitled":
            err.print(f"[red]not entitled (service):[/] {exc.detail or exc.title}")
            return EXIT_NOT_ENTITLED
        err.print(f"[red]refused by the service ({exc.code}):[/] {exc.detail or exc.title}")
        return EXIT_REFUSED
    except ServiceUnavailable as exc:
        err.print(f"[red]service unavailable:[/] {exc}")
        return EXIT_UNAVAILABLE
    except (apdu.CardStatusError, CardDataError, CardNotGenuine) as exc:
        err.print(f"[red]card:[/] {exc}")
        return EXIT_CARD
    except desk.DeskError as exc:
        err.print(f"[red]desk:[/] {exc}")
        return EXIT_USAGE
    except PsamError as exc:
        err.print(f"[red]PSAM:[/] {exc}")
        return EXIT_USAGE
    except ValueError as exc:
        err.print(f"[red]usage:[/] {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("[red]interrupted:[/] nothing more was sent")
        return 130
    except Exception as exc:
        from card.image import CardImageError
        from card.keystore import KeyStoreError
        from terminal.readers.base import ReaderError

        if isinstance(exc, CardImageError):
            err.print(f"[red]card image:[/] {exc}")
            return EXIT_CARD
        if isinstance(exc, ReaderError):
            err.print(f"[red]reader:[/] {exc}. Nothing was submitted.")
            return EXIT_CARD
        if isinstance(exc, KeyStoreError):
            err.print(f"[red]key store:[/] {exc}")
            return EXIT_USAGE
        if os.environ.get("SSCARD_DEBUG"):
            raise
        err.print(
            f"[red]internal error ({type(exc).__name__}):[/] {exc} (SSCARD_DEBUG=1 shows more)"
        )
        return EXIT_INTERNAL
