"""The cache of loaded histories (benchmarks/_history_cache.py, issue #19): a history is loaded
once, every later run gets a fresh copy (never the cached original) with the key store it was
made with, and an entry whose marker no longer matches (another migration head, catalogue or
loader) is loaded again, not used."""

from __future__ import annotations

import json

import psycopg
import pytest
import sqlalchemy as sa

from benchmarks import _history_cache as cache
from benchmarks._pg import database_name
from settlement.migrate import upgrade


class CountingLoader:
    """Stands in for benchmarks/history.py's load: one table with ``stays`` rows."""

    def __init__(self) -> None:
        self.loads = 0

    def __call__(self, url: str, stays: int, people: int, days: int) -> dict:
        self.loads += 1
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE stay (n integer)")
            conn.execute(sa.text("INSERT INTO stay VALUES (:n)"), [{"n": n} for n in range(stays)])
        engine.dispose()
        return {"stays": stays, "people": people, "days": days, "load_s": 0.1}


def rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM stay").scalar_one()
    engine.dispose()
    return count


def test_sqlite_history_is_loaded_once_and_copied(tmp_path):
    load, store = CountingLoader(), tmp_path / "cache"
    first = cache.sqlite_history(store, tmp_path / "run1", 7, 7, load)
    assert first.facts["cached"] is False and rows(first.url) == 7
    marker = json.loads((store / "sqlite-7" / "marker.json").read_text())
    assert marker["stays"] == 7 and marker["migration_head"] and marker["catalogue_sha256"]
    engine = sa.create_engine(first.url)  # what a run does to its copy stays in its copy
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM stay")
    engine.dispose()
    second = cache.sqlite_history(store, tmp_path / "run2", 7, 7, load)
    assert second.facts == {**first.facts, "cached": True, "copy_s": second.facts["copy_s"]}
    assert load.loads == 1 and rows(second.url) == 7
    assert second.keystore.read_bytes() == (store / "sqlite-7" / "keystore.json").read_bytes()
    assert rows(f"sqlite:///{store / 'sqlite-7' / 'history.db'}") == 7


def test_a_stale_entry_is_loaded_again(tmp_path, monkeypatch):
    load, store = CountingLoader(), tmp_path / "cache"
    cache.sqlite_history(store, tmp_path / "run1", 5, 5, load)
    cache.sqlite_history(store, tmp_path / "run2", 6, 6, load)  # another size: its own entry
    assert load.loads == 2
    over_a_month = cache.sqlite_history(store, tmp_path / "run2b", 5, 5, load, days=37)
    assert over_a_month.facts["days"] == 37 and (store / "sqlite-5-37d" / "marker.json").exists()
    assert load.loads == 3
    assert cache.sqlite_history(store, tmp_path / "run2c", 5, 5, load).facts["cached"] is True
    load.loads = 2
    monkeypatch.setattr(cache, "LOADER_VERSION", cache.LOADER_VERSION + 1)
    again = cache.sqlite_history(store, tmp_path / "run3", 5, 5, load)
    assert load.loads == 3 and again.facts["cached"] is False and rows(again.url) == 5
    marker = store / "sqlite-5" / "marker.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "migration_head": "9999x"}))
    assert cache.sqlite_history(store, tmp_path / "run4", 5, 5, load).facts["cached"] is False
    assert load.loads == 4
    (store / "sqlite-5" / "marker.json").unlink()  # an interrupted or foreign entry
    cache.sqlite_history(store, tmp_path / "run5", 5, 5, load)
    assert load.loads == 5 and not list(store.glob("*.loading"))


def test_an_entry_of_an_older_migration_head_is_upgraded_not_reloaded(tmp_path):
    """A migration landed since the load: the cached copy is migrated (as a deployed database
    is), not loaded again for half an hour."""
    store, loads = tmp_path / "cache", []

    def load_at_0176(url: str, stays: int, people: int, days: int) -> dict:
        loads.append(url)
        upgrade(url, "0176")
        return {"stays": stays}

    cache.sqlite_history(store, tmp_path / "run1", 3, 3, load_at_0176)
    marker = store / "sqlite-3" / "marker.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "migration_head": "0176"}))
    again = cache.sqlite_history(store, tmp_path / "run2", 3, 3, load_at_0176)
    assert len(loads) == 1 and again.facts["cached"] is True
    assert again.facts["migrated_from"] == "0176"
    head = cache.marker(3, 3, 365)["migration_head"]
    assert json.loads(marker.read_text())["migration_head"] == head
    engine = sa.create_engine(again.url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
        assert "ix_settlement_institution_day" in {
            ix["name"] for ix in sa.inspect(conn).get_indexes("settlement")
        }
    engine.dispose()
    third = cache.sqlite_history(store, tmp_path / "run3", 3, 3, load_at_0176)
    assert "migrate_s" in third.facts and len(loads) == 1


@pytest.mark.postgres
def test_postgresql_history_runs_on_a_copy_of_the_cluster(tmp_path):
    load, store = CountingLoader(), tmp_path / "cache"
    with cache.postgres_history(store, tmp_path / "run1", 4, 4, load, durable=True) as (
        server,
        loaded,
    ):
        assert loaded.facts["cached"] is False and rows(loaded.url) == 4
        assert database_name(loaded.url) == "history"
        with psycopg.connect(server.dsn("history"), autocommit=True) as conn:
            conn.execute("DELETE FROM stay")
    with cache.postgres_history(store, tmp_path / "run2", 4, 4, load, durable=False) as (
        server,
        loaded,
    ):
        assert loaded.facts["cached"] is True and rows(loaded.url) == 4
        assert server.data_dir != store / "postgresql-4" / "data"
    assert load.loads == 1
    marker = store / "postgresql-4" / "marker.json"  # a migration landed since: upgraded
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "migration_head": "0176"}))
    with cache.postgres_history(store, tmp_path / "run3", 4, 4, load, durable=False) as (
        _server,
        loaded,
    ):
        assert loaded.facts["migrated_from"] == "0176" and rows(loaded.url) == 4
        engine = sa.create_engine(loaded.url)
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        engine.dispose()
        assert version == cache.marker(4, 4, 365)["migration_head"]
    assert load.loads == 1
