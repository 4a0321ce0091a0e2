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

Batch mode for a whole employer's applications (单位批量), with a progress bar::

    python -m terminal production batch-apply employees.csv --employer E9143...
    python -m terminal production batch BT2026... --cards TRAY/   # run as each institution

``batch`` does, for every application of the batch, every step *this
terminal's institution* may do (card centre: audit, pre-check,
personalisation, issuance; bank: comparison, account opening) and reports
what waits for the other institution or for the applicant. The card tray
``--cards`` holds the chip maker's blank card images (``python -m card new
--blank``); a personalised card is moved to ``TRAY/<card_no>.json`` for the
bank, like the physical card going from the centre to the branch.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from terminal import cli
from terminal.client import ServiceRefused, ServiceUnavailable, SettlementClient
from terminal.production import ProductionError, open_account, personalise
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


# --- helpers -------------------------------------------------------------------------------


def _secret(args: argparse.Namespace, prompt: str) -> str:
    try:
        return cli._pin_entry(args)(prompt)
    except EOFError:
        raise cli.UsageError(
            f"{prompt.strip().rstrip(':')}: nothing was entered (no terminal? give it on "
            "stdin with --pin-stdin)"
        ) from None


def _show_application(view: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    deadline = view["deadline"]
    rows: list[tuple[str, Any]] = [
        ("application", f"{view['application_id']} ({view['kind']})"),
        ("applicant", f"{view['psn_name']} {view['certno']}"),
        ("status", view["status"]),
        ("next step", view["next_step"]["name"] if view["next_step"] else "-"),
        (
            "due",
            f"{deadline['due_on']} ({deadline['target_working_days']} working days)"
            + (" LATE" if deadline["late"] else "")
            + (
                f" provisional: holidays known only through {deadline['calendar_through']}"
                if deadline.get("provisional")
                else ""
            ),
        ),
    ]
    if view.get("returned"):
        r = view["returned"]
        rows.append(("returned", f"step {r['step']}: {r['reason']} — {r['detail']}"))
    for key in ("card_no", "replaces_card_no", "replacement_receipt_no", "collected_by"):
        if view.get(key):
            rows.append((key.replace("_", " "), view[key]))
    cli.show("Card application", rows, args)
    table = Table(title="Steps")
    for column in ("#", "step", "state", "when", "by"):
        table.add_column(column)
    for step in view["steps"]:
        table.add_row(
            str(step["step"]), step["label"], step["state"], _local(step["at"]), step["by"] or ""
        )
    cli.console.print(table)


def _local(moment: str | None) -> str:
    """An ISO time as the card centre's local ``YYYY-MM-DD HH:MM`` (UTC+08:00)."""
    if not moment:
        return ""
    return datetime.fromisoformat(moment).astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


def _post(client: SettlementClient, path: str, body: dict | None = None) -> dict:
    return client.request("POST", path, json=body or {})


def _step(client: SettlementClient, application_id: str, name: str, body: dict | None = None):
    return _post(client, f"/v1/applications/{application_id}/{name}", body)


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


def _psam_role(args: argparse.Namespace, role: Role) -> Psam:
    psam = cli._psam(args)
    if psam.role is not role:
        raise cli.UsageError(
            f"this step needs a {role.value} PSAM; {args.psam} is {psam.describe()}"
        )
    return psam


# --- commands ------------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace) -> int:
    password = (
        _secret(args, "query password for the progress query: ") if args.query_password else None
    )
    view = _post(cli._client(args), "/v1/applications", _application_body(args, password))
    _show_application(view, args)
    return cli.EXIT_OK


def read_applicants(path: str) -> list[dict[str, Any]]:
    """Employees from JSON (a list of application bodies) or CSV with the same column names."""
    try:
        # utf-8-sig: a roster saved by a spreadsheet starts with a byte-order mark.
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise cli.UsageError(f"cannot read the roster {path}: {exc}") from exc
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise cli.UsageError(f"{path}: not valid JSON ({exc})") from exc
    else:
        rows = list(csv.DictReader(text.splitlines()))
    out = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise cli.UsageError(f"{path}: applicant {number} is not an object with named fields")
        if None in row:
            raise cli.UsageError(f"{path}: row {number} has more fields than the header")
        item = {k: v for k, v in row.items() if v not in (None, "")}
        if "photo_taken" in item and isinstance(item["photo_taken"], str):
            item["photo_taken"] = item["photo_taken"].strip().lower() in ("1", "true", "yes", "y")
        out.append(item)
    if not out:
        raise cli.UsageError(f"{path}: no applicants")
    return out


def cmd_batch_apply(args: argparse.Namespace) -> int:
    applicants = read_applicants(args.file)
    answer = _post(
        cli._client(args),
        "/v1/application-batches",
        {
            "employer_code": args.employer,
            "employer_name": args.employer_name or "",
            "applications": applicants,
        },
    )
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        cli.show(
            "Batch accepted",
            [
                ("batch", answer["batch_id"]),
                ("employer", answer["employer_code"]),
                ("applications", answer["count"]),
                ("due (30 working days)", answer["due_on"]),
            ],
            args,
        )
    return cli.EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    view = cli._client(args).request("GET", f"/v1/applications/{args.application_id}")
    _show_application(view, args)
    return cli.EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    params = {
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
    answer = cli._client(args).request("GET", "/v1/applications", params=params)
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return cli.EXIT_OK
    table = Table(title=f"{answer['count']} applications")
    for column in ("application", "kind", "name", "status", "next", "reason", "card", "due"):
        table.add_column(column, no_wrap=column in ("application", "due", "card"))
    for a in answer["applications"]:
        table.add_row(
            a["application_id"],
            a["kind"],
            a["psn_name"],
            a["status"],
            STEP_NAMES.get(a["next_step"], "-") if a["next_step"] else "-",
            a["reason"] or "",
            a["card_no"] or "",
            a["due_on"] + (" LATE" if a["late"] else ""),
        )
    cli.console.print(table)
    if answer.get("truncated"):
        cli.console.print(
            f"only the first {answer['count']}: narrow the filters (batch, status, next step)"
        )
    return cli.EXIT_OK


def _simple(name: str):
    def command(args: argparse.Namespace) -> int:
        view = _step(cli._client(args), args.application_id, name)
        _show_application(view, args)
        return cli.EXIT_OK if view["status"] != "returned" else cli.EXIT_REFUSED

    return command


def cmd_personalise(args: argparse.Namespace) -> int:
    psam = _psam_role(args, Role.CARD_CENTRE)
    medical = Psam.load(args.medical_psam) if args.medical_psam else None
    with cli.open_reader_by_name(args.reader) as reader:
        view = personalise(cli._client(args), psam, reader, args.application_id, medical)
    _show_application(view, args)
    return cli.EXIT_OK


def cmd_open_account(args: argparse.Namespace) -> int:
    psam = _psam_role(args, Role.BANK)
    bank_pin = _secret(args, "new bank PIN (chosen by the holder): ")
    with cli.open_reader_by_name(args.reader) as reader:
        view = open_account(cli._client(args), psam, reader, args.application_id, bank_pin)
    _show_application(view, args)
    return cli.EXIT_OK


def _collected_at(text: str) -> str:
    """``--collected-at``: an ISO date-time; without an offset it is the card centre's time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date and time like 2026-11-20T15:30 (+08:00 if no offset)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TIME)
    return moment.isoformat()


def cmd_issue(args: argparse.Namespace) -> int:
    body = {"collected_by": args.collected_by}
    if args.collected_at:
        body["collected_at"] = args.collected_at
    view = _step(cli._client(args), args.application_id, "issuance", body)
    _show_application(view, args)
    return cli.EXIT_OK


def cmd_reject(args: argparse.Namespace) -> int:
    view = _step(
        cli._client(args),
        args.application_id,
        "rejections",
        {"step": args.step, "reason": args.reason, "detail": args.detail or ""},
    )
    _show_application(view, args)
    return cli.EXIT_OK


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
    view = _step(cli._client(args), args.application_id, "corrections", body)
    _show_application(view, args)
    return cli.EXIT_OK


def cmd_report_loss(args: argparse.Namespace) -> int:
    answer = _post(
        cli._client(args), "/v1/card-losses", {"card_no": args.card_no, "reason": args.reason or ""}
    )
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return cli.EXIT_OK
    replacement = answer["replacement_application"]
    cli.show(
        "Card reported lost",
        [
            ("card", f"{answer['card_no']} — blocked for settlement"),
            ("replacement receipt", answer["replacement_receipt_no"]),
            ("replacement application", replacement["application_id"]),
            ("due", replacement["deadline"]["due_on"]),
        ],
        args,
    )
    return cli.EXIT_OK


def cmd_progress(args: argparse.Namespace) -> int:
    password = _secret(args, "query password: ")
    try:
        answer = _post(
            cli._client(args),
            "/v1/card-progress",
            {"certno": args.certno, "query_password": password},
        )
    except ServiceUnavailable as exc:
        # A locked query (429 too_many_attempts) is a refusal with its wait, not an outage.
        if isinstance(exc.__cause__, ServiceRefused) and exc.__cause__.status == 429:
            raise exc.__cause__ from None
        raise
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return cli.EXIT_OK
    for view in answer["applications"]:
        _show_application(view, args)
    if not answer["applications"]:
        cli.console.print("no card applications for this SSN")
    return cli.EXIT_OK


# --- batch mode ----------------------------------------------------------------------------


def _is_blank(path: Path) -> bool:
    """A card image with nothing written yet (the chip maker's delivery), whatever its name."""
    from card.image import CardImage, CardImageError

    try:
        image = CardImage.load(path)
    except (CardImageError, OSError, ValueError):
        return False  # not a card image: left alone
    return not any(
        value for name in ("EF05", "EF06") for value in image.records.get(name, {}).values()
    )


def _tray_blanks(tray: Path) -> list[Path]:
    """The blank cards in the tray, oldest name first; written cards are ``<card_no>.json``."""
    return sorted(p for p in tray.glob("*.json") if _is_blank(p))


def cmd_batch(args: argparse.Namespace) -> int:
    """Every step this institution may do, for every application of the batch."""
    from card.icc import VirtualCard
    from terminal.readers.inprocess import InProcessReader

    client = cli._client(args)
    psam = cli._psam(args)
    tray = Path(args.cards)
    if not tray.is_dir():
        raise cli.UsageError(f"--cards {tray}: not a directory (the card tray)")
    # A batch holds up to 2000 applications: ask for all of them (the list's default is 500).
    listing = client.request(
        "GET", "/v1/applications", params={"batch_id": args.batch_id, "limit": 5000}
    )
    ids = [a["application_id"] for a in listing["applications"]]
    if not ids:
        raise cli.UsageError(f"batch {args.batch_id} has no applications (or not yours to see)")
    bank_pin = (
        _secret(args, "initial bank PIN for the batch's cards: ")
        if psam.role is Role.BANK
        else None
    )
    outcome: dict[str, str] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=cli.err, disable=args.json) as progress:
        task = progress.add_task(f"batch {args.batch_id}", total=len(ids))
        for application_id in ids:
            try:
                outcome[application_id] = _advance(
                    client, psam, tray, application_id, args, bank_pin, VirtualCard, InProcessReader
                )
            except (ProductionError, ServiceRefused) as exc:
                outcome[application_id] = f"failed: {exc}"
            progress.advance(task)
    summary: dict[str, int] = {}
    for text in outcome.values():
        key = text.split(":")[0]
        summary[key] = summary.get(key, 0) + 1
    if args.json:
        print(
            json.dumps(
                {"batch_id": args.batch_id, "applications": outcome, "summary": summary},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        table = Table(title=f"batch {args.batch_id}")
        table.add_column("application")
        table.add_column("outcome")
        for application_id, text in outcome.items():
            table.add_row(application_id, text)
        cli.console.print(table)
        cli.console.print(", ".join(f"{k}: {v}" for k, v in sorted(summary.items())))
    return cli.EXIT_OK if not summary.get("failed") else cli.EXIT_REFUSED


def _advance(client, psam, tray, application_id, args, bank_pin, VirtualCard, InProcessReader):
    """Move one application as far as this institution can; a short outcome text."""
    centre = psam.role is Role.CARD_CENTRE
    for _ in range(7):
        view = client.request("GET", f"/v1/applications/{application_id}")
        if view["status"] == "issued":
            return f"issued: card {view['card_no']}"
        if view["status"] == "returned":
            r = view["returned"]
            return f"returned: step {r['step']} {r['reason']}"
        if view["status"] != "in_progress":
            return view["status"]
        step = view["next_step"]["step"]
        if centre and step == 2:
            _step(client, application_id, "audit")
        elif centre and step == 4:
            _step(client, application_id, "pre-check")
        elif centre and step == 5:
            blanks = _tray_blanks(tray)
            if not blanks:
                return "waiting: no blank cards left in the tray"
            blank = blanks[0]
            view = personalise(
                client, psam, InProcessReader(VirtualCard.open(blank)), application_id
            )
            blank.rename(tray / f"{view['card_no']}.json")
        elif centre and step == 7:
            _step(client, application_id, "issuance", {"collected_by": args.collected_by})
        elif not centre and step == 3:
            _step(client, application_id, "comparison")
        elif not centre and step == 6:
            card = tray / f"{view['card_no']}.json"
            if not card.exists():
                return f"waiting: card {view['card_no']} not in the tray"
            open_account(
                client, psam, InProcessReader(VirtualCard.open(card)), application_id, bank_pin
            )
        else:
            other = "the bank" if centre else "the card centre"
            return f"waiting: step {step} ({STEP_NAMES[step]}) is for {other}"
    return "in progress"


# --- parser --------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``production`` and its subcommands to ``python -m terminal``."""
    production = sub.add_parser(
        "production",
        help="card production: applications, steps 1-7, loss and replacement (card centre, bank)",
    )
    psub = production.add_subparsers(dest="production_command", required=True, metavar="STEP")

    apply_p = psub.add_parser("apply", help="step 1: a single application (card centre)")
    apply_p.add_argument("--certno", required=True, help="citizen ID number (the SSN)")
    apply_p.add_argument("--name", required=True)
    apply_p.add_argument("--sex", required=True, choices=["1", "2"])
    apply_p.add_argument("--birth", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    apply_p.add_argument("--nation", default="01", help="ethnic group code (default 01)")
    apply_p.add_argument("--birthplace", required=True, help="6-digit region code")
    apply_p.add_argument("--region", default="430100", help="insured region (default 430100)")
    apply_p.add_argument("--insutype", default="310", choices=["310", "390"])
    apply_p.add_argument("--bank", default="102", help="partner bank code (default 102)")
    apply_p.add_argument("--hukou-no", help="household register number")
    apply_p.add_argument(
        "--no-id-card", action="store_true", help="apply with the household register"
    )
    apply_p.add_argument("--no-photo", action="store_true", help="photo not taken yet")
    apply_p.add_argument(
        "--query-password",
        action="store_true",
        help="ask the applicant for a query password (prompt / --pin-stdin)",
    )
    apply_p.set_defaults(func=cmd_apply)

    batch_apply = psub.add_parser("batch-apply", help="step 1 for an employer's batch (CSV/JSON)")
    batch_apply.add_argument("file", help="applicants: JSON list or CSV with the API's field names")
    batch_apply.add_argument("--employer", required=True, help="employer code")
    batch_apply.add_argument("--employer-name")
    batch_apply.set_defaults(func=cmd_batch_apply)

    show_p = psub.add_parser("show", help="one application with every step")
    show_p.add_argument("application_id")
    show_p.set_defaults(func=cmd_show)

    list_p = psub.add_parser("list", help="applications by batch, employer, status, next step")
    list_p.add_argument("--batch")
    list_p.add_argument("--employer")
    list_p.add_argument("--status", choices=["in_progress", "returned", "issued", "withdrawn"])
    list_p.add_argument("--next-step", type=int, choices=range(1, 8))
    list_p.add_argument("--certno")
    list_p.set_defaults(func=cmd_list)

    for name, path, text in (
        ("audit", "audit", "step 2: data entry and audit (card centre)"),
        ("compare", "comparison", "step 3: police register + bank (bank)"),
        ("pre-check", "pre-check", "step 4: pre-check against the card base"),
        ("withdraw", "withdrawal", "withdraw the application"),
    ):
        p = psub.add_parser(name, help=text)
        p.add_argument("application_id")
        p.set_defaults(func=_simple(path))

    perso = psub.add_parser("personalise", help="step 5: write the blank card in --reader")
    perso.add_argument("application_id")
    perso.add_argument("--medical-psam", help="a PSAM with key 07 to read DF04 back too")
    perso.set_defaults(func=cmd_personalise)

    bank = psub.add_parser("open-account", help="step 6: open the account, write the bank app")
    bank.add_argument("application_id")
    bank.set_defaults(func=cmd_open_account)

    issue = psub.add_parser("issue", help="step 7: issuance registration (card collected)")
    issue.add_argument("application_id")
    issue.add_argument("--collected-by", required=True, help="who collected the card")
    issue.add_argument(
        "--collected-at",
        type=_collected_at,
        help="when it was collected, if not now (e.g. 2026-11-20T15:30; local time +08:00)",
    )
    issue.set_defaults(func=cmd_issue)

    reject = psub.add_parser("reject", help="record a rejection with its reason")
    reject.add_argument("application_id")
    reject.add_argument("--step", type=int, required=True, choices=range(2, 7))
    reject.add_argument(
        "--reason", required=True, help="e.g. missing_photo, personalisation_failed"
    )
    reject.add_argument("--detail")
    reject.set_defaults(func=cmd_reject)

    correct = psub.add_parser("correct", help="the applicant's correction; resumes the flow")
    correct.add_argument("application_id")
    for opt in CORRECTION_FIELDS:
        correct.add_argument(f"--{opt.replace('_', '-')}", dest=opt)
    correct.add_argument("--photo-taken", action="store_true")
    correct.add_argument("--note")
    correct.set_defaults(func=cmd_correct)

    loss = psub.add_parser("report-loss", help="loss at the issuing bank: block, receipt, replace")
    loss.add_argument("card_no")
    loss.add_argument("--reason")
    loss.set_defaults(func=cmd_report_loss)

    prog = psub.add_parser("progress", help="制卡进度查询: SSN + query password")
    prog.add_argument("--certno", required=True)
    prog.set_defaults(func=cmd_progress)

    batch = psub.add_parser("batch", help="batch mode: every step this institution may do")
    batch.add_argument("batch_id")
    batch.add_argument("--cards", required=True, help="the card tray directory")
    batch.add_argument(
        "--collected-by", default="employer's agent", help="who collects the batch's cards (step 7)"
    )
    batch.set_defaults(func=cmd_batch)
