"""Every setting of the settlement service, read from the environment and checked in one place.

Nothing else in ``settlement/`` reads the environment: the composition root
(``settlement.bootstrap``) hands these values to what needs them. An invalid
value is refused when the settings are made, with one line naming the
variable (:class:`ConfigError`); ``python -m settlement serve`` prints it and
exits before any worker starts.

| variable | meaning | default |
|---|---|---|
| ``SSCARD_HOME`` | the service's folder | ``~/.sscard`` |
| ``SSCARD_DATABASE_URL`` | SQLAlchemy URL (SQLite or PostgreSQL; several PostgreSQL hosts with ``target_session_attrs=read-write``: :func:`check_database_url`, docs/deploy.md) | ``sqlite:///$SSCARD_HOME/settlement.db`` |
| ``SSCARD_KEYSTORE`` | the key store file (card.keystore) | ``card.keystore.default_path()`` |
| ``SSCARD_CHALLENGE_TTL`` | seconds a card-proof challenge lives (settlement.md §Card proof) | 120 |
| ``SSCARD_CARD_AUTH_WINDOW`` | seconds a networked card authentication stays valid (docs/api.md §Card authentication) | 600 |
| ``SSCARD_TIMEZONE`` | the business time zone: local dates of admissions, reports, deadlines | ``Asia/Shanghai`` |
| ``SSCARD_ADMISSION_BACKDATE_DAYS`` | how far ``begntime`` may lie in the past (docs/api.md §Admission times) | 30 |
| ``SSCARD_HOLIDAYS`` | holiday calendar, TOML (settlement.rules.working_days) | the packaged calendar |
| ``SSCARD_POLICE_REGISTER`` | the police population register, SQLite (issuance.md step 3) | ``$SSCARD_HOME/external/police_register.sqlite`` |
| ``SSCARD_BANK_RECORDS`` | folder of the partner banks' customer files | ``$SSCARD_HOME/external/banks`` |
| ``SSCARD_MAX_BODY_BYTES`` | largest request body accepted (413 ``body_too_large`` above; docs/api.md §Limits) | 1000000 |
| ``SSCARD_MAX_HEADER_BYTES`` | largest request header section (431 ``headers_too_large`` above) | 16384 |
| ``SSCARD_RATE_LIMIT`` | requests per second per API key, per worker (429 ``rate_limited``); 0 = no limit | 0 |
| ``SSCARD_KEY_SIGNAL`` | file whose change tells every worker to forget cached API keys (revocation, rotation, expiry) | ``<SQLite file>.keys``, else ``$SSCARD_HOME/keys.signal`` |
| ``SSCARD_RATE_BURST`` | requests a key may send at once before the rate applies | 2 x the rate |
| ``SSCARD_ENROLMENT_ENTRY_DELAY_DAYS`` | days from entering an enrolment record until it can be paid (settlement.rules.contributions) | 3 |
| ``SSCARD_TODAY`` | **simulation and tests only**: fixes the business date of the contribution flow and of 1101 (enrolment entry, payment window, an order's business day, the contribution state) to this ISO date; ``GET /v1/health`` and ``serve``'s start-up line say so | unset: today in the business time zone |
| ``SSCARD_PAYMENT_ORDER_TTL`` | seconds a pending contribution payment order can be confirmed (settlement.rules.contributions) | 1800 |
| ``SSCARD_LOG_LEVEL`` | ``debug``, ``info`` (one line per request), ``warning`` or ``error`` (settlement.logs) | ``info`` |
| ``SSCARD_LOG_FORMAT`` | ``json`` (one JSON object a line) or ``text`` | ``json`` |
| ``SSCARD_LOG_FILE`` | append the log to this file (created 0600, its folder 0700) instead of stderr | stderr |
| ``SSCARD_HEADER_TIMEOUT`` | seconds a connection may take to send a request line and headers before it is closed (settlement.server) | 10 |
| ``SSCARD_BODY_TIMEOUT`` | seconds a request's body may take to arrive after its headers, else ``408 body_timeout`` (or the connection closed) (settlement.server) | 30 |
| ``PROMETHEUS_MULTIPROC_DIR`` | folder where the worker processes keep their metrics (``serve`` makes one per run; settlement.metrics) | made by ``serve`` |
| ``SSCARD_METRICS_ALLOW`` | client networks that may read ``/metrics`` (comma-separated CIDRs; ``none``: nobody) | ``127.0.0.0/8,::1/128`` |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: The business time zone unless ``SSCARD_TIMEZONE`` says otherwise (China Standard Time).
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_CHALLENGE_TTL_S = 120
DEFAULT_ADMISSION_BACKDATE_DAYS = 30
DEFAULT_CARD_AUTH_WINDOW_S = 600
DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_HEADER_BYTES = 16_384
DEFAULT_ENROLMENT_ENTRY_DELAY_DAYS = 3
DEFAULT_PAYMENT_ORDER_TTL_S = 1800
DEFAULT_HEADER_TIMEOUT_S = 10
DEFAULT_BODY_TIMEOUT_S = 30
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
#: Who may read /metrics unless ``SSCARD_METRICS_ALLOW`` says otherwise: this machine only.
DEFAULT_METRICS_ALLOW = ("127.0.0.0/8", "::1/128")
#: libpq's ``target_session_attrs`` values; with several hosts the service needs the writable one.
SESSION_ATTRS = frozenset(
    {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}
)
WRITABLE_SESSION_ATTRS = frozenset({"read-write", "primary"})


class ConfigError(ValueError):
    """An invalid setting: the message is one line that names the variable and what it takes."""


def sscard_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$SSCARD_HOME``, else ``~/.sscard``."""
    env = os.environ if environ is None else environ
    return Path(env.get("SSCARD_HOME") or Path.home() / ".sscard")


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    """``$SSCARD_DATABASE_URL``, else one SQLite file ``$SSCARD_HOME/settlement.db``."""
    env = os.environ if environ is None else environ
    url = env.get("SSCARD_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{sscard_home(env) / 'settlement.db'}"


def publish_database_url(url: str) -> None:
    """Put the database URL where the uvicorn workers of ``serve`` read it (they build their
    settings from the environment: ``settlement.asgi``)."""
    os.environ["SSCARD_DATABASE_URL"] = url


def _query_values(url: URL, name: str) -> tuple[str, ...]:
    """The comma- or repeat-separated values of query parameter ``name`` (libpq's multi-host
    form ``host=h1,h2&port=p1,p2`` or SQLAlchemy's ``host=h1:p1&host=h2:p2``)."""
    raw = url.query.get(name)
    if raw is None:
        return ()
    items = (raw,) if isinstance(raw, str) else tuple(raw)
    return tuple(part for item in items for part in item.split(","))


def check_database_url(url: str, variable: str = "SSCARD_DATABASE_URL") -> None:
    """Refuse, with one line, a database URL the service cannot use (docs/deploy.md).

    SQLite or PostgreSQL. For PostgreSQL with several hosts (a primary and its standbys,
    libpq's multi-host string: ``postgresql+psycopg://u@/db?host=/run/a,/run/b&port=5432,5433``
    or ``?host=h1:5432&host=h2:5432``): one port or one per host, and
    ``target_session_attrs=read-write`` (or ``primary``) so that libpq connects to the host that
    takes writes, which after a failover is the promoted standby; ``connect_timeout`` in whole
    seconds (a host that does not answer is given up after it).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{variable} is not a database URL (sqlite:///... or postgresql://...)"
        ) from None
    backend = parsed.get_backend_name()
    shown = unquote(parsed.render_as_string(hide_password=True))
    if backend == "sqlite":
        return
    if backend not in ("postgresql", "postgres"):
        raise ConfigError(f"{variable}={shown!r}: the service runs on sqlite or postgresql only")
    hosts = _query_values(parsed, "host")
    ports = _query_values(parsed, "port")
    if any(":" in host and not host.startswith("/") for host in hosts):  # host=h1:p1&host=h2:p2
        if ports:
            raise ConfigError(f"{variable}={shown!r}: give ports either in host=h:p or in port=")
        ports = tuple(host.rpartition(":")[2] for host in hosts if ":" in host)
    for port in ports:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{variable}={shown!r}: port {port!r} is not a TCP port")
    if len(ports) > 1 and len(ports) != len(hosts):
        raise ConfigError(f"{variable}={shown!r}: {len(hosts)} hosts but {len(ports)} ports")
    attrs = _query_values(parsed, "target_session_attrs")
    if any(attr not in SESSION_ATTRS for attr in attrs) or len(attrs) > 1:
        raise ConfigError(
            f"{variable}={shown!r}: target_session_attrs takes one of {', '.join(sorted(SESSION_ATTRS))}"
        )
    if len(hosts) > 1 and not (set(attrs) & WRITABLE_SESSION_ATTRS):
        raise ConfigError(
            f"{variable}={shown!r}: with several hosts add target_session_attrs=read-write "
            "(the service writes; libpq must pick the primary)"
        )
    timeout = _query_values(parsed, "connect_timeout")
    if timeout and (len(timeout) > 1 or not timeout[0].isdigit()):
        raise ConfigError(f"{variable}={shown!r}: connect_timeout must be whole seconds")


def publish_setting(variable: str, value: str) -> None:
    """Put a setting the command line gave (``serve --log-level``, the metrics folder of
    ``serve``) where the uvicorn workers read their settings: the environment."""
    os.environ[variable] = value


def zone(name: str, variable: str = "SSCARD_TIMEZONE") -> ZoneInfo:
    """The IANA time zone ``name``; :class:`ConfigError` if there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{variable}={name!r} is not an IANA time zone name (for example {DEFAULT_TIMEZONE})"
        ) from None


def _integer(env: Mapping[str, str], variable: str, default: int, minimum: int) -> int:
    raw = env.get(variable)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{variable}={raw!r} must be a whole number >= {minimum}")
    return value


def _day(env: Mapping[str, str], variable: str) -> date | None:
    raw = env.get(variable)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"{variable}={raw!r} must be a date such as 2026-06-15 (simulation and tests only)"
        ) from None


@dataclass(frozen=True)
class Settings:
    """The settings of one service process (module docstring: variables and defaults)."""

    database_url: str
    keystore_path: str | None  # None: card.keystore.default_path()
    challenge_ttl_s: int = DEFAULT_CHALLENGE_TTL_S
    timezone: str = DEFAULT_TIMEZONE
    admission_backdate_days: int = DEFAULT_ADMISSION_BACKDATE_DAYS
    holidays_path: Path | None = None  # None: the packaged development calendar
    police_register_path: Path | None = None  # None: $SSCARD_HOME/external/police_register.sqlite
    bank_records_dir: Path | None = None  # None: $SSCARD_HOME/external/banks
    card_auth_window_s: int = DEFAULT_CARD_AUTH_WINDOW_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    rate_limit: int = 0  # requests per second per key and worker; 0: no limit
    rate_burst: int = 0  # 0: twice the rate
    enrolment_entry_delay_days: int = DEFAULT_ENROLMENT_ENTRY_DELAY_DAYS
    key_signal_path: Path | None = None  # None: derived from a SQLite URL (key_signal_path())
    payment_order_ttl_s: int = DEFAULT_PAYMENT_ORDER_TTL_S
    log_level: str = "info"
    log_format: str = "json"
    log_file: Path | None = None  # None: stderr
    header_timeout_s: int = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: int = DEFAULT_BODY_TIMEOUT_S
    metrics_allow: tuple[str, ...] = DEFAULT_METRICS_ALLOW
    metrics_dir: Path | None = None  # PROMETHEUS_MULTIPROC_DIR: the workers' shared metrics
    fixed_today: date | None = None  # SSCARD_TODAY: simulation and tests only

    def __post_init__(self) -> None:
        check_database_url(self.database_url)
        zone(self.timezone)
        if self.challenge_ttl_s < 1:
            raise ConfigError(f"SSCARD_CHALLENGE_TTL={self.challenge_ttl_s} must be >= 1")
        if self.card_auth_window_s < 1:
            raise ConfigError(f"SSCARD_CARD_AUTH_WINDOW={self.card_auth_window_s} must be >= 1")
        if self.admission_backdate_days < 0:
            raise ConfigError(
                f"SSCARD_ADMISSION_BACKDATE_DAYS={self.admission_backdate_days} must be >= 0"
            )
        if self.max_body_bytes < 1024:
            raise ConfigError(f"SSCARD_MAX_BODY_BYTES={self.max_body_bytes} must be >= 1024")
        if self.max_header_bytes < 1024:
            raise ConfigError(f"SSCARD_MAX_HEADER_BYTES={self.max_header_bytes} must be >= 1024")
        if self.rate_limit < 0 or self.rate_burst < 0:
            raise ConfigError("SSCARD_RATE_LIMIT and SSCARD_RATE_BURST must be >= 0")
        if self.enrolment_entry_delay_days < 0:
            raise ConfigError(
                f"SSCARD_ENROLMENT_ENTRY_DELAY_DAYS={self.enrolment_entry_delay_days} must be >= 0"
            )
        if self.payment_order_ttl_s < 60:
            raise ConfigError(f"SSCARD_PAYMENT_ORDER_TTL={self.payment_order_ttl_s} must be >= 60")
        self._check_operations()

    def _check_operations(self) -> None:
        """The logging, connection and metrics settings (docs/operations.md)."""
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"SSCARD_LOG_LEVEL={self.log_level!r} must be one of {LOG_LEVELS}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"SSCARD_LOG_FORMAT={self.log_format!r} must be json or text")
        if self.header_timeout_s < 1:
            raise ConfigError(f"SSCARD_HEADER_TIMEOUT={self.header_timeout_s} must be >= 1")
        if self.body_timeout_s < 1:
            raise ConfigError(f"SSCARD_BODY_TIMEOUT={self.body_timeout_s} must be >= 1")
        if self.metrics_dir is not None and not self.metrics_dir.is_dir():
            raise ConfigError(
                f"PROMETHEUS_MULTIPROC_DIR={str(self.metrics_dir)!r} is not a folder (make it, empty)"
            )
        for network in self.metrics_allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(
                    f"SSCARD_METRICS_ALLOW={','.join(self.metrics_allow)!r}: {network!r} is not "
                    "a network (e.g. 10.0.0.0/8)"
                ) from None

    @cached_property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The client networks that may read ``/metrics``."""
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.metrics_allow)

    def business_date(self, now: datetime) -> date:
        """The business date at ``now``: its date in the business time zone, or
        ``SSCARD_TODAY`` when set (simulation and tests only; module docstring)."""
        return self.fixed_today or now.astimezone(self.tz).date()

    @cached_property
    def tz(self) -> ZoneInfo:
        """The business time zone (local dates of admissions, reports and deadlines)."""
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(
        cls,
        database_url: str | None = None,
        *,
        home: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """The settings of the environment (``environ``, default ``os.environ``).

        An explicit ``database_url`` (the CLI's ``--database-url``) wins over
        ``SSCARD_DATABASE_URL``; ``home`` stands in for ``$SSCARD_HOME`` where a
        default path lies under it (the outside registers: the hospital simulation's
        in-process service uses its run's folder)."""
        env = os.environ if environ is None else environ
        home = home if home is not None else sscard_home(env)
        holidays = env.get("SSCARD_HOLIDAYS")
        return cls(
            database_url=database_url or default_database_url(env),
            keystore_path=env.get("SSCARD_KEYSTORE") or None,
            challenge_ttl_s=_integer(env, "SSCARD_CHALLENGE_TTL", DEFAULT_CHALLENGE_TTL_S, 1),
            timezone=env.get("SSCARD_TIMEZONE") or DEFAULT_TIMEZONE,
            admission_backdate_days=_integer(
                env, "SSCARD_ADMISSION_BACKDATE_DAYS", DEFAULT_ADMISSION_BACKDATE_DAYS, 0
            ),
            holidays_path=Path(holidays) if holidays else None,
            police_register_path=Path(
                env.get("SSCARD_POLICE_REGISTER") or home / "external" / "police_register.sqlite"
            ),
            bank_records_dir=Path(env.get("SSCARD_BANK_RECORDS") or home / "external" / "banks"),
            card_auth_window_s=_integer(
                env, "SSCARD_CARD_AUTH_WINDOW", DEFAULT_CARD_AUTH_WINDOW_S, 1
            ),
            max_body_bytes=_integer(env, "SSCARD_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024),
            max_header_bytes=_integer(
                env, "SSCARD_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, 1024
            ),
            rate_limit=_integer(env, "SSCARD_RATE_LIMIT", 0, 0),
            rate_burst=_integer(env, "SSCARD_RATE_BURST", 0, 0),
            enrolment_entry_delay_days=_integer(
                env, "SSCARD_ENROLMENT_ENTRY_DELAY_DAYS", DEFAULT_ENROLMENT_ENTRY_DELAY_DAYS, 0
            ),
            fixed_today=_day(env, "SSCARD_TODAY"),
            payment_order_ttl_s=_integer(
                env, "SSCARD_PAYMENT_ORDER_TTL", DEFAULT_PAYMENT_ORDER_TTL_S, 60
            ),
            key_signal_path=Path(env["SSCARD_KEY_SIGNAL"])
            if env.get("SSCARD_KEY_SIGNAL")
            else key_signal_path(database_url or default_database_url(env), home),
            **_operations_from(env),
        )

    @property
    def key_signal(self) -> Path | None:
        """The key-change signal file (``SSCARD_KEY_SIGNAL``; module docstring)."""
        return self.key_signal_path or key_signal_path(self.database_url, None)


def _operations_from(env: Mapping[str, str]) -> dict:
    """The logging, connection and metrics settings of ``env`` (module docstring)."""
    allow = env.get("SSCARD_METRICS_ALLOW")
    if allow is None or allow.strip() == "":
        networks = DEFAULT_METRICS_ALLOW
    elif allow.strip().lower() == "none":
        networks = ()
    else:
        networks = tuple(part.strip() for part in allow.split(",") if part.strip())
    return {
        "log_level": (env.get("SSCARD_LOG_LEVEL") or "info").lower(),
        "log_format": (env.get("SSCARD_LOG_FORMAT") or "json").lower(),
        "log_file": Path(env["SSCARD_LOG_FILE"]) if env.get("SSCARD_LOG_FILE") else None,
        "header_timeout_s": _integer(env, "SSCARD_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT_S, 1),
        "body_timeout_s": _integer(env, "SSCARD_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT_S, 1),
        "metrics_allow": networks,
        "metrics_dir": Path(env["PROMETHEUS_MULTIPROC_DIR"])
        if env.get("PROMETHEUS_MULTIPROC_DIR")
        else None,
    }


def key_signal_path(database_url: str, home: Path | None) -> Path | None:
    """Where key changes are signalled to every worker of this machine: beside a SQLite
    database file, else in ``home``; None for an in-memory database without a home."""
    if database_url.startswith("sqlite") and "///" in database_url:
        path = database_url.split("///", 1)[1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            return Path(path + ".keys")
    return home / "keys.signal" if home is not None else None
