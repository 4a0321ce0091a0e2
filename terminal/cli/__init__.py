"""The terminal's command line (``python -m terminal``): one subcommand per flow,
readable tables, stable exit codes.

Each counter's commands live in their own module and register their own
subcommands: :mod:`~terminal.cli.cards` (PSAMs, readers, reading a card, loss,
holder data), :mod:`~terminal.cli.desk` (the hospital's inpatient desk),
:mod:`~terminal.cli.pins` (PINs and the query password),
:mod:`~terminal.cli.production` and :mod:`~terminal.cli.batch` (card
production), :mod:`~terminal.cli.contributions` (the enrolment office and the
payment channels). :mod:`~terminal.cli.common` holds what they share: configuration
(options or environment, see there), the reader, the PSAM, the service
clients, output and the exit codes. This module assembles the parser and maps
every failure to its exit code.
"""

from __future__ import annotations

import argparse
import os
import sys

from terminal import apdu
from terminal.cardinfo import CardDataError
from terminal.cli import (
    batch,
    cards,
    contributions,
    desk,
    first_desk,
    pins,
    production,
    readerlib,
    report,
)
from terminal.cli.common import (
    EXIT_CARD,
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    EXIT_NOT_ENTITLED,
    EXIT_OK,
    EXIT_PIN,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    UsageError,
    err,
)
from terminal.client.http import ServiceRefused, ServiceUnavailable
from terminal.flows.common import CardRefused
from terminal.flows.desk import DeskError
from terminal.flows.first_desk import RegistrationRefused
from terminal.i18n import LANGUAGES, _, language_from_argv, ngettext, problem_title, use
from terminal.psam import CardNotGenuine, NotEntitled, PsamError
from terminal.session import PinBlocked, WrongPin

#: The exit codes are part of this package's interface (scripts and tests read them here).
__all__ = [
    "EXIT_CARD",
    "EXIT_INTERNAL",
    "EXIT_NOT_ENTITLED",
    "EXIT_OK",
    "EXIT_PIN",
    "EXIT_REFUSED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    """The global options, then every counter's subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m terminal",
        description=_(
            "Social security card terminal: registration desk, bank branch, card centre."
        ),
        epilog=_(EXIT_CODES_HELP) + "\n" + demo_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = os.environ.get
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=env("SSCARD_LANG", "zh_CN"),
        help=_("language of the counter: zh_CN (default) or en; or SSCARD_LANG"),
    )
    parser.add_argument("--service", default=env("SSCARD_SERVICE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=env("SSCARD_API_KEY"))
    parser.add_argument("--psam", default=env("SSCARD_PSAM"), help=_("this terminal's PSAM image"))
    parser.add_argument(
        "--reader",
        default=env("SSCARD_READER"),
        help=_("card image path (in-process) or PC/SC reader name/fragment/index"),
    )
    parser.add_argument("--pin-stdin", action="store_true", help=_("read PINs from stdin lines"))
    parser.add_argument("--json", action="store_true", help=_("print JSON instead of tables"))
    parser.add_argument(
        "--trace", action="store_true", help=_("print each APDU on stderr (PINs masked)")
    )
    parser.add_argument("--timeout", type=float, default=10.0, help=_("service timeout, seconds"))
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help=_("wait this long for a card")
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cards.register_psam(sub)
    desk.register(sub)
    report.register(sub)
    pins.register(sub)
    cards.register_card_services(sub)
    first_desk.register(sub)
    contributions.register(sub)
    batch.register(production.register(sub))
    readerlib.register(sub)
    return parser


def demo_help() -> str:
    """The test cards' PINs, where a new clerk looks first (``--help``)."""
    return _(
        "test cards:\n"
        "  the demo world (python -m settlement demo-setup) gives every card the social\n"
        "  security PIN 123456 and lists each card's bank PIN; python -m card new makes\n"
        "  cards with both PINs 123456 unless --ssse-pin / --bank-pin say otherwise.\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code says how it ended (``EXIT_CODES_HELP``)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        use(language_from_argv(argv))
    except ValueError as exc:
        err.print(f"[red]usage:[/] {exc}")
        return EXIT_USAGE
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # every failure has its exit code, see _failure
        code = _failure(exc)
        if code is None:
            raise
        return code
    except KeyboardInterrupt:
        err.print(_("[red]interrupted:[/] nothing more was sent"))
        return 130


def pin_message(exc: WrongPin | PinBlocked) -> str:
    """A refused PIN in words: the tries left, or blocked and where to go."""
    if isinstance(exc, WrongPin) and exc.tries_left:
        n = exc.tries_left
        return ngettext("wrong PIN: {n} try left", "wrong PIN: {n} tries left", n).format(n=n)
    if isinstance(exc, WrongPin):
        return _("wrong PIN: the PIN is now blocked; the holder must go to a bank branch")
    return _("the PIN is blocked: the holder must go to a bank branch or the card centre")


def _failure(exc: Exception) -> int | None:
    """Say what went wrong in the counter's language; the exit code for it."""
    if isinstance(exc, UsageError):
        err.print(_("[red]usage:[/] {reason}").format(reason=exc))
        return EXIT_USAGE
    if isinstance(exc, NotEntitled):
        err.print(
            _("[red]not entitled:[/] {reason}. Nothing was sent to the card.").format(reason=exc)
        )
        return EXIT_NOT_ENTITLED
    if isinstance(exc, (WrongPin, PinBlocked)):
        err.print(
            _("[red]PIN:[/] {reason}. Nothing was submitted.").format(reason=pin_message(exc))
        )
        return EXIT_PIN
    if isinstance(exc, RegistrationRefused):
        err.print(_("[red]refused:[/] {reason}").format(reason=exc))
        return EXIT_REFUSED
    if isinstance(exc, CardRefused):
        err.print(_("[red]card refused ({code}):[/] {reason}").format(code=exc.code, reason=exc))
        return EXIT_REFUSED
    if isinstance(exc, ServiceRefused):
        title = problem_title(exc.code, exc.title)
        text = (
            f"{title}: {exc.detail}" if exc.detail and title != exc.detail else exc.detail or title
        )
        if exc.code == "not_entitled":
            err.print(_("[red]not entitled (service):[/] {reason}").format(reason=text))
            return EXIT_NOT_ENTITLED
        err.print(
            _("[red]refused by the service ({code}):[/] {reason}").format(
                code=exc.code, reason=text
            )
        )
        return EXIT_REFUSED
    if isinstance(exc, ServiceUnavailable):
        err.print(_("[red]service unavailable:[/] {reason}").format(reason=exc))
        return EXIT_UNAVAILABLE
    if isinstance(exc, (apdu.CardStatusError, CardDataError, CardNotGenuine)):
        err.print(_("[red]card:[/] {reason}").format(reason=exc))
        return EXIT_CARD
    if isinstance(exc, DeskError):
        err.print(_("[red]desk:[/] {reason}").format(reason=exc))
        return EXIT_USAGE
    if isinstance(exc, (PsamError, ValueError)):
        label = "PSAM" if isinstance(exc, PsamError) else _("usage")
        err.print(f"[red]{label}:[/] {exc}")
        return EXIT_USAGE
    return _other_failure(exc)


def _other_failure(exc: Exception) -> int | None:
    """Image, reader and key store failures; anything else is a bug (``EXIT_INTERNAL``,
    or None under ``SSCARD_DEBUG=1``: let it through with its traceback)."""
    from card.image import CardImageError
    from card.keystore import KeyStoreError
    from terminal.readers.base import ReaderError

    if isinstance(exc, CardImageError):
        err.print(_("[red]card image:[/] {reason}").format(reason=exc))
        return EXIT_CARD
    if isinstance(exc, ReaderError):
        err.print(_("[red]reader:[/] {reason}. Nothing was submitted.").format(reason=exc))
        return EXIT_CARD
    if isinstance(exc, KeyStoreError):
        err.print(_("[red]key store:[/] {reason}").format(reason=exc))
        return EXIT_USAGE
    if os.environ.get("SSCARD_DEBUG"):
        return None
    err.print(f"[red]internal error ({type(exc).__name__}):[/] {exc} (SSCARD_DEBUG=1 shows more)")
    return EXIT_INTERNAL
