"""The API documentation, served offline (docs/api.md §The OpenAPI document; issue 16).

``/api-docs`` is Swagger UI and ``/api-docs/redoc`` ReDoc, both reading ``/v1/openapi.json``;
their JavaScript and CSS are the files the ``fastapi-offline`` package ships (Swagger UI 5,
which renders OpenAPI 3.1), served from ``/api-docs/static``: no CDN. ``/docs`` and
``/v1/docs`` (FastAPI's usual place, blank without internet before) redirect to
``/api-docs``. None of these paths needs an API key (outside ``/v1``, or public in
``settlement.api.limits``); the pages ask for one with "Authorize".
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from settlement.api.openapi import OPENAPI_URL, TITLE

DOCS_PATH = "/api-docs"
STATIC_PATH = DOCS_PATH + "/static"
OAUTH2_REDIRECT_PATH = DOCS_PATH + "/oauth2-redirect"
#: Where ``fastapi-offline`` keeps Swagger UI's and ReDoc's bundles.
STATIC_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
#: The files served from :data:`STATIC_PATH`, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE} - API",
        oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_PATH}/favicon.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get(DOCS_PATH + "/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE} - API",
        redoc_js_url=f"{STATIC_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_PATH}/favicon.png",
        with_google_fonts=False,
    )


@router.get(OAUTH2_REDIRECT_PATH)
async def oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/docs")
@router.get("/v1/docs")
async def to_docs() -> RedirectResponse:
    return RedirectResponse(DOCS_PATH, status_code=307)


@router.get(STATIC_PATH + "/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the bundles (:data:`ASSETS`); anything else is 404."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404)
    return FileResponse(STATIC_DIR / name, media_type=media_type)
