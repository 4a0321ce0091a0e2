"""All SQL of the service lives in settlement/store/ (issue #11): one store per aggregate.

Outside ``settlement/store/`` (and the Alembic migrations) a module may name a connection
or a row type (``sqlalchemy.engine``) and catch a database error (``sqlalchemy.exc``), but it
builds no statement: no other part of SQLAlchemy, no hand-written SQL
(``settlement.store.sql``) and no table (``settlement.store.tables``,
``settlement.store.application_tables``). Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTLEMENT = ROOT / "settlement"
ALLOWED_SQLALCHEMY = ("sqlalchemy.engine", "sqlalchemy.exc")
STORE_INTERNALS = (
    "settlement.store.sql",
    "settlement.store.tables",
    "settlement.store.application_tables",
)


def _outside_the_stores() -> list[Path]:
    return [
        path
        for path in sorted(SETTLEMENT.rglob("*.py"))
        if not {"store", "migrations", "__pycache__"} & set(path.relative_to(SETTLEMENT).parts)
    ]


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _breaks(name: str) -> bool:
    if name == "sqlalchemy" or name.startswith("sqlalchemy."):
        return not name.startswith(ALLOWED_SQLALCHEMY)
    return name in STORE_INTERNALS


def test_no_sql_outside_the_stores():
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _outside_the_stores()
        for name in _imports(ast.parse(path.read_text()))
        if _breaks(name)
    ]
    assert found == []


def test_the_check_sees_a_break():
    tree = ast.parse(
        "import sqlalchemy as sa\nfrom settlement.store import sql\n"
        "def f():\n    from settlement.store.tables import T_CARD\n"
        "from sqlalchemy.engine import Connection\n"
    )
    assert [name for name in _imports(tree) if _breaks(name)] == [
        "sqlalchemy",
        "settlement.store.sql",
        "settlement.store.tables",
    ]
    assert len(_outside_the_stores()) > 20
