"""The enrolment office and the payment channel at the command line (issue 20, docs/api.md
§Contributions): ``enrolment enter|status|correct`` (community office: a card centre key) and
``pay order|confirm|status|reconcile`` (a payment channel's key), all through
:mod:`terminal.client.contributions`, in the counter's language.

    python -m terminal --api-key $CENTRE_KEY enrolment enter 43010000000000000001 --applied-on 2026-06-10
    python -m terminal --api-key $CENTRE_KEY enrolment status 43010000000000000001 --year 2026
    python -m terminal --api-key $CHANNEL_KEY pay order 43010000000000000001 --year 2026
    python -m terminal --api-key $CHANNEL_KEY pay confirm PO2026… --txn 4200001234 --amount 400
    python -m terminal --api-key $CHANNEL_KEY pay reconcile PCWX --day 2026-06-15 --count 1 --amount 400
"""

from __future__ import annotations

import argparse
import secrets
from datetime import datetime
from typing import Any

from terminal.cli.common import EXIT_OK, UsageError, show, yuan
from terminal.cli.first_desk import parse_day, parse_yuan
from terminal.client.contributions import EnrolmentClient, PaymentChannelClient
from terminal.i18n import _
from terminal.slip import business_zone


def category_name(category: str | None) -> str:
    """Who pays, in words."""
    names = {
        "resident": _("resident (城乡居民)"),
        "flexible_worker": _("flexible worker (灵活就业人员)"),
    }
    return names.get(category or "", category or "")


def state_name(state: str) -> str:
    """A contribution state in words (docs/api.md §Contributions)."""
    names = {
        "not_enrolled": _("not enrolled"),
        "processing": _("being processed (not yet payable)"),
        "payable": _("payable"),
        "paid": _("paid (coverage not begun yet)"),
        "covered": _("covered"),
    }
    return names.get(state, state)


def order_status_name(status: str) -> str:
    names = {
        "pending": _("waiting for payment"),
        "confirmed": _("paid"),
        "expired": _("expired (not paid)"),
    }
    return names.get(status, status)


def _client(args: argparse.Namespace, kind: type[EnrolmentClient]) -> Any:
    if not args.api_key:
        raise UsageError(_("no API key: give --api-key or set SSCARD_API_KEY"))
    return kind(args.service, args.api_key, timeout=args.timeout)


def _year(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isdigit() and len(text) == 4):
        raise UsageError(
            _("{text} is not an insurance year: write the year it starts in, e.g. 2026").format(
                text=text
            )
        )
    return int(text)


# --- the enrolment office ------------------------------------------------------------------


def show_record(record: dict[str, Any], args: argparse.Namespace, title: str) -> None:
    rows = [
        (_("person number"), record["psn_no"]),
        (_("category"), category_name(record.get("category"))),
        (_("applied on"), record.get("applied_on")),
        (_("coverage from"), record.get("coverage_start")),
        (_("entered on"), record.get("entered_on")),
        (_("payable from"), record.get("payable_from")),
        (_("may be corrected until"), record.get("correctable_until")),
    ]
    show(title, rows, args, data=record)


def cmd_enrolment_enter(args: argparse.Namespace) -> int:
    applied = parse_day(args.applied_on, "--applied-on")
    entered = parse_day(args.entered_on, "--entered-on")
    with _client(args, EnrolmentClient) as client:
        record = client.enter(
            args.psn_no, category=args.category, applied_on=applied, entered_on=entered
        )
    show_record(record, args, _("Enrolment record entered"))
    return EXIT_OK


def cmd_enrolment_correct(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.category:
        changes["category"] = args.category
    applied = parse_day(args.applied_on, "--applied-on")
    if applied is not None:
        changes["applied_on"] = applied
    if not changes:
        raise UsageError(_("say what to correct: --category and/or --applied-on"))
    with _client(args, EnrolmentClient) as client:
        record = client.correct(args.psn_no, **changes)
    show_record(record, args, _("Enrolment record corrected"))
    return EXIT_OK


def cmd_enrolment_status(args: argparse.Namespace) -> int:
    on = parse_day(args.on, "--on")
    with _client(args, EnrolmentClient) as client:
        state = client.status(args.psn_no, year=_year(args.year), on=on)
    rows = [
        (_("person number"), state["psn_no"]),
        (
            _("insurance year"),
            _("{year} (1 July {year} - 30 June {next})").format(
                year=state["year"], next=state["year"] + 1
            ),
        ),
        (_("state"), state_name(state["state"])),
        (_("why"), state.get("reason")),
        (_("as of"), state.get("on")),
    ]
    if state.get("category"):
        rows.insert(1, (_("category"), category_name(state["category"])))
    if state.get("payable_from"):
        rows.append((_("payable from"), state["payable_from"]))
    if state.get("covered_from"):
        rows.append((_("covered"), f"{state['covered_from']} - {state['covered_to']}"))
    show(_("Contribution state"), rows, args, data=state)
    return EXIT_OK


# --- the payment channel ------------------------------------------------------------------


def show_order(order: dict[str, Any], args: argparse.Namespace, title: str) -> None:
    rows = [
        (_("order number"), order["order_no"]),
        (_("channel order id"), order.get("channel_order_id")),
        (_("person number"), order["psn_no"]),
        (_("category"), category_name(order.get("category"))),
        (_("insurance year"), order["year"]),
        (_("medical insurance (yuan)"), yuan(order["medical_fen"])),
        (_("pension insurance (yuan)"), yuan(order["pension_fen"])),
        (_("amount (yuan)"), yuan(order["amount_fen"])),
        (_("status"), order_status_name(order["status"])),
    ]
    if order.get("expires_at") and order["status"] == "pending":
        local = datetime.fromisoformat(order["expires_at"]).astimezone(business_zone())
        rows.append((_("pay before"), local.strftime("%Y-%m-%d %H:%M")))
    if order.get("channel_txn_id"):
        rows.append((_("transaction id"), order["channel_txn_id"]))
    if order.get("confirmed_on"):
        rows.append((_("paid on"), order["confirmed_on"]))
    show(title, rows, args, data=order)


def cmd_pay_order(args: argparse.Namespace) -> int:
    year = _year(args.year)
    order_id = (
        args.order_id or f"CLI{datetime.now().strftime('%Y%m%d%H%M%S')}{secrets.token_hex(3)}"
    )
    with _client(args, PaymentChannelClient) as client:
        order = client.create_order(order_id, args.psn_no, year)
    show_order(order, args, _("Payment order"))
    return EXIT_OK


def cmd_pay_confirm(args: argparse.Namespace) -> int:
    amount = parse_yuan(args.amount)
    with _client(args, PaymentChannelClient) as client:
        order = client.confirm(args.order_no, args.txn, amount)
    show_order(order, args, _("Payment confirmed"))
    return EXIT_OK


def cmd_pay_status(args: argparse.Namespace) -> int:
    with _client(args, PaymentChannelClient) as client:
        order = client.order(args.order_no)
    show_order(order, args, _("Payment order"))
    return EXIT_OK


def cmd_pay_reconcile(args: argparse.Namespace) -> int:
    day = parse_day(args.day, "--day") or datetime.now(business_zone()).date()
    amount = parse_yuan(args.amount) if args.amount is not None else None
    with _client(args, PaymentChannelClient) as client:
        recon = client.reconciliation(args.channel, day, count=args.count, amount_fen=amount)
    created = recon.get("created") or {}
    rows = [
        (_("channel"), recon["channel"]),
        (_("business day"), recon["day"]),
        (_("payments confirmed"), recon["count"]),
        (_("amount (yuan)"), yuan(recon["amount_fen"])),
        (
            _("orders made that day"),
            _("{paid} paid, {pending} waiting, {expired} expired").format(
                paid=created.get("confirmed", 0),
                pending=created.get("pending", 0),
                expired=created.get("expired", 0),
            ),
        ),
        (
            _("each payment paid one person-year"),
            _("yes") if recon["internal_balanced"] else _("NO"),
        ),
    ]
    if "balanced" in recon:
        verdict = _("balanced") if recon["balanced"] else _("NOT balanced")
        rows.append((_("against the channel's figures"), verdict))
        if not recon["balanced"]:
            difference = recon.get("amount_difference_fen")
            rows.append(
                (
                    _("difference (channel - service)"),
                    _("{count} payments, {amount} yuan").format(
                        count=recon.get("count_difference"),
                        amount=yuan(difference) if difference is not None else "-",
                    ),
                )
            )
    show(_("Channel reconciliation"), rows, args, data=recon)
    return EXIT_OK


# --- the parser ---------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    """``enrolment enter|status|correct`` and ``pay order|confirm|status|reconcile``."""
    categories = ["resident", "flexible_worker"]
    enrol = sub.add_parser(
        "enrolment",
        help=_("resident enrolment records (community office: card centre key)"),
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = enrol.add_parser("enter", help=_("enter a person's enrolment record"))
    p.add_argument("psn_no", help=_("person number"))
    p.add_argument("--category", choices=categories, default="resident")
    p.add_argument("--applied-on", help=_("day of application, e.g. 2026-06-10 (default today)"))
    p.add_argument(
        "--entered-on", help=_("day the record was entered in an earlier system (admin only)")
    )
    p.set_defaults(func=cmd_enrolment_enter)
    p = enrol.add_parser("status", help=_("which state a person is in, and why"))
    p.add_argument("psn_no", help=_("person number"))
    p.add_argument("--year", help=_("insurance year, e.g. 2026 (default: the current one)"))
    p.add_argument("--on", help=_("as of this day (default today)"))
    p.set_defaults(func=cmd_enrolment_status)
    p = enrol.add_parser("correct", help=_("correct a record within 5 working days of entry"))
    p.add_argument("psn_no", help=_("person number"))
    p.add_argument("--category", choices=categories)
    p.add_argument("--applied-on", help=_("day of application, e.g. 2026-06-10"))
    p.set_defaults(func=cmd_enrolment_correct)

    pay = sub.add_parser(
        "pay", help=_("contribution payment orders (a payment channel's key)")
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = pay.add_parser("order", help=_("a payment order for one person and insurance year"))
    p.add_argument("psn_no", help=_("person number"))
    p.add_argument("--year", required=True, help=_("insurance year, e.g. 2026"))
    p.add_argument("--order-id", help=_("the channel's own order id (default: a new one)"))
    p.set_defaults(func=cmd_pay_order)
    p = pay.add_parser("confirm", help=_("confirm an order once the person has paid"))
    p.add_argument("order_no", help=_("order number"))
    p.add_argument("--txn", required=True, help=_("the channel's transaction id"))
    p.add_argument("--amount", required=True, help=_("amount paid in yuan, e.g. 400 or 400.00"))
    p.set_defaults(func=cmd_pay_confirm)
    p = pay.add_parser("status", help=_("a payment order and its status"))
    p.add_argument("order_no", help=_("order number"))
    p.set_defaults(func=cmd_pay_status)
    p = pay.add_parser("reconcile", help=_("the channel's daily reconciliation"))
    p.add_argument("channel", help=_("the channel's institution code"))
    p.add_argument("--day", help=_("business day, e.g. 2026-06-15 (default today)"))
    p.add_argument("--count", type=int, help=_("the channel's own count of payments"))
    p.add_argument("--amount", help=_("the channel's own sum in yuan"))
    p.set_defaults(func=cmd_pay_reconcile)
