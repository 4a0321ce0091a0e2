"""The database URL is checked with the other settings (settlement/config.py, docs/deploy.md):
several PostgreSQL hosts need ``target_session_attrs=read-write``; an unreachable database
answers 503 ``busy`` with ``Retry-After``, never 500."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from settlement.config import ConfigError, Settings, check_database_url
from settlement.main import create_app

GOOD = [
    "sqlite:///var/lib/sscard/settlement.db",
    "sqlite://",
    "postgresql://sscard@db.example/sscard",
    "postgres://sscard@db.example/sscard",
    "postgresql+psycopg://sscard:pw@db.example:5433/sscard?connect_timeout=5",
    "postgresql+psycopg://u@/sscard?host=/run/a,/run/b&port=5432,5433&target_session_attrs=primary",
    "postgresql+psycopg://u@/sscard?host=/run/pg1,/run/pg2&port=5432&target_session_attrs=primary",
    "postgresql+psycopg://u@/sscard?host=pg1:5432&host=pg2:5432&target_session_attrs=read-write",
]
BAD = [
    ("nonsense", "is not a database URL"),
    ("mysql://u@h/db", "sqlite or postgresql only"),
    ("postgresql+psycopg://u@/db?host=/run/pg1,/run/pg2", "target_session_attrs=read-write"),
    (
        "postgresql+psycopg://u@/db?host=pg1:5432&host=pg2:5432&target_session_attrs=any",
        "target_session_attrs=read-write",
    ),
    (
        "postgresql+psycopg://u@/db?host=a,b&port=1,2,3&target_session_attrs=read-write",
        "2 hosts but 3 ports",
    ),
    (
        "postgresql+psycopg://u@/db?host=a:1&host=b:2&port=3&target_session_attrs=read-write",
        "either in host=h:p or in port=",
    ),
    ("postgresql+psycopg://u@h/db?port=99999", "not a TCP port"),
    ("postgresql+psycopg://u:secret@h/db?target_session_attrs=rw", "target_session_attrs takes"),
    ("postgresql+psycopg://u@h/db?connect_timeout=2s", "whole seconds"),
]


@pytest.mark.parametrize("url", GOOD)
def test_usable_urls_pass(url):
    check_database_url(url)
    assert Settings(url, None).database_url == url


@pytest.mark.parametrize(("url", "reason"), BAD)
def test_unusable_urls_are_one_line_naming_the_variable(url, reason):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ={"SSCARD_DATABASE_URL": url})
    message = str(refused.value)
    assert "\n" not in message and message.startswith("SSCARD_DATABASE_URL")
    assert reason in message
    assert "secret" not in message  # a password is never shown


def test_an_unreachable_database_is_503_with_retry_after(tmp_path):
    """Authentication (the front door) and a route both meet the database down: 503 busy."""
    url = "postgresql+psycopg://sscard@127.0.0.1:1/sscard?connect_timeout=2"
    settings = Settings(url, str(tmp_path / "keystore.json"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.post("/v1/probe", headers={"Authorization": "Bearer sk_abc_def"})
        health = client.get("/v1/health")
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "busy"
    assert health.status_code == 503 and health.headers["Retry-After"] == "1"


def test_serve_refuses_a_multi_host_url_without_read_write_in_one_line(tmp_path):
    """``python -m settlement serve`` stops before any worker starts (exit 2, one line)."""
    url = f"postgresql+psycopg://postgres@/sscard?host={tmp_path}/a,{tmp_path}/b&port=5432,5433"
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "settlement", "serve", "--database-url", url, "--no-migrate"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo), "SSCARD_HOME": str(tmp_path)},
        cwd=repo,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "target_session_attrs=read-write" in done.stderr
