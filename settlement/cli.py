"""``python -m settlement``: migrate, serve, and the admin commands (docs/api.md §CLI)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date, datetime
from pathlib import Path

from settlement.config import (
    ConfigError,
    Settings,
    default_database_url,
    publish_database_url,
    publish_setting,
)
from settlement.rules.roles import CHANNEL_KINDS, INSTITUTION_KINDS


def _db_url(args) -> str:
    return args.database_url or default_database_url()


def cmd_migrate(args) -> int:
    from settlement.migrate import upgrade

    upgrade(_db_url(args))
    print(f"database at {_redact(_db_url(args))} is at the newest schema")
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from settlement import logs, metrics_dirs
    from settlement.server import PROTOCOLS

    url = _db_url(args)
    if args.log_level:
        publish_setting("SSCARD_LOG_LEVEL", args.log_level)  # the workers read it
    settings = Settings.from_env(url)  # an invalid setting stops here, before any worker starts
    publish_database_url(url)  # the workers read it
    logs.configure(settings)
    if args.migrate:
        from settlement.migrate import upgrade

        upgrade(url)
    metrics_dir = metrics_dirs.prepare(settings, args.workers)
    logs.log_start(settings, args.host, args.port, args.workers, service_version())
    try:
        uvicorn.run(
            "settlement.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,  # settlement.logs: the same lines as the workers' (SSCARD_LOG_*)
            log_level=None,
            access_log=args.access_log,
            # Hostile clients (docs/api.md §Limits): idle keep-alive connections are closed,
            # a request head that is not complete within SSCARD_HEADER_TIMEOUT or is too
            # large is refused and its connection closed (settlement.server), headers over
            # the limit are refused before the application reads a body (the front door),
            # and connections beyond --limit-concurrency get 503 instead of memory.
            http=PROTOCOLS[args.http],
            timeout_keep_alive=args.timeout_keep_alive,
            h11_max_incomplete_event_size=settings.max_header_bytes,
            limit_concurrency=args.limit_concurrency or None,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _with_db(args, fn):
    from settlement.store.db import Database

    db = Database(_db_url(args))
    try:
        with db.write() as conn:
            return fn(conn)
    finally:
        db.dispose()


def _fail(problem) -> int:
    print(f"error: {problem.detail} ({problem.code})", file=sys.stderr)
    return 1


def cmd_bootstrap_admin(args) -> int:
    from settlement.institutions import insert_admin_key

    result = _with_db(args, lambda conn: insert_admin_key(conn, args.name))
    print(json.dumps(result) if args.json else result["api_key"])
    return 0


def cmd_create_institution(args) -> int:
    from pydantic import ValidationError

    from card.keystore import KeyStore, KeyStoreError
    from settlement.institutions import check_partner_bank, insert_institution
    from settlement.problems import Problem
    from settlement.schemas import InstitutionIn

    try:
        body = InstitutionIn(
            code=args.code,
            name=args.name or args.code,
            kind=args.kind,
            hospital_level=args.level,
            pin_service=args.pin_service,
            bank_code=args.bank_code,
            region=args.region,
        )
        if body.bank_code is not None:
            check_partner_bank(
                body.bank_code, KeyStore.load_or_create(Settings.from_env().keystore_path).banks
            )
        result = _with_db(args, lambda conn: insert_institution(conn, None, body))
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Problem as problem:
        return _fail(problem)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_create_terminal(args) -> int:
    from settlement.institutions import insert_terminal
    from settlement.problems import Problem

    try:
        result = _with_db(
            args,
            lambda conn: insert_terminal(conn, None, args.institution, args.terminal_id, args.name),
        )
    except Problem as problem:
        return _fail(problem)
    print(json.dumps(result) if args.json else result["api_key"])
    return 0


def cmd_keys(args) -> int:
    """``keys list|revoke|rotate|expire`` (docs/api.md §API keys): effective on the next
    request of every worker on this machine (the key signal is raised after the commit)."""
    from settlement import api_keys
    from settlement.key_signal import KeySignal
    from settlement.problems import Problem

    if args.action == "list":
        print(json.dumps(_with_db(args, lambda c: api_keys.list_keys(c, None, args.institution))))
        return 0
    if not args.key_id:
        print(f"error: keys {args.action} needs a KEY_ID", file=sys.stderr)
        return 2
    try:
        if args.action == "revoke":
            result = _with_db(args, lambda c: api_keys.revoke(c, None, args.key_id))
        elif args.action == "rotate":
            result = _with_db(args, lambda c: api_keys.rotate(c, None, args.key_id, args.grace))
        else:
            expires = None if args.never else _aware(args.at)
            result = _with_db(args, lambda c: api_keys.set_expiry(c, None, args.key_id, expires))
    except Problem as problem:
        return _fail(problem)
    KeySignal(Settings.from_env(_db_url(args)).key_signal).raise_signal()
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _aware(text: str | None) -> datetime:
    if not text:
        raise ConfigError("keys expire needs --at YYYY-MM-DDTHH:MM:SS+08:00 or --never")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ConfigError(f"--at {text!r} must be an ISO 8601 time with a UTC offset")
    return value


def cmd_report(args) -> int:
    from settlement import reconciliation
    from settlement.store.db import Database

    tz = Settings.from_env().tz
    day = date.fromisoformat(args.date) if args.date else datetime.now(tz).date()
    db = Database(_db_url(args))
    try:
        with db.read() as conn:
            if args.institution:
                report = reconciliation.daily_report(conn, args.institution, day, tz)
                reports = [report]
            else:
                report = reconciliation.all_reports(conn, day, tz)
                reports = report["institutions"]
            ledger = None
            if args.ledger or args.day_ledger:
                ledger = reconciliation.ledger_check(conn, None if args.ledger else day)
    finally:
        db.dispose()
    if args.json:
        if ledger is not None:
            report = {**report, "ledger": ledger}
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_reports(day, reports, ledger)
    ok = all(r["balanced"] for r in reports) and (ledger is None or ledger["ok"])
    return 0 if ok else 3


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _print_reports(day: date, reports: list[dict], ledger: dict | None) -> None:
    fields = [
        "medfee_sumamt",
        "fund_pay_sumamt",
        "psn_part_amt",
        "acct_pay",
        "psn_cash_pay",
        "fulamt_ownpay_amt",
        "preselfpay_amt",
        "inscp_scp_amt",
    ]
    print(f"Daily reconciliation {day.isoformat()} (amounts in yuan)")
    for report in reports:
        print(f"\n{report['institution']}: {'BALANCED' if report['balanced'] else 'NOT BALANCED'}")
        print(f"  {'':14}{'count':>8}" + "".join(f"{f:>20}" for f in fields))
        for label in ("settlements", "reversals", "net"):
            row = report[label]
            print(
                f"  {label:14}{row['count']:>8}" + "".join(f"{_yuan(row[f]):>20}" for f in fields)
            )
        failed = [name for name, ok in report["checks"].items() if not ok]
        if failed:
            print(f"  failed checks: {', '.join(failed)}")
    if not reports:
        print("(no hospitals)")
    if ledger is not None:
        print(f"\nledger: {'OK' if ledger['ok'] else 'PROBLEMS'}")
        for problem in ledger["problems"][:50]:
            print(f"  {problem}")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def cmd_catalogue_import(args) -> int:
    from settlement.catalogue import import_catalogue
    from settlement.problems import Problem
    from settlement.rules.policy import load_policy
    from settlement.store.db import utcnow

    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    policy = load_policy()
    source = Path(args.file).name
    try:
        result = _with_db(args, lambda conn: import_catalogue(conn, data, source, policy, utcnow()))
    except Problem as problem:
        print(f"error: {args.file}: {problem.detail} ({problem.code})", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(
            f"loaded {result['entry_count']} catalogue entries from {source} "
            f"as version {result['version_id']} (#{result['seq']})"
        )
    return 0


def cmd_catalogue_list(args) -> int:
    from settlement.catalogue import list_catalogue
    from settlement.store.db import Database

    db = Database(_db_url(args))
    try:
        with db.read() as conn:
            listing = list_catalogue(conn)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(listing, ensure_ascii=False))
        return 0
    if listing["version_id"] is None:
        print("no catalogue loaded (python -m settlement catalogue import FILE)")
        return 0
    print(f"catalogue version {listing['version_id']}: {len(listing['entries'])} entries")
    for e in listing["entries"]:
        ceiling = e["pric_uplmt_amt"] if e["pric_uplmt_amt"] is not None else "-"
        print(
            f"{e['med_list_codg']:<24} {e['chrgitm_lv']} {e['med_chrgitm_type']:<3} "
            f"{e['selfpay_prop']:>6} {ceiling:>10}  {e['med_list_name']}"
        )
    return 0


def cmd_demo_setup(args) -> int:
    from settlement.config import sscard_home
    from settlement.demo import DemoError, demo_setup, describe, desk_env

    if args.people < 1:
        print(f"error: --people {args.people}: give a number from 1 to 10000", file=sys.stderr)
        return 2
    home = Path(args.home) if args.home else sscard_home()
    try:
        world = demo_setup(home, args.people)
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.env:
        print(desk_env(world, args.env))
        return 0
    print(json.dumps(world, ensure_ascii=False) if args.json else describe(world))
    return 0


def cmd_gateway_credentials(args) -> int:
    from card.keystore import KeyStore
    from settlement.gateway.credentials import new_credentials, store_credentials
    from settlement.store import institutions
    from settlement.store.db import utcnow

    keystore = KeyStore.load_or_create(Settings.from_env().keystore_path)
    creds = new_credentials(args.institution)

    def work(conn):
        row = institutions.find(conn, args.institution)
        if row is None or row.kind not in ("hospital", "pharmacy"):
            return False
        store_credentials(conn, keystore, args.institution, creds, utcnow())
        return True

    if not _with_db(args, work):
        print(
            f"error: {args.institution} is not a registered hospital or pharmacy", file=sys.stderr
        )
        return 1
    print(json.dumps(creds) if args.json else _describe_credentials(creds))
    return 0


def _describe_credentials(creds: dict) -> str:
    return "\n".join(
        [
            f"TIF    x-tif-paasid {creds['tif']['paasid']}  secret {creds['tif']['secret']}",
            f"CSB    _api_access_key {creds['csb']['access_key']}  "
            + f"secret_key {creds['csb']['secret_key']}",
            f"apikey {creds['apikey']}",
        ]
    )


def _add_catalogue(sub) -> None:
    """``catalogue import FILE`` and ``catalogue list`` (harness.md "The catalogue")."""
    catalogue = sub.add_parser("catalogue", help="the insurance catalogue (harness.md)")
    catalogue_sub = catalogue.add_subparsers(dest="catalogue_command", required=True)
    for name, fn, help_ in (
        ("import", cmd_catalogue_import, "load a catalogue CSV file as a new version"),
        ("list", cmd_catalogue_list, "show the catalogue loaded now"),
    ):
        p = catalogue_sub.add_parser(name, help=help_)
        p.add_argument(
            "--database-url", help="default: $SSCARD_DATABASE_URL or SQLite in $SSCARD_HOME"
        )
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=fn)
        if name == "import":
            p.add_argument("file", help="CSV: UTF-8 (with or without BOM) or GB18030")


def _add_demo_commands(sub, add) -> None:
    """``gateway-credentials`` and ``demo-setup`` (harness.md, docs/gateway.md)."""
    p = add(
        "gateway-credentials",
        cmd_gateway_credentials,
        "new TIF, CSB and apikey credentials of an institution for the gateway (docs/gateway.md)",
    )
    p.add_argument("institution")
    p.add_argument("--json", action="store_true")
    _add_catalogue(sub)
    p = sub.add_parser(
        "demo-setup", help="make (or reuse) a complete demo world under --home (harness.md)"
    )
    p.add_argument("--home", help="the world's folder (default: $SSCARD_HOME)")
    p.add_argument("--people", type=int, default=5, help="insured people to make (default 5)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument(
        "--env",
        choices=("hospital", "bank_branch", "card_centre", "admin"),
        help="print only the export lines of this desk (eval them in a shell)",
    )
    p.set_defaults(func=cmd_demo_setup)


def service_version() -> str:
    """The installed sscard version and the newest migration it carries."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("sscard")
    except PackageNotFoundError:
        release = "unknown"
    migrations = Path(__file__).parent / "migrations" / "versions"
    heads = sorted(p.name.split("_", 1)[0] for p in migrations.glob("[0-9]*_*.py"))
    return f"{release} (schema {heads[-1] if heads else '?'})"


def _add_serve(p: argparse.ArgumentParser) -> None:
    """``serve``'s options (docs/operations.md)."""
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="default: $SSCARD_LOG_LEVEL or info (one line per request)",
    )
    p.add_argument(
        "--access-log",
        action="store_true",
        help="also uvicorn's own access line: the raw path and query string, which can hold "
        "ID numbers (the service's own line per request has the route template only)",
    )
    p.add_argument(
        "--http",
        choices=["auto", "h11", "httptools"],
        default="auto",
        help="HTTP parser; both get the request-head deadline and size cap (settlement.server)",
    )
    p.add_argument(
        "--timeout-keep-alive", type=int, default=5, help="seconds an idle connection stays open"
    )
    p.add_argument(
        "--limit-concurrency",
        type=int,
        default=2048,
        help="connections and tasks at once before new requests get 503 (0: no limit)",
    )
    p.add_argument(
        "--no-migrate",
        dest="migrate",
        action="store_false",
        help="do not apply migrations before serving",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m settlement", description="sscard settlement service"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {service_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--database-url", help="default: $SSCARD_DATABASE_URL or SQLite in $SSCARD_HOME"
        )
        p.set_defaults(func=fn)
        return p

    add("migrate", cmd_migrate, "apply the database migrations")
    _add_serve(add("serve", cmd_serve, "run the HTTP service under uvicorn"))
    p = add("bootstrap-admin", cmd_bootstrap_admin, "create an admin API key and print it")
    p.add_argument("--name", default="admin")
    p.add_argument("--json", action="store_true")
    p = add("create-institution", cmd_create_institution, "create an institution")
    p.add_argument("code")
    p.add_argument("--kind", required=True, choices=[*INSTITUTION_KINDS, *CHANNEL_KINDS])
    p.add_argument("--name")
    p.add_argument("--level", type=int)
    p.add_argument("--pin-service", action="store_true")
    p.add_argument("--bank-code")
    p.add_argument("--region", default="430100")
    p = add("create-terminal", cmd_create_terminal, "create a terminal and print its API key")
    p.add_argument("institution")
    p.add_argument("terminal_id")
    p.add_argument("--name", default="")
    p.add_argument("--json", action="store_true")
    p = add("keys", cmd_keys, "list, revoke, rotate or expire API keys")
    p.add_argument("action", choices=["list", "revoke", "rotate", "expire"])
    p.add_argument("key_id", nargs="?")
    p.add_argument("--institution", help="list: only this institution's keys")
    p.add_argument("--grace", type=int, default=0, help="rotate: seconds the old secret stays")
    p.add_argument("--at", help="expire: when, ISO 8601 with offset")
    p.add_argument("--never", action="store_true", help="expire: remove the expiry")
    _add_report_command(add("report", cmd_report, "print the daily reconciliation report"))
    _add_demo_commands(sub, add)
    from settlement import coverage_import

    coverage_import.register(sub)  # coverage migrate FILE (issue 20)
    return parser


def _add_report_command(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date")
    p.add_argument("--institution")
    p.add_argument("--json", action="store_true")
    ledger = p.add_mutually_exclusive_group()
    ledger.add_argument(
        "--ledger", action="store_true", help="also check every ceiling and account (all history)"
    )
    ledger.add_argument(
        "--day-ledger",
        action="store_true",
        help="also check the ceilings and accounts of the people the day's settlements and "
        "reversals touched (fast on a long history)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        return args.func(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        # A missing table means the schema was never applied; anything else here is the
        # database itself (unreachable, locked, wrong credentials).
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        print(
            f"error: the database at {_redact(_db_url(args))} cannot be used: {reason}. "
            "Run `python -m settlement migrate` first, or check --database-url / "
            "SSCARD_DATABASE_URL.",
            file=sys.stderr,
        )
        return 1
