"""``python -m card bench``: start the test bench (reader rig + control API) until Ctrl-C.

    python -m card bench [--readers N] [--host 127.0.0.1] [--port P] [--home DIR]
                         [--token T] [--keystore FILE] [--json]
                         [--service-url URL --service-key KEY]

Makes sure pcscd runs with N rig readers (``python -m card rig start``), serves
the control API (:mod:`rig.bench.server`) on ``host:port`` (port 0: any free
port) and prints one line — with ``--json`` one JSON object — saying where::

    {"event": "ready", "url": "http://127.0.0.1:PORT", "token": "…", "home": "…",
     "pid": …, "readers": [{"index": 0, "name": "SSCard Virtual A 00 00", "port": 29963}, …]}

The same object is written to ``<home>/bench.json`` (mode 0600).  The token is
``--token``, else ``$SSCARD_BENCH_TOKEN``, else a fresh random one.  Cards are
made with the key store ``--keystore`` (default ``<home>/keystore.json``, made on
first use; give the demo world's to make cards the service accepts).  With a
settlement service (``--service-url``, ``--service-key``: a card centre key) an
imported card may be made ``lost`` (the loss is the service's).  SIGTERM or
Ctrl-C removes every card and stops.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from card.keystore import KeyStore
from rig import conf, pcscd


def add_parser(subparsers: Any) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="the test bench for HIS vendors: readers, cards and faults over HTTP",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--readers", type=int, default=conf.DEFAULT_READERS)
    bench.add_argument("--host", default="127.0.0.1", help="listen address (keep it local)")
    bench.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    bench.add_argument("--home", help="bench folder (cards, logs); default $SSCARD_HOME/bench")
    bench.add_argument("--token", help="API token (default $SSCARD_BENCH_TOKEN or random)")
    bench.add_argument("--keystore", help="key store for new cards")
    bench.add_argument(
        "--service-url",
        default=os.environ.get("SSCARD_BENCH_SERVICE_URL"),
        help="settlement service for lost cards (default $SSCARD_BENCH_SERVICE_URL)",
    )
    bench.add_argument(
        "--service-key",
        default=os.environ.get("SSCARD_BENCH_SERVICE_KEY"),
        help="its card centre API key (default $SSCARD_BENCH_SERVICE_KEY)",
    )
    bench.add_argument("--json", action="store_true", help="print the ready line as JSON")
    bench.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started the bench ends (test fixtures)",
    )
    bench.set_defaults(func=cmd_bench)


def _home(given: str | None) -> Path:
    if given:
        return Path(given).resolve()
    base = os.environ.get("SSCARD_HOME") or str(Path.home() / ".sscard")
    return Path(base).resolve() / "bench"


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except conf.RigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from rig.bench.bench import Bench
    from rig.bench.server import serve

    if not 0 <= args.port <= 65535:
        raise conf.RigError(f"--port {args.port} is not a TCP port")
    home = _home(args.home)
    home.mkdir(parents=True, exist_ok=True)
    token = args.token or os.environ.get("SSCARD_BENCH_TOKEN") or secrets.token_urlsafe(24)
    keystore = KeyStore.load_or_create(args.keystore or home / "keystore.json")
    readers = pcscd.ensure(args.readers)[: args.readers]
    service = None
    if args.service_url:
        from terminal.client.settlement import SettlementClient

        if not args.service_key:
            raise conf.RigError("--service-url needs --service-key (a card centre API key)")
        service = SettlementClient(args.service_url, args.service_key)
    bench = Bench(home, readers, keystore, service)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: every thread's stack to stderr
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_with_parent:
        _watch_parent(stop)
    server = serve(bench, token, args.host, args.port)
    host, port = server.server_address[:2]
    ready = {
        "event": "ready",
        "url": f"http://{host}:{port}",
        "token": token,
        "home": str(home),
        "pid": os.getpid(),
        "readers": [r.to_json() for r in readers],
    }
    conf.write_atomic(home / "bench.json", json.dumps(ready, indent=2) + "\n", mode=0o600)
    if args.json:
        print(json.dumps(ready), flush=True)
    else:
        print(f"bench ready at {ready['url']} (token in {home / 'bench.json'}); Ctrl-C stops")
        for reader in readers:
            print(f"  [{reader.index}] {reader.name} (vpcd port {reader.port})", flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        bench.close()
        (home / "bench.json").unlink(missing_ok=True)
    print(json.dumps({"event": "stopped"}) if args.json else "bench stopped", flush=True)
    return 0


def _watch_parent(stop: threading.Event) -> None:
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="bench-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.bench.cli")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
