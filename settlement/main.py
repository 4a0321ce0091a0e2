"""``create_app``: the settlement service's FastAPI application (docs/api.md).

Assembles the pieces and nothing else: the service from the composition root
(``settlement.bootstrap``), the problem+json error handlers
(``settlement.http_errors``) and one router per resource
(``settlement.api.routes``). ``settlement.asgi:app`` is the instance uvicorn
workers import.
"""

from __future__ import annotations

from fastapi import FastAPI

from settlement import http_errors
from settlement.api.routes import ROUTERS
from settlement.bootstrap import bootstrap
from settlement.config import Settings
from settlement.service import Service


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The application around ``service`` (default: built from ``settings``, else the environment)."""
    app = FastAPI(
        title="sscard settlement service",
        version="1",
        docs_url="/v1/docs",
        openapi_url="/v1/openapi.json",
    )
    app.state.service = service or bootstrap(settings)
    http_errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
