"""``create_app``: the FastAPI application behind ``chute serve``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from chute._async import inspection
from chute._client import Client
from chute._version import __version__
from chute.http import api, dashboard, metrics
from chute.http.common import RESPONSES, install_error_handlers
from chute.http.config import ServerConfig
from chute.http.middleware import BodyLimitMiddleware, OpenServerGuard, Utf8UrlGuard
from chute.http.sampler import Sampler

DESCRIPTION = """\
Queues, dicts and jobs of a chute backend over HTTP, with JSON bodies.

* **Auth**: `Authorization: Bearer <token>` when the server has tokens (401 without or with a
  bad one, 403 outside the token's environments).
* **Environments**: every route takes `?env=` (default: the server's environment).
* **Pickle**: with `--allow-pickle` (and a token), send `Content-Type:
  application/x-python-pickle` with a raw pickle body and/or `Accept:
  application/x-python-pickle` to get one back.
* **Waits**: `timeout` parameters are cut to the server's `--max-wait`.
"""

# Swagger UI and ReDoc come from the fastapi-offline package (not a CDN), so /docs and /redoc
# work on machines without internet access.
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/docs-assets"
# The pages may load files from this server only. Swagger UI starts from an inline script and
# ReDoc injects inline styles; ReDoc's footer logo (an image on its CDN) is blocked before any
# request leaves the browser and hides itself.
_DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Health(BaseModel):
    """The server is up and its backend answered."""

    ok: bool
    version: str


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The ASGI app. Nothing touches the backend until the first request.

    The lifespan starts the sampler (charts and latency histogram) and, at shutdown, closes
    the backend connections that the event loop opened.
    """
    config = (config or ServerConfig()).resolved()
    assert config.max_body_bytes is not None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sampler = Sampler(config.envs, config.sample_interval, config.history_seconds)
        app.state.sampler = sampler
        task = asyncio.create_task(sampler.run(), name="chute-sampler")
        try:
            yield
        finally:
            await sampler.stop(task)
            app.state.sampler = None
            await Client.from_env().aclose()

    app = FastAPI(
        title="chute",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = config
    app.state.sampler = None
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(metrics.router)
    dashboard.mount(app)
    _mount_api_docs(app)

    @app.get("/healthz", tags=["meta"], summary="Health check", responses={503: RESPONSES[503]})
    async def healthz() -> Health:
        """200 when the backend answers a ping, 503 otherwise."""
        await inspection.ping(Client.from_env())
        return Health(ok=True, version=__version__)

    # Added last = outermost: the guard answers before anything reads the body.
    app.add_middleware(Utf8UrlGuard)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(OpenServerGuard, enabled=not config.tokens.enabled, allowed_hosts=config.allowed_hosts)
    return app


def _mount_api_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), loading only files this server serves."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.svg",
        )
        page.headers.update(_DOCS_HEADERS)
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}/static/favicon.svg",
            with_google_fonts=False,
        )
        page.headers.update(_DOCS_HEADERS)
        return page
