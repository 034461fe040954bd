"""One app with every kind of web endpoint, served by ``chute serve`` in tests/test_web_endpoints.py.

``WEB_TEST_SERVER_PORT`` (set by the test) is the port the ``web_server`` endpoint's own
server listens on: a real port of this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

import fastapi

import chute

app = chute.App("web-kinds")
SERVER_PORT = int(os.environ.get("WEB_TEST_SERVER_PORT", "18777"))
SERVED_DIR = os.environ.get("WEB_TEST_SERVED_DIR", ".")


@app.function()
@chute.fastapi_endpoint(docs=True)
def square(x: int) -> dict[str, int]:
    return {"square": x * x}


@app.function()
@chute.fastapi_endpoint(method="POST", label="echo-body")
async def echo(body: dict[str, Any]) -> dict[str, Any]:
    return {"got": body, "env": os.environ.get("CHUTE_ENV")}


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    text = f"wsgi {environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ['QUERY_STRING']}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]


@app.function()
@chute.wsgi_app()
def plain_wsgi() -> Any:
    return _wsgi


private_app = fastapi.FastAPI()


@private_app.get("/whoami")
async def whoami(request: fastapi.Request) -> dict[str, Any]:
    return {"private": True, "saw_modal_secret": "modal-secret" in request.headers}


@app.function()
@chute.asgi_app(requires_proxy_auth=True)
def private() -> fastapi.FastAPI:
    return private_app


@app.function()
@chute.web_server(SERVER_PORT, startup_timeout=30)
def files() -> None:
    subprocess.Popen(
        [sys.executable, "-m", "http.server", str(SERVER_PORT), "--bind", "127.0.0.1"],
        cwd=SERVED_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
