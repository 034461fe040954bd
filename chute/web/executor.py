"""A web endpoint's executor: the child process that imports the app and serves its port.

``chute serve`` (``chute.web.host``) binds the endpoint's port, then starts
``python -m chute.web.executor`` with the bound socket and a status pipe as inherited file
descriptors and its settings as JSON on stdin. The executor imports the endpoint's file,
builds the app (calls the ``asgi_app``/``wsgi_app`` factory, wraps a ``fastapi_endpoint``,
or starts a ``web_server`` and waits for its port), runs the ASGI lifespan, and only then
starts accepting on the socket, and writes ``ready`` to the pipe; a failure writes
``error <message>`` and exits 3. SIGTERM stops it gracefully (uvicorn finishes the requests
in flight, runs the lifespan shutdown), and it dies with ``chute serve`` (parent-death signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any

from starlette.types import ASGIApp

from chute.http.auth import Token, TokenSet
from chute.web.spec import WebSpec

# Threads running a WSGI app's requests, per executor (a2wsgi's default).
WSGI_THREADS = 10
# Exit code of an executor whose app could not be built or started.
STARTUP_FAILED = 3


def build_app(raw: Any, web: WebSpec) -> tuple[ASGIApp, str]:
    """The ASGI app for the endpoint and uvicorn's lifespan mode for it.

    Raises:
        Exception: whatever the user's factory raised; ``TimeoutError`` when a
            ``web_server`` does not accept in time.
    """
    if web.kind == "asgi":
        return raw(), "auto"
    if web.kind == "wsgi":
        from a2wsgi import WSGIMiddleware

        return WSGIMiddleware(raw(), workers=WSGI_THREADS), "off"  # type: ignore[return-value]
    if web.kind == "fastapi":
        return fastapi_app(raw, web), "auto"
    from chute.web.proxy import HttpProxy, wait_for_port

    assert web.port is not None
    raw()
    wait_for_port(web.port, web.startup_timeout)
    return HttpProxy(web.port), "on"


def fastapi_app(raw: Any, web: WebSpec) -> ASGIApp:
    """One route at ``/`` for ``web.method``, CORS open to every origin (Modal's wrapper)."""
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    app = FastAPI(
        docs_url="/docs" if web.docs else None,
        openapi_url="/openapi.json" if web.docs else None,
        redoc_url=None,
    )
    app.add_api_route("/", raw, methods=[web.method])
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"], allow_credentials=False
    )
    return app


def _die_with_parent(parent: int) -> None:
    """Never outlive ``chute serve``, even when it is killed with ``kill -9``."""
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="chute-parent-watch", daemon=True).start()


def _tokens(raw: list[dict[str, Any]]) -> TokenSet:
    return TokenSet(
        tuple(Token(t["secret"], frozenset(t["envs"]) if t["envs"] is not None else None) for t in raw)
    )


def _load(settings: dict[str, Any]) -> tuple[ASGIApp, str]:
    from chute.app import find_function
    from chute.web.guard import EndpointGuard
    from chute.worker import load_target

    web = WebSpec.from_dict(settings["web"])
    load_target(settings["file"])
    fn = find_function(settings["app"], settings["function"])
    if fn is None or fn._raw is None:
        raise LookupError(f"{settings['file']} defines no function {settings['app']}.{settings['function']}")
    app, lifespan = build_app(fn._raw, web)
    guarded = EndpointGuard(
        app,
        env=settings["env"],
        tokens=_tokens(settings["tokens"]),
        private=web.requires_proxy_auth or settings["private"],
        allowed_hosts=web.custom_domains,
    )
    return guarded, lifespan


async def _serve(
    app: ASGIApp, lifespan: str, settings: dict[str, Any], sock: socket.socket, status: Any
) -> int:
    import uvicorn

    config = uvicorn.Config(
        app,
        lifespan=lifespan,  # type: ignore[arg-type]
        log_level=settings["log_level"],
        access_log=settings["log_level"] in ("debug", "trace"),
        timeout_graceful_shutdown=settings["grace"],
        server_header=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        status.write("ready\n")
        status.flush()
    await task
    return 0 if server.started else STARTUP_FAILED


def main() -> int:
    settings = json.loads(sys.stdin.read())
    _die_with_parent(settings["parent"])
    status = os.fdopen(settings["status_fd"], "w")
    sock = socket.socket(fileno=settings["socket_fd"])
    try:
        app, lifespan = _load(settings)
    except BaseException as exc:
        traceback.print_exc()
        status.write(f"error {type(exc).__name__}: {exc}".replace("\n", " ")[:500] + "\n")
        status.flush()
        return STARTUP_FAILED
    try:
        code = asyncio.run(_serve(app, lifespan, settings, sock, status))
        if code:
            status.write("error the app's lifespan startup failed (see the log above)\n")
            status.flush()
        return code
    finally:
        if settings["web"]["kind"] == "web_server":
            # The function's own server runs in this process group: stop it with us.
            with contextlib.suppress(OSError):
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os.killpg(0, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
