"""The hospital's registration desk: admission (2401), fee upload (2301),
pre-settlement (2303), discharge settlement (2304) and reversal (2305),
with the card and PIN or on an exemption (settlement.md §Inpatient flow)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from terminal.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    UsageError,
    card_session,
    console,
    err,
    id_number_reason,
    load_psam,
    open_client,
    parse_when,
    pin_entry,
    show,
    yuan,
)
from terminal.client.http import ServiceRefused
from terminal.client.settlement import SettlementClient
from terminal.feefile import FeeFileError, parse_fee_file
from terminal.flows import desk
from terminal.i18n import _
from terminal.pdf import PdfError, print_to_pdf
from terminal.slip import Slip, local_minute, scheme_name


def build_slip(client: SettlementClient, settlement: dict[str, Any], *, settled: bool) -> Slip:
    """The slip of a settlement (or pre-settlement) with its stay, patient and hospital as
    the service has them; a detail the service does not give this terminal is left out."""
    slip = Slip(settlement, settled=settled)
    lookups = (
        ("admission", lambda: client.admission(settlement["mdtrt_id"])),
        ("person", lambda: client.person(settlement.get("psn_no") or slip.admission["psn_no"])),
        (
            "hospital",
            lambda: client.institution(
                settlement.get("fixmedins_code") or slip.admission["fixmedins_code"]
            ),
        ),
    )
    for name, look_up in lookups:
        try:
            setattr(slip, name, look_up())
        except (ServiceRefused, KeyError):
            continue
    return slip


def show_receipt(slip: Slip, args: argparse.Namespace) -> None:
    """The settlement slip as text (and ``--html PATH``), or the settlement's JSON."""
    if getattr(args, "html", None):
        Path(args.html).write_text(slip.html(), encoding="utf-8")
    if args.json:
        print(json.dumps(slip.settlement, ensure_ascii=False))
        return
    console.print(slip.text(), highlight=False, markup=False)
    if getattr(args, "html", None):
        console.print(_("HTML slip written to {path}").format(path=args.html), highlight=False)
    if getattr(args, "pdf", None):
        try:
            print_to_pdf(slip.html(), args.pdf)
        except PdfError as exc:  # the settlement stands; only its printout is missing
            err.print(_("[yellow]PDF slip not written:[/] {reason}").format(reason=exc))
        else:
            console.print(_("PDF slip written to {path}").format(path=args.pdf), highlight=False)


#: An admission's fields a desk shows, with their labels.
ADMISSION_FIELDS = (
    ("mdtrt_id", "admission no."),
    ("ipt_no", "hospital inpatient no."),
    ("psn_no", "person no."),
    ("insutype", "scheme"),
    ("begntime", "admitted"),
    ("fixmedins_code", "hospital"),
    ("auth_method", "identified by"),
    ("card_no", "card number"),
    ("status", "status"),
)


def show_admission(record: dict[str, Any], args: argparse.Namespace) -> None:
    """The admission: local time to the minute, the scheme in words (``--json``: as given)."""
    shown = {
        **record,
        "insutype": scheme_name(record.get("insutype")),
        "begntime": local_minute(record.get("begntime")),
    }
    show(
        _("Admitted: {mdtrt_id}").format(mdtrt_id=record["mdtrt_id"]),
        [(_(label), shown.get(key)) for key, label in ADMISSION_FIELDS],
        args,
        {key: record.get(key) for key, _label in ADMISSION_FIELDS},
    )


def exemption_from_args(args: argparse.Namespace) -> dict[str, str]:
    reason = id_number_reason(args.certno) if args.certno else None
    if reason:
        raise UsageError(f"--certno {args.certno}: {reason}")
    return desk.exemption_evidence(
        args.kind,
        household_register_no=args.hukou_no,
        document_type=args.doc_type,
        document_number=args.doc_no,
        receipt_no=args.receipt_no,
        certno=args.certno,
    )


#: The fee file's format, in ``fees --help``.
FEE_FILE_HELP = """Upload fee lines (2301) from a file exported by the hospital's system.

CSV: UTF-8 (with or without BOM) or GB18030/GBK; the first line names the columns:
  feedetl_sn     明细流水号 / 序号       the line's serial number in the stay
  med_list_codg  项目编码 / 医保目录编码  the insurance catalogue code
  med_list_name  名称 / 项目名称          the item's name
  cnt_decimal    数量                    quantity, up to 4 decimals (or cnt: whole)
  pric_yuan      单价 / 单价（元）        unit price in yuan, e.g. 12.50 (or pric: whole fen)
Each bad row is named by its line number; nothing is uploaded from a file with a bad row.
JSON: a list of fee lines as docs/api.md, or {"feedetail": [...]}.
Example:
  项目编码,名称,数量,单价
  XJ01CAA040A001010101445,头孢呋辛钠注射剂,2,12.50
"""


def read_fee_lines(path: str) -> list[dict[str, Any]]:
    """Fee lines from a JSON or CSV fee file (terminal/feefile.py; ``-`` = stdin)."""
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return parse_fee_file(data, path)
    except FeeFileError as exc:
        raise UsageError(str(exc)) from exc


#: The longest inpatient number the service takes (docs/api.md ``ipt_no``).
IPT_NO_MAX = 40


def ipt_no_from_args(args: argparse.Namespace) -> str | None:
    """``--ipt-no`` without its surrounding spaces; checked before the card is read."""
    if args.ipt_no is None:
        return None
    ipt_no = args.ipt_no.strip()
    if not ipt_no or len(ipt_no) > IPT_NO_MAX:
        raise UsageError(
            _('--ipt-no "{ipt_no}": the hospital inpatient number is 1 to {n} characters').format(
                ipt_no=args.ipt_no, n=IPT_NO_MAX
            )
        )
    return ipt_no


def admitted(args: argparse.Namespace, admit: Callable[[], desk.Admission]) -> int:
    """Run ``admit`` and show the admission; an inpatient number another live stay of the
    hospital holds (found by the desk first, or ``409 ipt_no_taken``) is one line for the
    clerk, exit ``EXIT_REFUSED``."""
    try:
        admission = admit()
    except desk.InpatientNumberTaken as exc:
        return refuse_taken_ipt_no(exc.ipt_no, exc.mdtrt_id)
    except ServiceRefused as exc:
        if exc.code != "ipt_no_taken":
            raise
        return refuse_taken_ipt_no(str(exc.body.get("ipt_no")), exc.body.get("mdtrt_id"))
    show_admission(admission.record, args)
    return EXIT_OK


def refuse_taken_ipt_no(ipt_no: str, taken_by: str | None) -> int:
    """The clerk's one line for a taken inpatient number; nothing was admitted."""
    stay = _("stay {mdtrt_id}").format(mdtrt_id=taken_by) if taken_by else _("another stay")
    message = _(
        "[red]inpatient number taken:[/] {ipt_no} is already the number of {stay} at this "
        "hospital; check the number, or cancel that stay first. Nothing was admitted."
    )
    err.print(
        message.format(ipt_no=escape(ipt_no), stay=escape(stay)), soft_wrap=True, highlight=False
    )
    return EXIT_REFUSED


def cmd_admit(args: argparse.Namespace) -> int:
    psam = load_psam(args)
    ipt_no = ipt_no_from_args(args)

    def admit() -> desk.Admission:
        with open_client(args) as client, card_session(args, psam) as session:
            return desk.admit_with_card(
                session,
                client,
                pin_entry(args),
                dept_name=args.dept,
                dise_name=args.diagnosis,
                insutype=args.insutype,
                begntime=parse_when(args.begntime),
                pin_attempts=args.tries,
                ipt_no=ipt_no,
            )

    return admitted(args, admit)


def cmd_admit_exempt(args: argparse.Namespace) -> int:
    exemption = exemption_from_args(args)
    ipt_no = ipt_no_from_args(args)

    def admit() -> desk.Admission:
        with open_client(args) as client:
            return desk.admit_exempt(
                client,
                args.psn_no,
                exemption,
                dept_name=args.dept,
                dise_name=args.diagnosis,
                insutype=args.insutype,
                begntime=parse_when(args.begntime),
                ipt_no=ipt_no,
            )

    return admitted(args, admit)


def cmd_fees(args: argparse.Namespace) -> int:
    try:
        lines = read_fee_lines(args.file)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(
            _("cannot read fee lines from {file}: {reason}").format(file=args.file, reason=exc)
        ) from exc
    with open_client(args) as client:
        answer = desk.upload_fees(client, args.mdtrt_id, lines)
    show(
        _("Fees uploaded to {mdtrt_id}").format(mdtrt_id=args.mdtrt_id),
        [
            (_("accepted"), len(answer["accepted"])),
            (_("duplicates (already there)"), len(answer["duplicates"])),
            (_("fee lines in the stay"), answer.get("fee_count")),
            (_("total so far (yuan)"), yuan(answer.get("medfee_sumamt", 0))),
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
    with open_client(args) as client:
        split = client.pre_settle(args.mdtrt_id, acct_used_flag=not args.no_account)
        split.setdefault("mdtrt_id", args.mdtrt_id)
        slip = build_slip(client, split, settled=False)
    if args.json:
        split.setdefault("setl_id", "(pre-settlement)")
    show_receipt(slip, args)
    return EXIT_OK


def cmd_discharge(args: argparse.Namespace) -> int:
    psam = load_psam(args)
    with open_client(args) as client, card_session(args, psam) as session:
        receipt = desk.discharge_with_card(
            session,
            client,
            pin_entry(args),
            args.mdtrt_id,
            acct_used_flag=not args.no_account,
            endtime=parse_when(args.endtime),
            pin_attempts=args.tries,
        )
        slip = build_slip(client, receipt.settlement, settled=True)
    show_receipt(slip, args)
    return EXIT_OK


def cmd_discharge_exempt(args: argparse.Namespace) -> int:
    exemption = exemption_from_args(args)
    with open_client(args) as client:
        receipt = desk.discharge_exempt(
            client,
            args.mdtrt_id,
            exemption,
            acct_used_flag=not args.no_account,
            endtime=parse_when(args.endtime),
        )
        slip = build_slip(client, receipt.settlement, settled=True)
    show_receipt(slip, args)
    return EXIT_OK


def cmd_slip(args: argparse.Namespace) -> int:
    """A settlement's slip printed again (text, ``--html PATH``)."""
    with open_client(args) as client:
        slip = build_slip(client, client.settlement(args.setl_id), settled=True)
    show_receipt(slip, args)
    return EXIT_OK


def confirm_reversal(client: SettlementClient, args: argparse.Namespace) -> bool:
    """At a terminal (and without ``--yes``): the settlement's slip, then "reverse it?"."""
    if args.yes or not sys.stdin.isatty():
        return True
    slip = build_slip(client, client.settlement(args.setl_id), settled=True)
    console.print(slip.text(), highlight=False, markup=False)
    answer = input(_("Reverse this settlement? Type y to reverse, anything else to keep it: "))
    return answer.strip().lower() in {"y", "yes", _("y")}


def cmd_reverse(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        if not confirm_reversal(client, args):
            console.print(_("Not reversed: the settlement stands."))
            return EXIT_OK
        answer = client.reverse(args.setl_id, args.reason)
    show(
        _("Settlement {setl_id} reversed").format(setl_id=args.setl_id),
        [
            (_("reversal"), answer.get("revs_setl_id")),
            (_("admission (open again)"), answer.get("mdtrt_id")),
            (_("fund paid back (yuan)"), yuan(answer.get("fund_pay_sumamt", 0))),
            (_("account restored (yuan)"), yuan(answer.get("acct_pay", 0))),
            (_("account balance (yuan)"), yuan(answer.get("balc", 0))),
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


def _admission_options(p: argparse.ArgumentParser, insutype_required: bool) -> None:
    p.add_argument("--dept", required=True, help=_("department (dept_name)"))
    p.add_argument("--diagnosis", required=True, help=_("diagnosis (dise_name)"))
    p.add_argument(
        "--insutype",
        choices=["310", "390"],
        required=insutype_required,
        help=_("insurance type (default: from the card's DF04)"),
    )
    p.add_argument(
        "--begntime",
        help=_(
            "admission time, e.g. 2026-11-23 08:00 (local) or ISO 8601 with offset (default now)"
        ),
    )
    p.add_argument(
        "--ipt-no",
        metavar="IPT_NO",
        help=_(
            "the hospital's inpatient number (住院号, ipt_no), unique among the hospital's "
            "stays not cancelled"
        ),
    )


def _evidence_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", required=True, choices=desk.EXEMPTION_KINDS)
    p.add_argument("--hukou-no", help=_("household register number (child under 7)"))
    p.add_argument("--doc-type", help="passport | hk_macao_permit | taiwan_permit | ...")
    p.add_argument("--doc-no", help=_("identity document number"))
    p.add_argument("--certno", help=_("resident ID card number (lost card)"))
    p.add_argument("--receipt-no", help=_("replacement receipt number (lost card)"))


def register(sub: argparse._SubParsersAction) -> None:
    """``admit``, ``admit-exempt``, ``fees``, ``pre-settle``, ``discharge``,
    ``discharge-exempt`` and ``reverse``."""
    admit = sub.add_parser("admit", help=_("2401 admission with card and PIN"))
    _admission_options(admit, False)
    admit.add_argument("--tries", type=int, default=1, help=_("PIN attempts to allow (default 1)"))
    admit.set_defaults(func=cmd_admit)

    admit_ex = sub.add_parser("admit-exempt", help=_("2401 admission on an exemption"))
    admit_ex.add_argument("--psn-no", required=True)
    _admission_options(admit_ex, True)
    _evidence_options(admit_ex)
    admit_ex.set_defaults(func=cmd_admit_exempt)

    fees = sub.add_parser(
        "fees",
        help=_("2301 fee upload from a JSON or CSV file ('-' = stdin)"),
        description=_(FEE_FILE_HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fees.add_argument("mdtrt_id")
    fees.add_argument("file")
    fees.set_defaults(func=cmd_fees)

    pre = sub.add_parser("pre-settle", help=_("2303 pre-settlement (nothing written)"))
    pre.add_argument("mdtrt_id")
    pre.add_argument("--no-account", action="store_true", help=_("do not use the personal account"))
    pre.set_defaults(func=cmd_pre_settle)

    dis = sub.add_parser("discharge", help=_("2304 discharge settlement with card and PIN"))
    dis.add_argument("mdtrt_id")
    dis.add_argument("--no-account", action="store_true", help=_("do not use the personal account"))
    dis.add_argument(
        "--endtime",
        help=_(
            "discharge time, e.g. 2026-11-30 10:00 (local) or ISO 8601 with offset (default now)"
        ),
    )
    dis.add_argument("--tries", type=int, default=1)
    dis.set_defaults(func=cmd_discharge)

    dis_ex = sub.add_parser("discharge-exempt", help=_("2304 discharge on an exemption"))
    dis_ex.add_argument("mdtrt_id")
    dis_ex.add_argument("--no-account", action="store_true")
    dis_ex.add_argument("--endtime")
    _evidence_options(dis_ex)
    dis_ex.set_defaults(func=cmd_discharge_exempt)

    rev = sub.add_parser("reverse", help=_("2305 reverse a settlement (the stay opens again)"))
    rev.add_argument("setl_id")
    rev.add_argument("--reason", required=True)
    rev.add_argument("--yes", action="store_true", help=_("do not ask for confirmation (scripts)"))
    rev.set_defaults(func=cmd_reverse)

    slip = sub.add_parser("slip", help=_("print a settlement slip (结算单) again"))
    slip.add_argument("setl_id")
    for p in (slip, pre, dis, dis_ex):
        p.add_argument("--html", metavar="PATH", help=_("also write the slip as an HTML page"))
        p.add_argument(
            "--pdf", metavar="PATH", help=_("also print the slip to a PDF file (Chromium)")
        )
    slip.set_defaults(func=cmd_slip)
