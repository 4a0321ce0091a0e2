"""Settings of the settlement service, from the environment (CLI flags override)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo


def sscard_home() -> Path:
    return Path(os.environ.get("SSCARD_HOME") or Path.home() / ".sscard")


def default_database_url() -> str:
    """``$SSCARD_DATABASE_URL``, else one SQLite file ``$SSCARD_HOME/settlement.db``."""
    url = os.environ.get("SSCARD_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{sscard_home() / 'settlement.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    keystore_path: str | None  # None: card.keystore.default_path()
    challenge_ttl_s: int = 120
    timezone: str = "Asia/Shanghai"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        return cls(
            database_url=database_url or default_database_url(),
            keystore_path=os.environ.get("SSCARD_KEYSTORE"),
            challenge_ttl_s=int(os.environ.get("SSCARD_CHALLENGE_TTL", "120")),
            timezone=os.environ.get("SSCARD_TIMEZONE", "Asia/Shanghai"),
        )
