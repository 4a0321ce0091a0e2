"""``python -m card``: make, inspect and talk to card images.

Subcommands: ``new`` (a personalised or blank card image), ``show`` (public
data and counters; never a PIN or key), ``apdu`` (send APDUs in-process, one
response per line; the word ``reset`` resets the card), ``demo`` (a card in a
temporary directory and a short session). The command entry adds more through
``extensions``: callables given the subparsers object (``card/__main__.py`` adds
the reader rig's ``insert`` and ``rig``); each parser they add sets ``func``
(``args -> int``) with ``set_defaults``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from card.crypto import Algorithm
from card.icc import VirtualCard
from card.image import CardImage, CardImageError
from card.issue import (
    DEFAULT_REGION,
    CardHolder,
    IssueError,
    new_blank_card,
    new_card,
    sample_holder,
)
from card.keystore import KeyStore, KeyStoreError, default_path


class UsageError(Exception):
    """Bad input from the command line (message shown, exit status 2)."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _algorithm(text: str) -> Algorithm:
    try:
        return Algorithm.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None


# --- new -------------------------------------------------------------------------------


def cmd_new(args: argparse.Namespace) -> int:
    path = Path(args.image)
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    keystore = KeyStore.load_or_create(args.keystore)
    if args.card_factor is not None and len(args.card_factor) != 8:
        raise UsageError("--card-factor is 8 bytes (16 hex digits)")
    if args.name is not None and not args.name.strip():
        raise UsageError("--name is empty")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a card image file")
    if args.blank:
        image = new_blank_card(
            path,
            keystore=keystore,
            algorithm=args.algorithm,
            region=args.region,
            card_factor=args.card_factor,
            bank_code=args.bank,
            ssse_pin=args.ssse_pin,
        )
    else:
        sample = sample_holder(args.region, sex=args.sex)
        holder = CardHolder(
            name=args.name or sample.name,
            ssn=args.ssn or sample.ssn,
            sex=args.sex,
            nation=args.nation,
            birth_date=args.birth_date or (None if args.ssn else sample.birth_date),
            birthplace=args.birthplace,
            latin_name=args.latin_name
            if args.latin_name is not None
            else ("" if args.name else sample.latin_name),
        )
        image = new_card(
            path,
            holder,
            keystore=keystore,
            algorithm=args.algorithm,
            region=args.region,
            card_number=args.card_number,
            card_factor=args.card_factor,
            issue_date=args.issue_date,
            expiry_date=args.expiry_date,
            insurance_type=args.insurance_type,
            psn_no=args.psn_no,
            bank_code=args.bank,
            pan=args.pan,
            pan_sequence=args.pan_sequence,
            ssse_pin=args.ssse_pin,
            bank_pin=args.bank_pin,
        )
    what = "blank card" if args.blank else f"card {image.card_number}"
    print(
        f"{path}: {what} ({image.algorithm.value}, region {image.region}, "
        f"ATR {image.atr.hex().upper()})"
    )
    return 0


# --- show ------------------------------------------------------------------------------


def public_view(image: CardImage) -> dict[str, str]:
    """What ``show`` prints: public data and counters, never a PIN or a key."""

    def text(value: object) -> str:
        return "" if value is None else str(value)

    return {
        "card number": text(image.card_number),
        "identification code": image.identification_code.hex().upper(),
        "ATR": image.atr.hex().upper(),
        "algorithm": f"{image.algorithm.value} (generation {image.algorithm.generation_byte - 0x30})",
        "region": image.region,
        "name": text(image.name),
        "SSN": text(image.ssn),
        "issue date": text(image.issue_date),
        "expiry date": text(image.expiry),
        "insurance type": text(image.insurance_type),
        "person number": text(image.psn_no),
        "bank": image.bank_code,
        "PAN": text(image.pan),
        "PAN sequence": text(image.pan_sequence),
        "financial application": image.emv_lifecycle,
        "SSSE PIN tries left": f"{image.ssse_pin_tries_left}/{image.ssse_pin.limit}",
        "bank PIN tries left": f"{image.bank_pin_tries_left}/{image.bank_pin.limit}"
        + ("" if image.bank_pin.is_set else " (not set)"),
        "ATC": str(image.atc),
        "last online ATC": str(image.last_online_atc),
    }


def cmd_show(args: argparse.Namespace) -> int:
    image = CardImage.load(args.image)
    view = public_view(image)
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"card image {args.image}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in view.items():
        table.add_row(key, value)
    Console().print(table)
    return 0


# --- apdu ------------------------------------------------------------------------------


def cmd_apdu(args: argparse.Namespace) -> int:
    commands: list[bytes | None] = []
    for word in args.apdus:
        if word.lower() == "reset":
            commands.append(None)
            continue
        try:
            apdu = bytes.fromhex(word)
        except ValueError:
            raise UsageError(f"not an APDU in hex (or 'reset'): {word!r}") from None
        if len(apdu) < 4:
            raise UsageError(f"an APDU has at least 4 bytes: {word!r}")
        commands.append(apdu)
    card = VirtualCard.open(args.image)
    atr = card.power_on()
    if args.verbose:
        print(f"ATR {atr.hex().upper()}")
    for apdu in commands:
        if apdu is None:
            atr = card.reset()
            print(f"reset ATR {atr.hex().upper()}")
            continue
        response = card.transmit(apdu)
        data, sw = response[:-2], response[-2:]
        line = f"{data.hex().upper()} {sw.hex().upper()}" if data else sw.hex().upper()
        print(f"{apdu.hex().upper()} -> {line}" if args.verbose else line)
        if card.storage_failure is not None:
            card.power_off()
            raise card.storage_failure  # the state change was not kept: stop here
    card.power_off()
    return 0


# --- demo ------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from card.demo import run_demo

    return run_demo(args.algorithm)


# --- parser ----------------------------------------------------------------------------


def build_parser(
    extensions: Sequence[Callable[[Any], None]] = (),
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m card", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    new = sub.add_parser("new", help="create a card image (a quick test card by default)")
    new.add_argument("image", help="path of the card image file to create")
    new.add_argument("--blank", action="store_true", help="a blank card as from the chip maker")
    new.add_argument(
        "--algorithm", type=_algorithm, default=Algorithm.SM4, help="sm4 (default) or 3des"
    )
    new.add_argument(
        "--region", default=DEFAULT_REGION, help="6-digit region code (default 430100)"
    )
    new.add_argument("--name", help="holder name in Chinese (default 张三/李四)")
    new.add_argument("--latin-name", help="name for the bank application, e.g. ZHANG/SAN")
    new.add_argument("--ssn", help="18-character social security (citizen ID) number")
    new.add_argument("--sex", choices=("1", "2"), default="1", help="1 male, 2 female")
    new.add_argument("--nation", default="01", help="ethnic group code (default 01)")
    new.add_argument("--birth-date", type=_date, help="YYYY-MM-DD (default: from the SSN)")
    new.add_argument("--birthplace", help="region code (default: the SSN's first 6 digits)")
    new.add_argument("--card-number", help="9 characters, e.g. X00000019 (default random)")
    new.add_argument("--card-factor", type=_hex, help="8 card-unique bytes in hex (default random)")
    new.add_argument(
        "--issue-date",
        type=_date,
        help="YYYY-MM-DD (default today; 10 years before a past --expiry-date)",
    )
    new.add_argument("--expiry-date", type=_date, help="YYYY-MM-DD (default 10 years on)")
    new.add_argument("--insurance-type", choices=("310", "390"), default="310")
    new.add_argument("--psn-no", help="person number (default generated)")
    new.add_argument("--bank", default="102", help="issuing bank code (default 102)")
    new.add_argument("--pan", help="bank card number (default: the bank's BIN + random + Luhn)")
    new.add_argument("--pan-sequence", type=int, default=1)
    new.add_argument("--ssse-pin", default="123456")
    new.add_argument("--bank-pin", default="123456")
    new.add_argument("--keystore", type=Path, help=f"issuer key store (default {default_path()})")
    new.add_argument("--force", action="store_true", help="overwrite an existing image")
    new.set_defaults(func=cmd_new)

    show = sub.add_parser("show", help="print a card's public data and counters")
    show.add_argument("image")
    show.add_argument("--json", action="store_true", help="JSON instead of a table")
    show.set_defaults(func=cmd_show)

    apdu = sub.add_parser("apdu", help="send APDUs to a card image in-process")
    apdu.add_argument("image")
    apdu.add_argument("apdus", nargs="+", metavar="HEX", help="APDU in hex, or the word reset")
    apdu.add_argument("-v", "--verbose", action="store_true", help="echo the ATR and commands")
    apdu.set_defaults(func=cmd_apdu)

    demo = sub.add_parser("demo", help="create a card in a temporary directory and run a session")
    demo.add_argument("--algorithm", type=_algorithm, default=Algorithm.SM4)
    demo.set_defaults(func=cmd_demo)

    for extend in extensions:
        extend(sub)
    return parser


def main(
    argv: Sequence[str] | None = None, extensions: Sequence[Callable[[Any], None]] = ()
) -> int:
    parser = build_parser(extensions)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except (CardImageError, IssueError, KeyStoreError, ValueError, OSError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
