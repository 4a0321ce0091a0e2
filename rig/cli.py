"""``python -m card insert`` and ``python -m card rig``: cards in real PC/SC readers.

``card/__main__.py`` hands :func:`add_parsers` to ``card.cli.main`` to hang these
subcommands on its parser (the one place ``card`` reaches the rig);
``python -m rig.cli ...`` runs them on their own (the rig's card processes do).

    python -m card rig setup [--readers N]   write /etc/reader.conf.d/sscard-rig
    python -m card rig start [--readers N]   configure and start (or reuse) pcscd
    python -m card rig status [--json]       readers, ports, who holds which reader
    python -m card rig stop                  stop pcscd if the rig started it
    python -m card bench [--readers N] [--port P] [--json]   the test bench (rig.bench)
    python -m card insert IMAGE [--reader N | --port P] [--json]
        keeps the card in the reader until Ctrl-C / SIGTERM (= card removed);
        reconnects by itself when pcscd restarts.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from card.image import CardImageError
from card.vpcd import VpcdConnector
from rig import claims, conf, pcscd
from rig.bench import cli as bench_cli


def add_parsers(subparsers: Any) -> None:
    """Add ``insert`` and ``rig`` to an ``argparse`` subparsers object."""
    insert = subparsers.add_parser(
        "insert",
        help="put a card image into a virtual PC/SC reader until Ctrl-C",
        description="Connect a card image to a vpcd reader slot (the card stays inserted "
        "until Ctrl-C or SIGTERM; it reconnects when pcscd restarts).",
    )
    insert.add_argument("image", help="card image file")
    where = insert.add_mutually_exclusive_group()
    where.add_argument(
        "--reader", help="rig reader: index (0..), port, or part of its name; default: first free"
    )
    where.add_argument("--port", type=int, help="raw vpcd port (no rig claim)")
    insert.add_argument("--host", default="127.0.0.1", help="host running pcscd's vpcd driver")
    insert.add_argument("--json", action="store_true", help="report events as JSON lines")
    insert.set_defaults(func=cmd_insert)

    rig_parser = subparsers.add_parser("rig", help="virtual readers in pcscd (reader rig)")
    rig_sub = rig_parser.add_subparsers(dest="rig_command", required=True)
    setup = rig_sub.add_parser("setup", help="write the reader.conf for N virtual readers")
    setup.add_argument("--readers", type=int, default=conf.DEFAULT_READERS)
    setup.set_defaults(func=cmd_rig_setup)
    start = rig_sub.add_parser("start", help="configure, then start or reuse pcscd")
    start.add_argument("--readers", type=int, default=conf.DEFAULT_READERS)
    start.set_defaults(func=cmd_rig_start)
    status = rig_sub.add_parser("status", help="show readers, ports and claims")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_rig_status)
    stop = rig_sub.add_parser("stop", help="stop pcscd if the rig started it and nobody uses it")
    stop.add_argument("--force", action="store_true", help="stop it even while cards are in")
    stop.set_defaults(func=cmd_rig_stop)
    bench_cli.add_parser(subparsers)


def _emit(args: argparse.Namespace, event: dict[str, object], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(event), flush=True)
    else:
        print(text, flush=True)


def _reporting_rig_errors(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Turn a :class:`rig.conf.RigError` into a one-line message and exit status 2."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except conf.RigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


@_reporting_rig_errors
def cmd_insert(args: argparse.Namespace) -> int:
    from card.icc import VirtualCard  # the card engineer's in-process card

    card = VirtualCard.open(args.image)
    hold = claims.hold_image(args.image)  # one card, one reader
    held: claims.ReaderClaim | None = None
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise conf.RigError(f"--port {args.port} is not a TCP port (1..65535)")
        reader = conf.RigReader(-1, f"vpcd port {args.port}", args.port)
        rigged = conf.reader_on_port(args.port)
        if rigged is not None:  # a rig reader: claim it like --reader (refused when taken)
            held = claims.claim(rigged.index)
            reader = rigged
    else:
        held = claims.claim(args.reader)
        reader = held.reader
    use = claims.RigUse()  # pcscd is in use while this card is in a reader
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    connector = VpcdConnector(card, port=reader.port, host=args.host)
    gc.freeze()  # the loaded card and modules never become garbage: keep them out of GC passes
    connector.start()
    announced = False
    connections = 0
    waiting_since = time.monotonic()
    try:
        while not stop.wait(0.01 if not announced else 0.2):
            if not announced and waiting_since and time.monotonic() - waiting_since > 2.0:
                waiting_since = 0.0
                print(
                    f"waiting for pcscd's vpcd reader on {args.host}:{reader.port} "
                    "(is pcscd running with the rig? `python -m card rig start`)",
                    file=sys.stderr,
                    flush=True,
                )
            if connector.served and connector.connections != connections:
                connections = connector.connections
                if not announced:
                    announced = True
                    _emit(
                        args,
                        {"event": "inserted", **reader.to_json(), "atr": card.atr.hex().upper()},
                        f"card inserted in {reader.name} (port {reader.port}); Ctrl-C removes it",
                    )
                else:
                    _emit(
                        args,
                        {"event": "reconnected", **reader.to_json()},
                        f"pcscd came back; card re-inserted in {reader.name}",
                    )
    finally:
        connector.stop()
        if held is not None:
            held.release()
        use.release()
        hold.release()
    if connector.connections == 0:
        print(
            f"error: the card never got into {reader.name}: nothing served the vpcd port "
            f"{args.host}:{reader.port} (start pcscd with `python -m card rig start`)",
            file=sys.stderr,
        )
        return 1
    _emit(args, {"event": "removed", **reader.to_json()}, f"card removed from {reader.name}")
    return 0


def _print_status(as_json: bool) -> None:
    state = pcscd.status()
    if as_json:
        print(json.dumps(state, indent=2))
        return
    print(f"config: {state['config']} ({state['configured_readers']} readers)")
    pid = state["pcscd_pid"]
    if pid is None:
        print("pcscd: not running (python -m card rig start)")
    else:
        owner = "started by the rig" if state["pcscd_started_by_rig"] else "not the rig's"
        print(f"pcscd: pid {pid} ({owner})")
    for reader in state["readers"]:  # type: ignore[attr-defined]
        holder = reader["claimed_by_pid"]
        held = f"card held by pid {holder}" if holder else "free"
        print(f"  [{reader['index']}] {reader['name']:<26} port {reader['port']}  {held}")


@_reporting_rig_errors
def cmd_rig_setup(args: argparse.Namespace) -> int:
    changed = pcscd.configure(args.readers)
    if changed and pcscd.pcscd_running():
        if pcscd.rig_pcscd_pid() is not None:
            pcscd.restart_pcscd()
            print("configuration changed; restarted the rig's pcscd")
            pcscd.check_listed(conf.readers(args.readers))
        else:
            print(
                "configuration changed, but pcscd was not started by the rig: restart it to "
                "load it (`sudo systemctl restart pcscd`, or kill it and run "
                "`python -m card rig start`)",
                file=sys.stderr,
            )
    _print_status(False)
    return 0


@_reporting_rig_errors
def cmd_rig_start(args: argparse.Namespace) -> int:
    pcscd.ensure(args.readers)
    _print_status(False)
    return 0


@_reporting_rig_errors
def cmd_rig_status(args: argparse.Namespace) -> int:
    _print_status(args.json)
    return 0


@_reporting_rig_errors
def cmd_rig_stop(args: argparse.Namespace) -> int:
    if pcscd.stop_pcscd(force=args.force):
        print("stopped the rig's pcscd")
    elif pcscd.rig_pcscd_pid() is not None:
        print(
            "the rig's pcscd is in use (cards in readers or test sessions); left running. "
            "`python -m card rig stop --force` stops it anyway",
            file=sys.stderr,
        )
    elif pcscd.pcscd_running():
        print("pcscd was not started by the rig; left running", file=sys.stderr)
    else:
        print("pcscd is not running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.cli", description=__doc__)
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CardImageError as exc:  # as `python -m card` reports it
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


def card_entry() -> int:
    """The ``sscard-card`` console script: ``python -m card`` with the rig's subcommands."""
    from card.cli import main

    return main(extensions=[add_parsers])
