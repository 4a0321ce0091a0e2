"""``python -m settlement coverage migrate FILE``: the admin's migration of paid coverage
periods from another system in bulk (issue 20, docs/api.md §Contributions "Which call sets
paid"): the employer register's employee periods, residents' periods paid before this service.

The file is CSV, UTF-8 (with or without BOM) or GB18030, with the header
``psn_no,insutype,begndate,enddate,reason`` (``enddate`` may be empty: open-ended). Every row
goes through :func:`settlement.people.migrate_coverage` (audited ``coverage.migrate`` with its
reason); all rows or none: every bad row is reported with its line number and nothing is
recorded. A row whose paid period is recorded already (same person, scheme and days) is
skipped, so running the same file again changes nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from settlement.people import migrate_coverage
from settlement.problems import Problem
from settlement.rules.roles import ADMIN
from settlement.schemas import CoverageMigrationIn
from settlement.service import Principal
from settlement.store import people

COLUMNS = ("psn_no", "insutype", "begndate", "enddate", "reason")
ACTOR = Principal(
    key_id="cli:coverage-migrate", role=ADMIN, institution_code=None, terminal_id=None
)


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030 (what Chinese spreadsheets export)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _row_body(row: dict[str, str]) -> CoverageMigrationIn:
    fields = {k: (row.get(k) or "").strip() for k in COLUMNS}
    return CoverageMigrationIn(**{k: v for k, v in fields.items() if v or k != "enddate"})


def _recorded(conn: Connection, body: CoverageMigrationIn) -> bool:
    return any(
        p.paid and (p.insutype, p.start, p.end) == (body.insutype, body.begndate, body.enddate)
        for p in people.coverage_periods(conn, body.psn_no)
    )


def migrate_file(conn: Connection, data: bytes, source: str, now: datetime) -> dict[str, Any]:
    """Migrate every row of the file, or none (``422 migration_file_invalid`` naming each bad
    row by its line); ``{"source", "migrated", "already_recorded"}``."""
    reader = csv.DictReader(io.StringIO(decode(data)))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise Problem(
            422,
            "migration_file_invalid",
            f"{source}: the header must be {','.join(COLUMNS)}, not {reader.fieldnames}",
        )
    wrong: list[str] = []
    migrated = skipped = 0
    for row in reader:
        try:
            body = _row_body(row)
            if _recorded(conn, body):
                skipped += 1
                continue
            migrate_coverage(conn, ACTOR, body, now)
            migrated += 1
        except ValidationError as invalid:
            reasons = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()
            )
            wrong.append(f"line {reader.line_num}: {reasons}")
        except Problem as problem:
            wrong.append(f"line {reader.line_num}: {problem.detail} ({problem.code})")
    if wrong:
        raise Problem(422, "migration_file_invalid", f"{source}: " + " | ".join(wrong))
    return {"source": source, "migrated": migrated, "already_recorded": skipped}


def cmd_coverage_migrate(args: argparse.Namespace) -> int:
    from settlement.config import default_database_url
    from settlement.store.db import Database, utcnow

    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    db = Database(args.database_url or default_database_url())
    try:
        with db.write() as conn:
            result = migrate_file(conn, data, Path(args.file).name, utcnow())
    except Problem as problem:
        print(f"error: {problem.detail} ({problem.code}); nothing was recorded", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(
            f"{result['migrated']} paid coverage periods migrated from {result['source']} "
            f"({result['already_recorded']} recorded already)"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """``coverage migrate FILE``."""
    coverage = sub.add_parser("coverage", help="paid coverage periods (the admin's migration)")
    actions = coverage.add_subparsers(dest="coverage_command", required=True)
    p = actions.add_parser(
        "migrate",
        help="record the paid coverage periods of a CSV file (psn_no,insutype,begndate,"
        "enddate,reason) as the admin's migration, all or none",
    )
    p.add_argument("file", help="CSV: UTF-8 (with or without BOM) or GB18030")
    p.add_argument("--database-url", help="default: $SSCARD_DATABASE_URL or SQLite in $SSCARD_HOME")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_coverage_migrate)
