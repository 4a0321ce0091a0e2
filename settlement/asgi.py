"""The ASGI application uvicorn workers import (settings from the environment).

An invalid setting ends the worker with its one-line message (``settlement.config``).
"""

from settlement.config import ConfigError
from settlement.main import create_app

try:
    app = create_app()
except ConfigError as error:
    raise SystemExit(f"error: {error}") from None
