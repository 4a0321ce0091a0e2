"""``python -m terminal production batch``: a whole employer's batch (单位批量), with a
progress bar.

``batch`` does, for every application of the batch, every step *this
terminal's institution* may do (card centre: audit, pre-check,
personalisation, issuance; bank: comparison, account opening) and reports
what waits for the other institution or for the applicant. The card tray
``--cards`` holds the chip maker's blank card images (``python -m card new
--blank``); a personalised card is moved to ``TRAY/<card_no>.json`` for the
bank, like the physical card going from the centre to the branch::

    python -m terminal production batch-apply employees.csv --employer E9143...
    python -m terminal production batch BT2026... --cards TRAY/   # run as each institution
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from terminal.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    UsageError,
    console,
    err,
    load_psam,
    open_applications,
    secret,
)
from terminal.cli.production import STEP_NAMES
from terminal.client.applications import ApplicationsClient
from terminal.client.http import ServiceRefused
from terminal.i18n import _
from terminal.production import ProductionError, open_account, personalise
from terminal.psam import Psam, Role


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


def _reader_for(path: Path):
    """An in-process reader with the card image ``path`` inserted."""
    from card.icc import VirtualCard
    from terminal.readers.inprocess import InProcessReader

    return InProcessReader(VirtualCard.open(path))


@dataclass
class BatchRun:
    """One institution's pass over a batch: its client, PSAM, card tray and answers."""

    client: ApplicationsClient
    psam: Psam
    tray: Path
    collected_by: str
    bank_pin: str | None

    def advance(self, application_id: str) -> str:
        """Move one application as far as this institution can; a short outcome text."""
        centre = self.psam.role is Role.CARD_CENTRE
        for _round in range(7):
            view = self.client.application(application_id)
            if view["status"] == "issued":
                return f"issued: card {view['card_no']}"
            if view["status"] == "returned":
                r = view["returned"]
                return f"returned: step {r['step']} {r['reason']}"
            if view["status"] != "in_progress":
                return view["status"]
            step = view["next_step"]["step"]
            waiting = (
                self._centre_step(application_id, step)
                if centre
                else self._bank_step(application_id, step, view)
            )
            if waiting:
                return waiting
        return "in progress"

    def _centre_step(self, application_id: str, step: int) -> str | None:
        """Steps 2, 4, 5 and 7; what the application waits for, or None when done."""
        if step == 2:
            self.client.audit(application_id)
        elif step == 4:
            self.client.pre_check(application_id)
        elif step == 5:
            blanks = _tray_blanks(self.tray)
            if not blanks:
                return "waiting: no blank cards left in the tray"
            blank = blanks[0]
            view = personalise(self.client, self.psam, _reader_for(blank), application_id)
            blank.rename(self.tray / f"{view['card_no']}.json")
        elif step == 7:
            self.client.issue(application_id, self.collected_by)
        else:
            return f"waiting: step {step} ({STEP_NAMES[step]}) is for the bank"
        return None

    def _bank_step(self, application_id: str, step: int, view: dict) -> str | None:
        """Steps 3 and 6; what the application waits for, or None when done."""
        if step == 3:
            self.client.compare(application_id)
        elif step == 6:
            card = self.tray / f"{view['card_no']}.json"
            if not card.exists():
                return f"waiting: card {view['card_no']} not in the tray"
            open_account(self.client, self.psam, _reader_for(card), application_id, self.bank_pin)
        else:
            return f"waiting: step {step} ({STEP_NAMES[step]}) is for the card centre"
        return None


def outcome_words(text: str) -> str:
    """An application's outcome (``issued: card X``, ``waiting: ...``; English in --json)
    in the counter's language: the outcome itself and the waits this module says."""
    kind, _sep, detail = text.partition(": ")
    kinds = {
        "issued": _("issued"),
        "returned": _("returned"),
        "waiting": _("waiting"),
        "failed": _("failed"),
        "in progress": _("in progress"),
        "withdrawn": _("withdrawn"),
    }
    details = {
        "no blank cards left in the tray": _("no blank cards left in the tray"),
    }
    if detail.startswith("card ") and kind == "issued":
        detail = _("card {card_no}").format(card_no=detail.removeprefix("card "))
    elif detail.endswith(") is for the bank"):
        detail = _("step {step} is for the bank").format(step=detail.split()[1])
    elif detail.endswith(") is for the card centre"):
        detail = _("step {step} is for the card centre").format(step=detail.split()[1])
    elif detail.endswith(" not in the tray"):
        detail = _("card {card_no} not in the tray").format(card_no=detail.split()[1])
    detail = details.get(detail, detail)
    shown = kinds.get(kind, kind)
    return _("{outcome}: {detail}").format(outcome=shown, detail=detail) if detail else shown


def _run_with_progress(run: BatchRun, batch_id: str, ids: list[str], quiet: bool) -> dict:
    outcome: dict[str, str] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=quiet) as progress:
        task = progress.add_task(_("batch {batch_id}").format(batch_id=batch_id), total=len(ids))
        for application_id in ids:
            try:
                outcome[application_id] = run.advance(application_id)
            except (ProductionError, ServiceRefused) as exc:
                outcome[application_id] = f"failed: {exc}"
            progress.advance(task)
    return outcome


def cmd_batch(args: argparse.Namespace) -> int:
    """Every step this institution may do, for every application of the batch."""
    with open_applications(args) as client:
        psam = load_psam(args)
        tray = Path(args.cards)
        if not tray.is_dir():
            raise UsageError(_("--cards {tray}: not a directory (the card tray)").format(tray=tray))
        # A batch holds up to 2000 applications: ask for all of them (the list's default is 500).
        listing = client.applications(batch_id=args.batch_id, limit=5000)
        ids = [a["application_id"] for a in listing["applications"]]
        if not ids:
            raise UsageError(
                _("batch {batch_id} has no applications (or not yours to see)").format(
                    batch_id=args.batch_id
                )
            )
        bank_pin = (
            secret(args, _("initial bank PIN for the batch's cards: "))
            if psam.role is Role.BANK_BRANCH
            else None
        )
        run = BatchRun(client, psam, tray, args.collected_by, bank_pin)
        outcome = _run_with_progress(run, args.batch_id, ids, args.json)
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
        table = Table(title=_("batch {batch_id}").format(batch_id=args.batch_id))
        table.add_column(_("application"))
        table.add_column(_("outcome"))
        for application_id, text in outcome.items():
            table.add_row(application_id, outcome_words(text))
        console.print(table)
        console.print(
            _(", ").join(
                _("{outcome}: {n}").format(outcome=outcome_words(k), n=v)
                for k, v in sorted(summary.items())
            )
        )
    return EXIT_OK if not summary.get("failed") else EXIT_REFUSED


def register(psub: argparse._SubParsersAction) -> None:
    """``production batch`` (``psub``: the production subcommands)."""
    batch = psub.add_parser("batch", help=_("batch mode: every step this institution may do"))
    batch.add_argument("batch_id")
    batch.add_argument("--cards", required=True, help=_("the card tray directory"))
    batch.add_argument(
        "--collected-by",
        default="employer's agent",
        help=_("who collects the batch's cards (step 7)"),
    )
    batch.set_defaults(func=cmd_batch)
