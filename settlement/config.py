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
    #: Card production's outside data (docs/card-production.md): the holiday file
    #: (None: the packaged development calendar), the police register's SQLite file and
    #: the partner banks' folder (None: under ``$SSCARD_HOME/external``).
    holidays_path: Path | None = None
    police_register_path: Path | None = None
    bank_records_dir: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, database_url: str | None = None, *, home: Path | None = None) -> Settings:
        """From the environment; ``home`` stands in for ``$SSCARD_HOME`` where a default
        path lies under it (the outside registers)."""
        home = home if home is not None else sscard_home()
        holidays = os.environ.get("SSCARD_HOLIDAYS")
        return cls(
            database_url=database_url or default_database_url(),
            keystore_path=os.environ.get("SSCARD_KEYSTORE"),
            challenge_ttl_s=int(os.environ.get("SSCARD_CHALLENGE_TTL", "120")),
            timezone=os.environ.get("SSCARD_TIMEZONE", "Asia/Shanghai"),
            holidays_path=Path(holidays) if holidays else None,
            police_register_path=Path(
                os.environ.get("SSCARD_POLICE_REGISTER")
                or home / "external" / "police_register.sqlite"
            ),
            bank_records_dir=Path(
                os.environ.get("SSCARD_BANK_RECORDS") or home / "external" / "banks"
            ),
        )
