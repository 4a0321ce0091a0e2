"""The Alembic migrations give the same schema on SQLite and PostgreSQL, and re-running is a no-op."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from settlement.store.db import create_engine_for_cli

REPO = Path(__file__).resolve().parents[2]


def _migrate(url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "settlement", "migrate", "--database-url", url],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def _schema(url: str) -> dict[str, set[tuple[str, bool]]]:
    engine = create_engine_for_cli(url)
    inspector = sa.inspect(engine)
    schema = {
        table: {(col["name"], col["nullable"]) for col in inspector.get_columns(table)}
        for table in inspector.get_table_names()
    }
    uniques = {
        table: sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table))
        + sorted(tuple(i["column_names"]) for i in inspector.get_indexes(table) if i.get("unique"))
        for table in schema
    }
    engine.dispose()
    return schema, uniques


def test_same_schema_on_sqlite_and_postgresql(tmp_path, postgres_server):
    sqlite_url = f"sqlite:///{tmp_path / 'schema.db'}"
    pg_url = postgres_server.create_database("schema_check")
    for url in (sqlite_url, pg_url):
        _migrate(url)
        _migrate(url)  # idempotent
    sqlite_schema, sqlite_uniques = _schema(sqlite_url)
    pg_schema, pg_uniques = _schema(pg_url)
    assert sqlite_schema == pg_schema
    assert {t: sorted(set(u)) for t, u in sqlite_uniques.items()} == {
        t: sorted(set(u)) for t, u in pg_uniques.items()
    }
    assert ("active_mdtrt_id",) in sqlite_uniques["settlement"]
