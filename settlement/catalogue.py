"""The insurance catalogue (医保目录, issue 14): import a file as a new version, list what is
loaded, and the sample catalogue the demo world loads.

The file format and the CLI are harness.md "The catalogue"; the admin endpoint
(``/v1/catalogue``, docs/api.md §Catalogue) does the same over HTTP. A bad row is refused with
its line number and nothing of the file is loaded (one transaction).
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from sqlalchemy.engine import Connection

from settlement.problems import Problem
from settlement.rules.catalogue import CatalogueEntry, CatalogueError
from settlement.rules.catalogue_file import parse
from settlement.rules.policy import Policy
from settlement.store import catalogue as store
from settlement.store.db import as_utc

SAMPLE = "catalogue-sample.csv"


def entry_view(entry: CatalogueEntry) -> dict:
    """An entry as listed: the file's fields, ``selfpay_prop`` and ``pric_uplmt_amt`` exact
    decimal strings (yuan for the ceiling), plus the scaled integers."""
    ceiling = entry.pric_uplmt_e6
    return {
        "med_list_codg": entry.med_list_codg,
        "med_list_name": entry.med_list_name,
        "chrgitm_lv": entry.chrgitm_lv,
        "med_chrgitm_type": entry.med_chrgitm_type,
        "selfpay_prop": _decimal(entry.selfpay_prop_bp, 4),
        "pric_uplmt_amt": None if ceiling is None else _decimal(ceiling, 6),
        "selfpay_prop_bp": entry.selfpay_prop_bp,
        "pric_uplmt_e6": ceiling,
        "begndate": entry.begndate.isoformat() if entry.begndate else None,
        "enddate": entry.enddate.isoformat() if entry.enddate else None,
    }


def _decimal(value: int, digits: int) -> str:
    whole, part = divmod(value, 10**digits)
    text = f"{whole}.{part:0{digits}d}".rstrip("0").rstrip(".")
    return text or "0"


def import_catalogue(
    conn: Connection, data: bytes, source: str, policy: Policy, now: datetime
) -> dict:
    """Load a catalogue file as a new version (adds or replaces entries by code).

    Raises :class:`Problem` 422 ``catalogue_invalid`` naming the bad line; nothing is loaded.
    """
    try:
        rows = parse(data, policy.class_b_preselfpay_bp)
    except CatalogueError as error:
        raise Problem(422, error.code, str(error)) from None
    version_id, seq = store.load(conn, rows, source, now)
    return {"version_id": version_id, "seq": seq, "source": source, "entry_count": len(rows)}


def list_catalogue(conn: Connection) -> dict:
    """The current version, every load (newest first) and the entries standing now."""
    version = store.current_version(conn)
    entries = {} if version is None else store.entries(conn, version)
    return {
        "version_id": version,
        "versions": [
            {**row, "loaded_at": as_utc(row["loaded_at"]).isoformat()}
            for row in store.versions(conn)
        ],
        "entries": [entry_view(entries[code]) for code in sorted(entries)],
    }


def sample_catalogue() -> bytes:
    """The shipped sample catalogue (a few dozen common drugs, beds, exams and materials)."""
    return resources.files("settlement.data").joinpath(SAMPLE).read_bytes()


def load_sample_catalogue(conn: Connection, policy: Policy, now: datetime) -> dict | None:
    """Load the sample catalogue unless a catalogue is loaded already (then None): the demo
    world's catalogue, made once and reused."""
    if store.current_version(conn) is not None:
        return None
    return import_catalogue(conn, sample_catalogue(), SAMPLE, policy, now)
