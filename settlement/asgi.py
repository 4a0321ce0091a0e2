"""The ASGI application uvicorn workers import (settings from the environment)."""

from settlement.app import create_app

app = create_app()
