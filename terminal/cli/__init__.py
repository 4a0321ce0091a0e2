"""The terminal's command line (``python -m terminal``): one subcommand per flow,
readable tables, stable exit codes.

Each counter's commands live in their own module and register their own
subcommands: :mod:`~terminal.cli.cards` (PSAMs, readers, reading a card, loss,
holder data), :mod:`~terminal.cli.desk` (the hospital's inpatient desk),
:mod:`~terminal.cli.pins` (PINs and the query password),
:mod:`~terminal.cli.production` and :mod:`~terminal.cli.batch` (card
production). :mod:`~terminal.cli.common` holds what they share: configuration
(options or environment, see there), the reader, the PSAM, the service
clients, output and the exit codes. This module assembles the parser and maps
every failure to its exit code.
"""

from __future__ import annotations

import argparse
import os

from terminal import apdu
from terminal.cardinfo import CardDataError
from terminal.cli import batch, cards, desk, pins, production, readerlib
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
    cards.register_psam(sub)
    desk.register(sub)
    pins.register(sub)
    cards.register_card_services(sub)
    batch.register(production.register(sub))
    readerlib.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code says how it ended (``EXIT_CODES_HELP``)."""
    args = build_parser().parse_args(argv)
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
    except DeskError as exc:
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
        code = _other_failure(exc)
        if code is None:
            raise
        return code


def _other_failure(exc: Exception) -> int | None:
    """Image, reader and key store failures; anything else is a bug (``EXIT_INTERNAL``,
    or None under ``SSCARD_DEBUG=1``: let it through with its traceback)."""
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
        return None
    err.print(f"[red]internal error ({type(exc).__name__}):[/] {exc} (SSCARD_DEBUG=1 shows more)")
    return EXIT_INTERNAL
