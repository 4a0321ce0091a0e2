"""The catalogue aggregate (issue 14): versions of the insurance catalogue and their entries.

Each import is a version (``catalogue_version.seq`` 1, 2, …) that adds or replaces entries by
``med_list_codg``: an entry stands until a later version loads the same code
(``superseded_by``). The hot path (fee upload) asks for the current version id (one query)
and takes the entries from a per-process cache keyed by the version id — a version's entries
never change once loaded, and a version id is random, so two databases never share one.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from settlement.rules.catalogue import CatalogueEntry
from settlement.store import sql
from settlement.store.db import as_date
from settlement.store.tables import T_CATALOGUE_ENTRY, T_CATALOGUE_VERSION

_CURRENT = sql.Sql("SELECT version_id FROM catalogue_version ORDER BY seq DESC LIMIT 1")
_ENTRY_COLUMNS = (
    "med_list_codg",
    "med_list_name",
    "chrgitm_lv",
    "med_chrgitm_type",
    "selfpay_prop_bp",
    "pric_uplmt_e6",
    "begndate",
    "enddate",
)
_CACHE: dict[str, dict[str, CatalogueEntry]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_VERSIONS = 8


def current_version(conn: Connection) -> str | None:
    """The id of the latest load, None before the first."""
    row = sql.first(conn, _CURRENT, ())
    return None if row is None else row[0]


def _standing(version_seq: int):
    """Entries standing in the version of ``version_seq``: loaded in it or earlier and not
    superseded by a load up to it."""
    e, v = T_CATALOGUE_ENTRY, T_CATALOGUE_VERSION
    loaded = sa.select(v.c.seq).where(v.c.version_id == e.c.version_id).scalar_subquery()
    superseded = sa.select(v.c.seq).where(v.c.version_id == e.c.superseded_by).scalar_subquery()
    return (
        sa.select(*(e.c[name] for name in _ENTRY_COLUMNS))
        .where(loaded <= version_seq)
        .where(sa.or_(e.c.superseded_by.is_(None), superseded > version_seq))
        .order_by(e.c.med_list_codg)
    )


def _entry(row) -> CatalogueEntry:
    codg, name, lv, kind, bp, uplmt, begn, end = row
    return CatalogueEntry(
        codg,
        name,
        lv,
        kind,
        int(bp),
        None if uplmt is None else int(uplmt),
        as_date(begn),
        as_date(end),
    )


def entries(conn: Connection, version_id: str) -> dict[str, CatalogueEntry]:
    """Every entry of a version by code; cached in memory after the first read."""
    cached = _CACHE.get(version_id)
    if cached is not None:
        return cached
    seq = conn.execute(
        sa.select(T_CATALOGUE_VERSION.c.seq).where(T_CATALOGUE_VERSION.c.version_id == version_id)
    ).scalar_one()
    loaded = {row[0]: _entry(row) for row in conn.execute(_standing(seq))}
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_VERSIONS:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[version_id] = loaded
    return loaded


def versions(conn: Connection) -> list[dict]:
    """Every load, newest first."""
    v = T_CATALOGUE_VERSION
    rows = conn.execute(sa.select(v).order_by(v.c.seq.desc()))
    return [dict(row._mapping) for row in rows]


def load(
    conn: Connection, rows: Sequence[CatalogueEntry], source: str, now: datetime
) -> tuple[str, int]:
    """A new version: ``rows`` add or replace entries by code. Returns (version id, seq)."""
    v, e = T_CATALOGUE_VERSION, T_CATALOGUE_ENTRY
    seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(v.c.seq), 0))).scalar_one()) + 1
    version_id = f"CAT{now:%Y%m%d%H%M%S}{seq:04d}{secrets.token_hex(4).upper()}"
    conn.execute(
        v.insert().values(
            version_id=version_id,
            seq=seq,
            source=source[:200],
            entry_count=len(rows),
            loaded_at=now,
        )
    )
    codes = [row.med_list_codg for row in rows]
    for start in range(0, len(codes), 500):
        conn.execute(
            e.update()
            .where(e.c.med_list_codg.in_(codes[start : start + 500]))
            .where(e.c.superseded_by.is_(None))
            .values(superseded_by=version_id)
        )
    conn.execute(
        e.insert(),
        [
            {name: getattr(row, name) for name in _ENTRY_COLUMNS} | {"version_id": version_id}
            for row in rows
        ],
    )
    return version_id, seq
