"""Setting up a first desk (issue 17): ``register-card`` registers a card image's holder,
their coverage and the card with the service (card centre or admin key; the paid coverage
period is the admin's migration, issue 20: docs/api.md §Contributions), and
``police-register add`` puts a citizen in the simulated police register that card
production's step 3 checks (admin key; docs/card-production.md §The outside registers).

    python -m terminal --api-key $ADMIN_KEY register-card cards/X00000019.json
    python -m terminal --api-key $ADMIN_KEY police-register add 430102198005170011 --name 张三
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from terminal.cli.common import (
    EXIT_OK,
    UsageError,
    id_number_reason,
    open_applications,
    open_client,
    show,
)
from terminal.flows.first_desk import ImageData, read_image, register_from_image
from terminal.i18n import _
from terminal.slip import business_zone, scheme_name


def parse_yuan(text: str) -> int:
    """``--balance``: yuan with at most two decimals (``1500``, ``1500.50``) as fen."""
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise UsageError(
            _("{text} is not an amount in yuan: write it as 1500 or 1500.50").format(text=text)
        )
    return int(amount * 100)


def parse_day(text: str | None, option: str) -> date | None:
    """A date the clerk typed (``2026-01-01``), the reason when it is not one."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            _("{option} {text} is not a date: write it as 2026-11-23").format(
                option=option, text=text
            )
        ) from None


def _checked_image(args: argparse.Namespace) -> tuple[ImageData, str, str]:
    """The image's data, person number and insurance type; what is missing said clearly."""
    data = read_image(args.image)
    reason = id_number_reason(data.holder.ssn)
    if reason:
        raise UsageError(
            _("the ID number {certno} on the card: {reason}").format(
                certno=data.holder.ssn, reason=reason
            )
        )
    psn_no = args.psn_no or (data.medical.psn_no if data.medical else "")
    insutype = args.insutype or (data.medical.insurance_type if data.medical else "")
    if not psn_no or insutype not in ("310", "390"):
        raise UsageError(
            _(
                "the card holds no medical insurance data (DF04): give --psn-no and "
                "--insutype 310|390"
            )
        )
    return data, psn_no, insutype


WORDS = {
    "person": lambda made: _("registered") if made else _("already registered"),
    "coverage": lambda made: (
        _("not recorded: a paid period comes from a payment or the admin's migration")
        if made is None
        else _("paid coverage added")
        if made
        else _("already covered today")
    ),
    "card": lambda made: _("registered") if made else _("already registered"),
}


def cmd_register_card(args: argparse.Namespace) -> int:
    data, psn_no, insutype = _checked_image(args)
    start = parse_day(args.coverage_from, "--coverage-from") or date(
        datetime.now(business_zone()).year, 1, 1
    )
    balance = parse_yuan(args.balance) if args.balance else 0
    with open_client(args) as client:
        outcome = register_from_image(
            client,
            data,
            psn_no=psn_no,
            insutype=insutype,
            coverage_from=start,
            acct_balance=balance,
            collected=not args.not_collected,
        )
    done = dict(outcome.done)
    holder = data.holder
    rows: list[tuple[str, Any]] = [
        (_("holder"), f"{holder.name} {holder.ssn}"),
        (_("person no."), psn_no),
        (_("scheme"), scheme_name(insutype)),
        (_("card number"), data.issuance.card_number),
        (_("person record"), WORDS["person"](done["person"])),
        (_("coverage period"), WORDS["coverage"](done["coverage"])),
        (_("card record"), WORDS["card"](done["card"])),
    ]
    show(
        _("Registered from the card image"),
        rows,
        args,
        {
            "psn_no": psn_no,
            "psn_name": holder.name,
            "certno": holder.ssn,
            "insutype": insutype,
            "card_no": data.issuance.card_number,
            "registered": {item: made for item, made in outcome.done},
        },
    )
    return EXIT_OK


def _citizen(args: argparse.Namespace) -> dict[str, Any]:
    """The citizen the clerk gave: options, or a card image's EF06 (``--from-card``)."""
    if args.from_card:
        holder = read_image(args.from_card).holder
        certno, name = (args.certno or holder.ssn), (args.name or holder.name)
        nation = args.nation or holder.nation
        birthplace = args.birthplace or holder.birthplace
    else:
        if not args.certno or not args.name:
            raise UsageError(_("give the ID number and --name, or --from-card IMAGE"))
        certno, name, nation, birthplace = args.certno, args.name, args.nation, args.birthplace
    certno = certno.strip().upper()
    reason = id_number_reason(certno)
    if reason:
        raise UsageError(
            _("{certno} is not an ID number: {reason}").format(certno=certno, reason=reason)
        )
    if not name.strip():
        raise UsageError(_("--name: the name is empty"))
    return {
        "certno": certno,
        "psn_name": name.strip(),
        # The ID number says the sex (17th digit odd: male) and the birth date (GB 11643).
        "gend": "1" if int(certno[16]) % 2 else "2",
        "brdy": f"{certno[6:10]}-{certno[10:12]}-{certno[12:14]}",
        "naty": nation or "01",
        "birthplace": birthplace or certno[:6],
        "hukou_no": args.hukou_no or "",
    }


def cmd_police_add(args: argparse.Namespace) -> int:
    citizen = _citizen(args)
    with open_applications(args) as client:
        answer = client.add_citizen(citizen)
    show(
        _("Added to the police population register (simulated)"),
        [
            (_("ID number"), answer["certno"]),
            (_("name"), answer["psn_name"]),
            (_("sex"), {"1": _("male"), "2": _("female")}[answer["gend"]]),
            (_("birth date"), answer["brdy"]),
            (_("birthplace"), answer["birthplace"]),
        ],
        args,
        answer,
    )
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """``register-card`` and ``police-register add``."""
    reg = sub.add_parser(
        "register-card",
        help=_(
            "register a card image's holder, coverage and card (admin key: the paid coverage "
            "is a migration)"
        ),
        description=_(
            "Reads the card image's holder data (EF06), card data (EF05) and medical "
            "insurance data (DF04) and registers with the service what it lacks: the person, "
            "a paid coverage period and the card. Running it again changes nothing."
        ),
    )
    reg.add_argument("image", help=_("the card image (JSON file)"))
    reg.add_argument("--psn-no", help=_("person number (default: the card's DF04)"))
    reg.add_argument(
        "--insutype", choices=["310", "390"], help=_("insurance type (default: the card's DF04)")
    )
    reg.add_argument(
        "--coverage-from",
        metavar="DATE",
        help=_("start of the coverage period, e.g. 2026-01-01 (default: 1 January this year)"),
    )
    reg.add_argument(
        "--balance", metavar="YUAN", help=_("personal account balance in yuan (default 0)")
    )
    reg.add_argument(
        "--not-collected",
        action="store_true",
        help=_("register the card as issued, not yet collected (default: active)"),
    )
    reg.set_defaults(func=cmd_register_card)

    police = sub.add_parser(
        "police-register",
        help=_("the simulated police population register that card production checks (admin)"),
    )
    police_sub = police.add_subparsers(dest="police_command", required=True, metavar="ACTION")
    add = police_sub.add_parser(
        "add",
        help=_("add a citizen (sex and birth date come from the ID number)"),
        description=_(
            "Adds or replaces a citizen in the simulated police population register, so that "
            "card production's step 3 (comparison) finds them. Sex and birth date are those "
            "of the ID number; the birthplace defaults to its first six digits."
        ),
    )
    add.add_argument("certno", nargs="?", help=_("the citizen's ID number (18 characters)"))
    add.add_argument("--name", help=_("name as on the ID card"))
    add.add_argument("--nation", help=_("ethnic group code (default 01)"))
    add.add_argument("--birthplace", help=_("6-digit region code (default: from the ID number)"))
    add.add_argument("--hukou-no", help=_("household register number"))
    add.add_argument(
        "--from-card", metavar="IMAGE", help=_("take the holder's data from a card image")
    )
    add.set_defaults(func=cmd_police_add)
