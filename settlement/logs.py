"""The service's log: one JSON object a line (or plain text), to stderr or a private file.

What a line holds (docs/operations.md §Logs): ``time`` (ISO 8601, UTC, with its
offset), ``level``, ``logger``, ``message`` and, for the one line each request
leaves (logger ``settlement.access``, level ``info``), ``request_id``,
``method``, ``route`` (the route's template, ``/v1/admissions/{mdtrt_id}/fees``,
never the path with its identifiers), ``status``, ``code`` (the problem code of a
refusal), ``institution``, ``terminal`` and ``latency_ms``. Nothing a request
carries in its body, its query or its credentials is ever written: no PIN,
password, API key, token, document number or name (the tests grep for them).

Configured once per process by :func:`configure` from
:class:`settlement.config.Settings` (``SSCARD_LOG_LEVEL``, ``SSCARD_LOG_FORMAT``,
``SSCARD_LOG_FILE``): ``python -m settlement serve`` in its main process, each
uvicorn worker when it imports ``settlement.asgi``. Applications made by tests or
the hospital simulation (``create_app``) leave the process's logging alone.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from settlement.config import Settings

#: The loggers this module configures: ours and uvicorn's (its start, stop and errors).
LOGGERS = ("settlement", "uvicorn", "uvicorn.error")
#: The attribute of a log record that carries its structured fields (``extra={FIELDS: {...}}``).
FIELDS = "fields"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
#: The request being answered, for every line logged while it is (``request_id``).
REQUEST_ID: ContextVar[str | None] = ContextVar("sscard_request_id", default=None)


#: One encoder for every line (``json.dumps`` with options builds a new one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonLines(logging.Formatter):
    """A record as one JSON object on one line (a traceback, if any, as ``exc``)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if fields:
            line.update(fields)
        elif (request_id := REQUEST_ID.get()) is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _ENCODE(line)


class PlainText(logging.Formatter):
    """A record as ``time level logger message key=value ...`` for a person reading along."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_time(record)} {record.levelname.lower()} {record.name} {record.getMessage()}"
        fields = getattr(record, FIELDS, None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def private_log_file(path: Path) -> Path:
    """Create ``path`` (and its folder) readable by the owner only, 0600 in a 0700 folder made
    for it; an existing file is narrowed to 0600 too (docs/api.md §Files)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


class PrivateLogFile(WatchedFileHandler):
    """Appends to the log file and reopens it when logrotate has moved it away, the new file
    created 0600 like the first (:func:`private_log_file`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(private_log_file(path), encoding="utf-8")

    def _open(self):  # type: ignore[override]  # logging's hook for (re)opening the file
        private_log_file(Path(self.baseFilename))
        return super()._open()


def handler_for(settings: Settings) -> logging.Handler:
    """The handler ``settings`` ask for: stderr or the log file, JSON lines or text."""
    if settings.log_file is not None:
        handler: logging.Handler = PrivateLogFile(settings.log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if settings.log_format == "json" else PlainText())
    return handler


def configure(settings: Settings) -> None:
    """Send ``settlement`` and ``uvicorn`` records at ``SSCARD_LOG_LEVEL`` and above to one
    handler; their records do not also reach the root logger (no line twice)."""
    handler = handler_for(settings)
    level = _LEVELS[settings.log_level]
    # No line shows the thread, process or multiprocessing names: not looked up for every
    # record (the logging HOWTO's "Optimization"; one access line per request).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.error").propagate = False


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict) -> None:
    """Log ``message`` with its structured ``fields`` (the caller checked ``isEnabledFor``).

    The record is made and handled directly: ``Logger.log`` would also walk the stack for
    the caller's file and line, which these lines do not show (hot path: one per request)."""
    record = logger.makeRecord(logger.name, level, "", 0, message, None, None)
    record.fields = fields
    logger.handle(record)


def shown_url(database_url: str) -> str:
    """A database URL fit for a log or a console: its password masked."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy can parse: only its scheme
        return database_url.split("://", 1)[0] + "://***"


def log_start(settings: Settings, host: str, port: int, workers: int, version: str) -> None:
    """The start-up line: where the service listens and on which database; a warning line
    when the business date is fixed (``SSCARD_TODAY``, simulation and tests only)."""
    fixed = settings.fixed_today
    logging.getLogger("settlement").info(
        "settlement service listening on http://%s:%d with %d worker(s), database %s",
        host,
        port,
        workers,
        shown_url(settings.database_url),
        extra={
            FIELDS: {
                "event": "start",
                "listen": f"{host}:{port}",
                "workers": workers,
                "database": shown_url(settings.database_url),
                "version": version,
                "pid": os.getpid(),
                "business_date_fixed": fixed.isoformat() if fixed else None,
            }
        },
    )
    if fixed:  # SSCARD_TODAY: never silent (docs/api.md §CLI)
        logging.getLogger("settlement").warning(
            "SSCARD_TODAY=%s fixes the business date of the contribution flow and 1101 "
            "(simulation and tests only)",
            fixed.isoformat(),
            extra={FIELDS: {"event": "business_date_fixed", "business_date": fixed.isoformat()}},
        )
