"""The ASGI application uvicorn workers import (settings from the environment).

An invalid setting ends the worker with its one-line message (``settlement.config``).
The worker's log is configured here, before the application is made
(``settlement.logs``: ``SSCARD_LOG_LEVEL``, ``SSCARD_LOG_FORMAT``, ``SSCARD_LOG_FILE``),
and its garbage collector tuned once the application exists (``settlement.main.tune_gc``).
"""

from settlement import logs
from settlement.config import ConfigError, Settings
from settlement.main import create_app, tune_gc

try:
    settings = Settings.from_env()
    logs.configure(settings)
    app = create_app(settings)
    tune_gc()  # a worker's collector settings, once its start-up objects exist
except ConfigError as error:
    raise SystemExit(f"error: {error}") from None
