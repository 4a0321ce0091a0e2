"""A cache of loaded histories (issue #19): load N settled stays once, run on a copy next time.

Loading 500 000 stays takes 20–30 minutes (``benchmarks/history.py``); the measurements on
them take a few. ``--history-cache DIR`` (``history.py``, ``settlement_load.py``) keeps, per
database and size, what one load made::

    DIR/sqlite-500000/history.db          the loaded SQLite file (…-50000-37d: over 37 days)
    DIR/postgresql-500000/data/           the stopped PostgreSQL cluster (database "history")
    DIR/<either>/keystore.json            the key store it was made with
    DIR/<either>/marker.json              stays, people, days, the loader's version, the schema's
                                          migration head, the sample catalogue's SHA-256, and
                                          what the load measured (load_s, fee_lines, …)

and hands out a fresh copy of it, never the cached original: a SQLite file copied into the
caller's work directory, a PostgreSQL server started on a copy of the data directory
(:class:`benchmarks._pg.PostgresServer` ``data_from``). A marker that does not match what
would be loaded now (another size, another sample catalogue, a loader change:
:data:`LOADER_VERSION`) means the entry is stale: it is loaded again, not used. An entry whose
only difference is an older migration head (a migration landed since) is upgraded by the
migrations (on a copy that then replaces it), as a deployed database would be. An
entry is written under a temporary name and renamed when complete, so an interrupted load
leaves no entry that looks usable.

Without a cache directory the same calls load into a fresh database every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from benchmarks._pg import PostgresServer
from card.keystore import KeyStore
from settlement.catalogue import sample_catalogue
from settlement.migrate import alembic_config, upgrade

#: Bump when the loader writes other rows for the same N (the cache is then reloaded).
LOADER_VERSION = 1
DATABASE = "history"  # the loaded database's name inside a cached PostgreSQL cluster

#: ``load(url, stays, people, days) -> facts``: fills the fresh database at ``url``.
Loader = Callable[[str, int, int, int], dict]
YEAR = 365  # the loader's default span (entries made before ``days`` was recorded)


@dataclass
class Loaded:
    """A database with the history in it, ready to run on (a copy, or a fresh load)."""

    url: str
    keystore: Path
    facts: dict  # what the load measured; ``cached``: found in the cache (not loaded now)


def _migrations() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def marker(stays: int, people: int, days: int) -> dict:
    """What a cache entry of ``stays`` must have been made with to be used now."""
    head = _migrations().get_current_head()
    return {
        "stays": stays,
        "people": people,
        "days": days,
        "loader_version": LOADER_VERSION,
        "migration_head": head,
        "catalogue_sha256": hashlib.sha256(sample_catalogue()).hexdigest(),
    }


def _name(database: str, stays: int, days: int) -> str:
    return f"{database}-{stays}" + ("" if days == YEAR else f"-{days}d")


def _entry(cache: Path, database: str, stays: int, people: int, days: int):
    """The entry's directory, its stored facts (None when it is missing or stale) and whether
    only its migration head is stale, an ancestor of today's (then the entry is brought up to
    date by the migrations instead of a new load: :func:`_migrated`)."""
    entry = cache / _name(database, stays, days)
    try:
        stored = json.loads((entry / "marker.json").read_text())
    except (OSError, ValueError):
        return entry, None, False
    stored.setdefault("days", YEAR)
    wanted = marker(stays, people, days)
    stale = {key for key, value in wanted.items() if stored.get(key) != value}
    if not stale:
        return entry, stored.get("facts", {}), False
    older = {r.revision for r in _migrations().walk_revisions()}
    return entry, None, stale == {"migration_head"} and stored["migration_head"] in older


def _publish(building: Path, entry: Path, wanted: dict, facts: dict) -> None:
    """Write the marker into the finished ``building`` directory and rename it to ``entry``."""
    (building / "marker.json").write_text(json.dumps({**wanted, "facts": facts}, indent=1))
    shutil.rmtree(entry, ignore_errors=True)
    building.rename(entry)


def sqlite_history(
    cache: Path | None, workdir: Path, stays: int, people: int, load: Loader, days: int = YEAR
) -> Loaded:
    """A SQLite file in ``workdir`` with ``stays`` stays over ``days`` days: a copy of the
    cached one (loaded into the cache first if missing or stale), or, without a cache, a fresh
    load."""
    workdir.mkdir(parents=True, exist_ok=True)
    target, keystore = workdir / "settlement.db", workdir / "keystore.json"
    if cache is None:
        KeyStore.generate().save(keystore)
        facts = load(f"sqlite:///{target}", stays, people, days)
        return Loaded(f"sqlite:///{target}", keystore, {**facts, "cached": False})
    entry, facts, upgradable = _entry(cache, "sqlite", stays, people, days)
    cached = facts is not None or upgradable
    if upgradable:
        facts = _migrated(entry, marker(stays, people, days))
    elif facts is None:
        building = _building(entry)
        facts = load(f"sqlite:///{building / 'history.db'}", stays, people, days)
        _publish(building, entry, marker(stays, people, days), facts)
    began = time.perf_counter()
    shutil.copyfile(entry / "history.db", target)
    shutil.copyfile(entry / "keystore.json", keystore)
    copy_s = round(time.perf_counter() - began, 1)
    return Loaded(f"sqlite:///{target}", keystore, {**facts, "cached": cached, "copy_s": copy_s})


def _building(entry: Path) -> Path:
    """A fresh ``<entry>.loading`` directory with a new key store, for a load to fill."""
    building = entry.with_name(entry.name + ".loading")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    KeyStore.generate().save(building / "keystore.json")
    return building


@contextlib.contextmanager
def postgres_history(
    cache: Path | None,
    workdir: Path,
    stays: int,
    people: int,
    load: Loader,
    days: int = YEAR,
    *,
    durable: bool,
) -> Iterator[tuple[PostgresServer, Loaded]]:
    """A private PostgreSQL server (``durable``: PostgreSQL's durable defaults) whose database
    ``history`` holds ``stays`` stays over ``days`` days: started on a copy of the cached
    cluster (loaded into the cache first, with fast settings, if missing or stale), or, without
    a cache, a fresh server with a fresh load. Stopped and removed after."""
    workdir.mkdir(parents=True, exist_ok=True)
    keystore = workdir / "keystore.json"
    if cache is None:
        KeyStore.generate().save(keystore)
        with PostgresServer(durable=durable) as server:
            url = server.create_database(DATABASE)
            facts = {**load(url, stays, people, days), "cached": False}
            yield server, Loaded(url, keystore, facts)
        return
    entry, facts, upgradable = _entry(cache, "postgresql", stays, people, days)
    cached = facts is not None or upgradable
    if upgradable:
        facts = _migrated(entry, marker(stays, people, days))
    elif facts is None:
        facts = _load_cluster(entry, stays, people, days, load)
    began = time.perf_counter()
    shutil.copyfile(entry / "keystore.json", keystore)
    with PostgresServer(durable=durable, data_from=entry / "data") as server:
        facts = {**facts, "cached": cached, "copy_s": round(time.perf_counter() - began, 1)}
        yield server, Loaded(server.url(DATABASE), keystore, facts)


def _load_cluster(entry: Path, stays: int, people: int, days: int, load: Loader) -> dict:
    """Load a fresh cluster (fast settings), stop it cleanly and keep its data directory."""
    building = _building(entry)
    with PostgresServer() as server:
        facts = load(server.create_database(DATABASE), stays, people, days)
        _keep_data(server, building)
    _publish(building, entry, marker(stays, people, days), facts)
    return facts


def _keep_data(server: PostgresServer, building: Path) -> None:
    """Stop ``server`` cleanly (a checkpoint: nothing left to recover) and copy its data
    directory into ``building``."""
    stopped = server.run_tool(
        "pg_ctl", "-D", str(server.data_dir), "-m", "fast", "-w", "-t", "600", "stop",
        timeout=660,
    )  # fmt: skip
    if stopped.returncode != 0:
        raise RuntimeError(f"PostgreSQL did not stop cleanly: {stopped.stderr}")
    subprocess.run(["cp", "-a", str(server.data_dir), str(building / "data")], check=True)


def _migrated(entry: Path, wanted: dict) -> dict:
    """Bring an entry made at an older migration head up to today's (``python -m settlement
    migrate`` on a copy of it, as a deployed database is upgraded; an index on 500 000 stays
    takes seconds, a new load half an hour) and publish the copy in its place; its facts."""
    old = json.loads((entry / "marker.json").read_text())
    building = entry.with_name(entry.name + ".loading")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    shutil.copyfile(entry / "keystore.json", building / "keystore.json")
    began = time.perf_counter()
    if (entry / "history.db").exists():
        shutil.copyfile(entry / "history.db", building / "history.db")
        upgrade(f"sqlite:///{building / 'history.db'}")
    else:
        with PostgresServer(data_from=entry / "data") as server:
            upgrade(server.url(DATABASE))
            _keep_data(server, building)
    facts = {
        **old.get("facts", {}),
        "migrated_from": old["migration_head"],
        "migrate_s": round(time.perf_counter() - began, 1),
    }
    _publish(building, entry, wanted, facts)
    return facts
