"""``python -m terminal production ...``: the card centre and the bank move applications along.

Single applications, step by step::

    python -m terminal production apply --certno 4301... --name 张三 --sex 1 \\
        --birth 1980-05-17 --birthplace 430102 --bank 102 --query-password-stdin
    python -m terminal production audit AP2026...          # card centre
    python -m terminal production compare AP2026...        # the partner bank
    python -m terminal production pre-check AP2026...      # card centre
    python -m terminal --reader blank.json production personalise AP2026...   # card centre
    python -m terminal --reader card.json production open-account AP2026...   # the bank
    python -m terminal production issue AP2026... --collected-by "张三"
    python -m terminal production show AP2026... / list --batch BT... / progress --certno ...
    python -m terminal production reject / correct / report-loss ...

A whole employer's batch: ``batch-apply`` here, ``batch`` in :mod:`terminal.cli.batch`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.table import Table

from terminal.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    UsageError,
    console,
    id_number_reason,
    load_psam,
    open_applications,
    open_reader_by_name,
    print_json,
    secret,
    show,
)
from terminal.client.http import ServiceRefused, ServiceUnavailable
from terminal.i18n import _
from terminal.production import open_account, personalise
from terminal.psam import Psam, Role

#: The card centres' local time (China Standard Time).
LOCAL_TIME = timezone(timedelta(hours=8), "CST")

STEP_NAMES = {
    1: "accepted",
    2: "audit",
    3: "comparison",
    4: "pre-check",
    5: "personalisation",
    6: "account opening",
    7: "issuance",
}


def step_name(step: int) -> str:
    """A production step's name in the counter's language (docs/card-production.md)."""
    names = {
        1: _("accepted"),
        2: _("audit"),
        3: _("comparison"),
        4: _("pre-check"),
        5: _("personalisation"),
        6: _("account opening"),
        7: _("issuance"),
    }
    return names.get(step, str(step))


def status_words(status: str) -> str:
    """An application's or a step's state in the counter's language."""
    words = {
        "in_progress": _("in progress"),
        "returned": _("returned to the applicant"),
        "issued": _("issued"),
        "withdrawn": _("withdrawn"),
        "done": _("done"),
        "carried_over": _("carried over"),
        "current": _("current"),
        "pending": _("pending"),
    }
    return words.get(status, status)


# --- output --------------------------------------------------------------------------------


def show_application(view: dict[str, Any], args: argparse.Namespace) -> None:
    """One application: who, status, next step, deadline, then every step with its time."""
    if args.json:
        print_json(view)
        return
    deadline = view["deadline"]
    rows: list[tuple[str, Any]] = [
        (_("application"), f"{view['application_id']} ({view['kind']})"),
        (_("applicant"), f"{view['psn_name']} {view['certno']}"),
        (_("status"), status_words(view["status"])),
        (_("next step"), step_name(view["next_step"]["step"]) if view["next_step"] else "-"),
        (_("due"), _due(deadline)),
    ]
    if view.get("returned"):
        r = view["returned"]
        rows.append(
            (
                _("returned"),
                _("step {step}: {reason} — {detail}").format(
                    step=r["step"], reason=r["reason"], detail=r["detail"]
                ),
            )
        )
    labels = {
        "card_no": _("card number"),
        "replaces_card_no": _("replaces card"),
        "replacement_receipt_no": _("replacement receipt (补卡回执)"),
        "collected_by": _("collected by"),
    }
    for key, label in labels.items():
        if view.get(key):
            rows.append((label, view[key]))
    show(_("Card application"), rows, args)
    table = Table(title=_("Steps"))
    for column in ("#", _("step"), _("state"), _("when"), _("by")):
        table.add_column(column)
    for step in view["steps"]:
        table.add_row(
            str(step["step"]),
            step_name(step["step"]),
            status_words(step["state"]),
            _local(step["at"]),
            step["by"] or "",
        )
    console.print(table)


def _due(deadline: dict[str, Any]) -> str:
    """The due day, its working days, late and provisional, in words."""
    text = _("{due_on} ({days} working days)").format(
        due_on=deadline["due_on"], days=deadline["target_working_days"]
    )
    if deadline["late"]:
        text += " " + _("LATE")
    if deadline.get("provisional"):
        text += " " + _("provisional: holidays known only through {day}").format(
            day=deadline["calendar_through"]
        )
    return text


def _local(moment: str | None) -> str:
    """An ISO time as the card centre's local ``YYYY-MM-DD HH:MM`` (UTC+08:00)."""
    if not moment:
        return ""
    return datetime.fromisoformat(moment).astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


# --- step 1 --------------------------------------------------------------------------------


def _application_body(args: argparse.Namespace, password: str | None) -> dict[str, Any]:
    body = {
        "certno": args.certno,
        "psn_name": args.name,
        "gend": args.sex,
        "brdy": args.birth.isoformat(),
        "naty": args.nation,
        "birthplace": args.birthplace,
        "psn_cert_type": "household_register" if args.hukou_no and args.no_id_card else "id_card",
        "hukou_no": args.hukou_no,
        "photo_taken": not args.no_photo,
        "insutype": args.insutype,
        "region": args.region,
        "bank_code": args.bank,
    }
    if password:
        body["query_password"] = password
    return body


def check_applicant(args: argparse.Namespace) -> None:
    """What the clerk typed agrees with the ID number (GB 11643: its check digit, the birth
    date in digits 7-14, the sex by the parity of digit 17) before anything is sent."""
    certno = args.certno.strip().upper()
    reason = id_number_reason(certno)
    if reason:
        raise UsageError(_("--certno {certno}: {reason}").format(certno=certno, reason=reason))
    if args.birth.strftime("%Y%m%d") != certno[6:14]:
        raise UsageError(
            _("--birth {birth} is not the birth date in the ID number ({digits})").format(
                birth=args.birth.isoformat(), digits=certno[6:14]
            )
        )
    if args.sex != ("1" if int(certno[16]) % 2 else "2"):
        raise UsageError(_("--sex {sex} is not the sex the ID number says").format(sex=args.sex))
    args.certno = certno


def cmd_apply(args: argparse.Namespace) -> int:
    check_applicant(args)
    password = (
        secret(args, _("query password for the progress query: ")) if args.query_password else None
    )
    with open_applications(args) as client:
        view = client.apply(_application_body(args, password))
    show_application(view, args)
    return EXIT_OK


def read_applicants(path: str) -> list[dict[str, Any]]:
    """Employees from JSON (a list of application bodies) or CSV with the same column names."""
    try:
        # utf-8-sig: a roster saved by a spreadsheet starts with a byte-order mark.
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            _("cannot read the roster {path}: {reason}").format(path=path, reason=exc)
        ) from exc
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                _("{path}: not valid JSON ({reason})").format(path=path, reason=exc)
            ) from exc
    else:
        rows = list(csv.DictReader(text.splitlines()))
    out = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise UsageError(
                _("{path}: applicant {n} is not an object with named fields").format(
                    path=path, n=number
                )
            )
        if None in row:
            raise UsageError(
                _("{path}: row {n} has more fields than the header").format(path=path, n=number)
            )
        item = {k: v for k, v in row.items() if v not in (None, "")}
        if "photo_taken" in item and isinstance(item["photo_taken"], str):
            item["photo_taken"] = item["photo_taken"].strip().lower() in ("1", "true", "yes", "y")
        out.append(item)
    if not out:
        raise UsageError(_("{path}: no applicants").format(path=path))
    return out


def cmd_batch_apply(args: argparse.Namespace) -> int:
    applicants = read_applicants(args.file)
    with open_applications(args) as client:
        answer = client.apply_batch(args.employer, args.employer_name or "", applicants)
    if args.json:
        print_json(answer)
    else:
        show(
            _("Batch accepted"),
            [
                (_("batch"), answer["batch_id"]),
                (_("employer"), answer["employer_code"]),
                (_("applications"), answer["count"]),
                (_("due (30 working days)"), answer["due_on"]),
            ],
            args,
        )
    return EXIT_OK


# --- looking up ----------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    with open_applications(args) as client:
        view = client.application(args.application_id)
    show_application(view, args)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    filters = {
        k: v
        for k, v in (
            ("batch_id", args.batch),
            ("employer_code", args.employer),
            ("status", args.status),
            ("next_step", args.next_step),
            ("certno", args.certno),
        )
        if v is not None
    }
    with open_applications(args) as client:
        answer = client.applications(**filters)
    if args.json:
        print_json(answer)
        return EXIT_OK
    table = Table(title=_("{n} applications").format(n=answer["count"]))
    columns = (
        _("application"),
        _("kind"),
        _("name"),
        _("status"),
        _("next"),
        _("reason"),
        _("card"),
        _("due"),
    )
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i in (0, 6, 7))
    for a in answer["applications"]:
        table.add_row(
            a["application_id"],
            a["kind"],
            a["psn_name"],
            status_words(a["status"]),
            step_name(a["next_step"]) if a["next_step"] else "-",
            a["reason"] or "",
            a["card_no"] or "",
            a["due_on"] + (" " + _("LATE") if a["late"] else ""),
        )
    console.print(table)
    if answer.get("truncated"):
        console.print(
            _("only the first {n}: narrow the filters (batch, status, next step)").format(
                n=answer["count"]
            )
        )
    return EXIT_OK


def cmd_progress(args: argparse.Namespace) -> int:
    password = secret(args, _("query password: "))
    try:
        with open_applications(args) as client:
            answer = client.progress(args.certno, password)
    except ServiceUnavailable as exc:
        # A locked query (429 too_many_attempts) is a refusal with its wait, not an outage.
        if isinstance(exc.__cause__, ServiceRefused) and exc.__cause__.status == 429:
            raise exc.__cause__ from None
        raise
    if args.json:
        print_json(answer)
        return EXIT_OK
    for view in answer["applications"]:
        show_application(view, args)
    if not answer["applications"]:
        console.print(_("no card applications for this ID number"))
    return EXIT_OK


# --- steps 2-7 -----------------------------------------------------------------------------


def _simple(step: str):
    """A step without a body (``audit``, ``compare``, ``pre_check``, ``withdraw``)."""

    def command(args: argparse.Namespace) -> int:
        with open_applications(args) as client:
            view = getattr(client, step)(args.application_id)
        show_application(view, args)
        return EXIT_OK if view["status"] != "returned" else EXIT_REFUSED

    return command


def cmd_personalise(args: argparse.Namespace) -> int:
    psam = load_psam(args, Role.CARD_CENTRE)
    medical = Psam.load(args.medical_psam) if args.medical_psam else None
    with open_reader_by_name(args.reader) as reader, open_applications(args) as client:
        view = personalise(client, psam, reader, args.application_id, medical)
    show_application(view, args)
    return EXIT_OK


def cmd_open_account(args: argparse.Namespace) -> int:
    psam = load_psam(args, Role.BANK_BRANCH)
    bank_pin = secret(args, _("new bank PIN (chosen by the holder): "))
    with open_reader_by_name(args.reader) as reader, open_applications(args) as client:
        view = open_account(client, psam, reader, args.application_id, bank_pin)
    show_application(view, args)
    return EXIT_OK


def _collected_at(text: str) -> str:
    """``--collected-at``: an ISO date-time; without an offset it is the card centre's time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{text} is not a date and time like 2026-11-20T15:30 (+08:00 if no offset)").format(
                text=repr(text)
            )
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TIME)
    return moment.isoformat()


def cmd_issue(args: argparse.Namespace) -> int:
    with open_applications(args) as client:
        view = client.issue(args.application_id, args.collected_by, args.collected_at)
    show_application(view, args)
    return EXIT_OK


def cmd_reject(args: argparse.Namespace) -> int:
    with open_applications(args) as client:
        view = client.reject(args.application_id, args.step, args.reason, args.detail or "")
    show_application(view, args)
    return EXIT_OK


#: ``correct`` option → the application's field.
CORRECTION_FIELDS = {
    "name": "psn_name",
    "sex": "gend",
    "birth": "brdy",
    "nation": "naty",
    "birthplace": "birthplace",
    "hukou_no": "hukou_no",
    "insutype": "insutype",
    "bank": "bank_code",
}


def cmd_correct(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        field: getattr(args, opt)
        for opt, field in CORRECTION_FIELDS.items()
        if getattr(args, opt) is not None
    }
    if args.photo_taken:
        body["photo_taken"] = True
    if args.note:
        body["note"] = args.note
    with open_applications(args) as client:
        view = client.correct(args.application_id, body)
    show_application(view, args)
    return EXIT_OK


def cmd_report_loss(args: argparse.Namespace) -> int:
    with open_applications(args) as client:
        answer = client.report_loss(args.card_no, args.reason or "")
    if args.json:
        print_json(answer)
        return EXIT_OK
    replacement = answer["replacement_application"]
    show(
        _("Card reported lost"),
        [
            (_("card"), _("{card_no} — blocked for settlement").format(card_no=answer["card_no"])),
            (_("replacement receipt (补卡回执)"), answer["replacement_receipt_no"]),
            (_("replacement application"), replacement["application_id"]),
            (_("due"), replacement["deadline"]["due_on"]),
        ],
        args,
    )
    return EXIT_OK


# --- parser --------------------------------------------------------------------------------


def _register_apply(psub: argparse._SubParsersAction) -> None:
    apply_p = psub.add_parser("apply", help=_("step 1: a single application (card centre)"))
    apply_p.add_argument("--certno", required=True, help=_("citizen ID number (the SSN)"))
    apply_p.add_argument("--name", required=True)
    apply_p.add_argument("--sex", required=True, choices=["1", "2"])
    apply_p.add_argument("--birth", required=True, type=date.fromisoformat, help=_("YYYY-MM-DD"))
    apply_p.add_argument("--nation", default="01", help=_("ethnic group code (default 01)"))
    apply_p.add_argument("--birthplace", required=True, help=_("6-digit region code"))
    apply_p.add_argument("--region", default="430100", help=_("insured region (default 430100)"))
    apply_p.add_argument("--insutype", default="310", choices=["310", "390"])
    apply_p.add_argument("--bank", default="102", help=_("partner bank code (default 102)"))
    apply_p.add_argument("--hukou-no", help=_("household register number"))
    apply_p.add_argument(
        "--no-id-card", action="store_true", help=_("apply with the household register")
    )
    apply_p.add_argument("--no-photo", action="store_true", help=_("photo not taken yet"))
    apply_p.add_argument(
        "--query-password",
        action="store_true",
        help=_("ask the applicant for a query password (prompt / --pin-stdin)"),
    )
    apply_p.set_defaults(func=cmd_apply)

    batch_apply = psub.add_parser(
        "batch-apply", help=_("step 1 for an employer's batch (CSV/JSON)")
    )
    batch_apply.add_argument(
        "file", help=_("applicants: JSON list or CSV with the API's field names")
    )
    batch_apply.add_argument("--employer", required=True, help=_("employer code"))
    batch_apply.add_argument("--employer-name")
    batch_apply.set_defaults(func=cmd_batch_apply)

    show_p = psub.add_parser("show", help=_("one application with every step"))
    show_p.add_argument("application_id")
    show_p.set_defaults(func=cmd_show)

    list_p = psub.add_parser("list", help=_("applications by batch, employer, status, next step"))
    list_p.add_argument("--batch")
    list_p.add_argument("--employer")
    list_p.add_argument("--status", choices=["in_progress", "returned", "issued", "withdrawn"])
    list_p.add_argument("--next-step", type=int, choices=range(1, 8))
    list_p.add_argument("--certno")
    list_p.set_defaults(func=cmd_list)


def _register_steps(psub: argparse._SubParsersAction) -> None:
    for name, method, text in (
        ("audit", "audit", _("step 2: data entry and audit (card centre)")),
        ("compare", "compare", _("step 3: police register + bank (bank)")),
        ("pre-check", "pre_check", _("step 4: pre-check against the card base")),
        ("withdraw", "withdraw", _("withdraw the application")),
    ):
        p = psub.add_parser(name, help=text)
        p.add_argument("application_id")
        p.set_defaults(func=_simple(method))

    perso = psub.add_parser("personalise", help=_("step 5: write the blank card in --reader"))
    perso.add_argument("application_id")
    perso.add_argument("--medical-psam", help=_("a PSAM with key 07 to read DF04 back too"))
    perso.set_defaults(func=cmd_personalise)

    bank = psub.add_parser("open-account", help=_("step 6: open the account, write the bank app"))
    bank.add_argument("application_id")
    bank.set_defaults(func=cmd_open_account)

    issue = psub.add_parser("issue", help=_("step 7: issuance registration (card collected)"))
    issue.add_argument("application_id")
    issue.add_argument("--collected-by", required=True, help=_("who collected the card"))
    issue.add_argument(
        "--collected-at",
        type=_collected_at,
        help=_("when it was collected, if not now (e.g. 2026-11-20T15:30; local time +08:00)"),
    )
    issue.set_defaults(func=cmd_issue)


def _register_returns(psub: argparse._SubParsersAction) -> None:
    reject = psub.add_parser("reject", help=_("record a rejection with its reason"))
    reject.add_argument("application_id")
    reject.add_argument("--step", type=int, required=True, choices=range(2, 7))
    reject.add_argument(
        "--reason", required=True, help=_("e.g. missing_photo, personalisation_failed")
    )
    reject.add_argument("--detail")
    reject.set_defaults(func=cmd_reject)

    correct = psub.add_parser("correct", help=_("the applicant's correction; resumes the flow"))
    correct.add_argument("application_id")
    for opt in CORRECTION_FIELDS:
        correct.add_argument(f"--{opt.replace('_', '-')}", dest=opt)
    correct.add_argument("--photo-taken", action="store_true")
    correct.add_argument("--note")
    correct.set_defaults(func=cmd_correct)

    loss = psub.add_parser(
        "report-loss", help=_("loss at the issuing bank: block, receipt, replace")
    )
    loss.add_argument("card_no")
    loss.add_argument("--reason")
    loss.set_defaults(func=cmd_report_loss)

    prog = psub.add_parser("progress", help=_("制卡进度查询: SSN + query password"))
    prog.add_argument("--certno", required=True)
    prog.set_defaults(func=cmd_progress)


def register(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add ``production`` and its subcommands; the subcommand parsers, for ``batch``."""
    production = sub.add_parser(
        "production",
        help=_(
            "card production: applications, steps 1-7, loss and replacement (card centre, bank)"
        ),
    )
    psub = production.add_subparsers(dest="production_command", required=True, metavar="STEP")
    _register_apply(psub)
    _register_steps(psub)
    _register_returns(psub)
    return psub
