"""PIN counters: the holder's social security PIN change, its unblock and reset
(designated PIN service, key 0E), the bank PIN at the issuing bank branch, and the
query password (card.md §PINs, settlement.md §PIN authority)."""

from __future__ import annotations

import argparse
from typing import Any

from card.keystore import KEY_PIN_UNBLOCK
from terminal.cli.common import (
    EXIT_OK,
    UsageError,
    card_session,
    err,
    id_number_reason,
    load_psam,
    open_client,
    pin_entry,
    show,
)
from terminal.flows import pins
from terminal.flows.common import present_card, read_card
from terminal.i18n import _
from terminal.psam import NotEntitled, Role

#: The operations in words, in the counter's language.
OPERATIONS = {
    "change": lambda: _("change"),
    "reset": lambda: _("reset"),
    "unblock": lambda: _("unblock"),
}


def HOLDER_ID_HELP() -> str:
    return _(
        "reset/unblock: the ID number on the holder's ID document, checked against the card "
        "(default: asked)"
    )


def show_pin(result: pins.PinResult, args: argparse.Namespace) -> None:
    rows: list[tuple[str, Any]] = [
        (_("card number"), result.card_no),
        (_("PIN"), {"ssse": _("social security (社保)"), "bank": _("bank (金融)")}[result.pin]),
        (_("operation"), OPERATIONS[result.operation]()),
        (_("result"), _("done, reported to the audit log")),
    ]
    data: dict[str, Any] = {
        "card_no": result.card_no,
        "pin": result.pin,
        "operation": result.operation,
        "tries_left": None,
        "verified": None,
    }
    if result.tries_left is not None:
        tries = _("verified") if result.tries_left < 0 else result.tries_left
        rows.append((_("tries left"), tries))
        data["verified"] = result.tries_left < 0
        data["tries_left"] = None if result.tries_left < 0 else result.tries_left
    show(_("PIN operation"), rows, args, data)


def ask_holder_id(args: argparse.Namespace) -> str:
    """The ID number on the holder's ID document (``--holder-id``, else asked; a number
    that is not a citizen ID is said with the reason and asked again, 3 times)."""
    if args.holder_id:
        reason = id_number_reason(args.holder_id)
        if reason:
            raise UsageError(f"--holder-id {args.holder_id}: {reason}")
        return args.holder_id.strip().upper()
    for _round in range(3):
        certno = ask_line(args, _("ID number on the holder's ID document: ")).strip().upper()
        reason = id_number_reason(certno)
        if reason is None:
            return certno
        err.print(_("not an ID number: {reason}. Please type it again.").format(reason=reason))
    raise UsageError(_("no valid ID number typed: nothing was changed"))


def ask_line(args: argparse.Namespace, prompt: str) -> str:
    """A line the clerk types (shown as typed), or the next stdin line with --pin-stdin."""
    if args.pin_stdin:
        return pin_entry(args)(prompt)
    try:
        return input(prompt)
    except EOFError:
        raise UsageError(_("{prompt}: nothing was entered").format(prompt=prompt.strip())) from None


def check_holder(session, certno: str) -> None:
    """Before a reset or unblock: the ID document shown is the card holder's (EF06 SSN)."""
    holder = read_card(session, medical=False).holder
    if holder.ssn.strip().upper() != certno:
        raise UsageError(
            _("the ID document shown is not this card's holder's: nothing was changed")
        )


def cmd_pin(args: argparse.Namespace) -> int:
    psam = load_psam(args)
    entry = pin_entry(args)
    with open_client(args) as client:
        if args.operation == "change":
            old = entry(_("current social security PIN: "))
            new = pins.new_pin_entry(entry, _("social security PIN"), tell=err.print)
            with card_session(args, psam) as session:
                result = pins.change_ssse_pin(session, client, old, new)
        elif args.operation == "reset":
            psam.require_role_key(KEY_PIN_UNBLOCK, _("reset the social security PIN"))
            certno = ask_holder_id(args)
            new = pins.new_pin_entry(entry, _("social security PIN"), tell=err.print)
            with card_session(args, psam) as session:
                check_holder(session, certno)
                result = pins.unblock_ssse_pin(session, client, new_pin=new)
        else:
            psam.require_role_key(KEY_PIN_UNBLOCK, _("unblock the social security PIN"))
            certno = ask_holder_id(args)
            with card_session(args, psam) as session:
                check_holder(session, certno)
                result = pins.unblock_ssse_pin(session, client)
    show_pin(result, args)
    return EXIT_OK


def cmd_bank_pin(args: argparse.Namespace) -> int:
    from terminal.flows import bank

    psam = load_psam(args)
    entry = pin_entry(args)
    if psam.role is not Role.BANK_BRANCH:
        raise NotEntitled(
            _("{operation} the bank PIN").format(operation=OPERATIONS[args.operation]()),
            _("{psam} is not a bank").format(psam=psam.describe()),
        )
    certno = ask_holder_id(args) if args.operation != "change" else None
    old = entry(_("current bank PIN: ")) if args.operation == "change" else None
    new = (
        pins.new_pin_entry(entry, _("bank PIN"), tell=err.print)
        if args.operation != "unblock"
        else None
    )
    with open_client(args) as client, card_session(args, psam) as session:
        if certno:
            check_holder(session, certno)
        result = bank.bank_pin(session, client, new_pin=new, old_pin=old)
    show_pin(result, args)
    return EXIT_OK


def cmd_query_password(args: argparse.Namespace) -> int:
    entry = pin_entry(args)
    with open_client(args) as client:
        psn_no = args.psn_no
        if not psn_no:
            psam = load_psam(args)
            with card_session(args, psam) as session:
                psn_no = present_card(session, client, medical=False).psn_no
        old = entry(_("current query password: ")) if args.mode == "change" else None
        new = entry(_("new query password: "))
        if entry(_("new query password again: ")) != new:
            raise UsageError(_("the two new passwords differ: nothing was changed"))
        client.query_password(psn_no, args.mode, new, old)
    show(
        _("Query password (查询密码)"),
        [(_("person"), psn_no), (_("done"), OPERATIONS[args.mode]())],
        args,
        {"psn_no": psn_no, "operation": args.mode},
    )
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """``pin``, ``bank-pin`` and ``query-password``."""
    pin = sub.add_parser("pin", help=_("social security PIN: change (holder), unblock, reset"))
    pin.add_argument("operation", choices=["change", "unblock", "reset"])
    pin.add_argument("--holder-id", help=HOLDER_ID_HELP())
    pin.set_defaults(func=cmd_pin)

    bank_pin = sub.add_parser(
        "bank-pin", help=_("bank PIN: change with the old one, unblock, reset (issuing bank only)")
    )
    bank_pin.add_argument("operation", choices=["change", "unblock", "reset"])
    bank_pin.add_argument("--holder-id", help=HOLDER_ID_HELP())
    bank_pin.set_defaults(func=cmd_bank_pin)

    qp = sub.add_parser("query-password", help=_("change or reset the query password"))
    qp.add_argument("mode", choices=["change", "reset"])
    qp.add_argument("--psn-no", help=_("person number (default: from the card in the reader)"))
    qp.set_defaults(func=cmd_query_password)
