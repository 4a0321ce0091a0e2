"""The PostgreSQL fixture starts a real server, hands out isolated databases, and is quick."""

import psycopg
import pytest
import sqlalchemy

pytestmark = pytest.mark.postgres


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_session_database_answers_select_1(postgres_url, postgres_server):
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with psycopg.connect(_libpq(postgres_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == ("sscard_test",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
    assert postgres_server.start_seconds < 10


def test_sqlalchemy_url_works(postgres_url):
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 40 + 2")).scalar_one() == 42
    finally:
        engine.dispose()


def test_fresh_databases_are_empty_and_isolated(postgres_database_factory, postgres_server):
    first = postgres_database_factory()
    second = postgres_database_factory()
    assert first != second
    with psycopg.connect(_libpq(first), autocommit=True) as conn:
        conn.execute("CREATE TABLE admission (mdtrt_id text PRIMARY KEY)")
        conn.execute("INSERT INTO admission VALUES ('M1')")
    with psycopg.connect(_libpq(second)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
    # A copy of a prepared template carries its tables and rows.
    template = first.rsplit("/", 1)[1]
    copy = postgres_database_factory(template=template)
    with psycopg.connect(_libpq(copy)) as conn:
        assert conn.execute("SELECT mdtrt_id FROM admission").fetchall() == [("M1",)]


def test_fresh_database_dropped_after_use(postgres_server, postgres_database_factory):
    url = postgres_database_factory()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_libpq(url)) as conn:  # an open connection does not block the drop
        postgres_server.drop_database(name)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with psycopg.connect(postgres_server.dsn()) as admin:
        rows = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert rows == []


def test_fresh_postgres_url_fixture(fresh_postgres_url):
    with psycopg.connect(_libpq(fresh_postgres_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
