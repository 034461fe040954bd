"""A web endpoint's executor: the child process that imports the app and serves its port.

``chute serve`` (``chute.web.host``) binds the endpoint's port, then starts
``python -m chute.web.executor`` with the bound socket and a status pipe as inherited file
descriptors and its settings as JSON on stdin. The executor imports the endpoint's file and
takes on the function's environment (``secrets=``, ``env=``, the image's ``.env()``: it runs
itself again with it), builds the instance of an ``@app.cls`` endpoint (``@chute.enter``
hooks), builds the app (calls the ``asgi_app``/``wsgi_app`` factory, wraps a
``fastapi_endpoint``, or starts a ``web_server`` and waits for its port), runs the ASGI
lifespan, and only then starts accepting on the socket, and writes ``ready`` to the pipe; a failure writes
``error <message>`` and exits 3. SIGTERM stops it gracefully (uvicorn finishes the requests
in flight, runs the lifespan shutdown, then the ``@chute.exit`` hooks), and it dies with
``chute serve`` (parent-death signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

from chute import _platform
from chute.http.auth import Token, TokenSet
from chute.web.spec import WebSpec

if TYPE_CHECKING:
    from chute.cls import Cls

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
    _platform.die_with_parent(parent, signal.SIGTERM)


def _tokens(raw: list[dict[str, Any]]) -> TokenSet:
    return TokenSet(
        tuple(Token(t["secret"], frozenset(t["envs"]) if t["envs"] is not None else None) for t in raw)
    )


def _endpoint(settings: dict[str, Any]) -> tuple[Any, Callable[[], None]]:
    """The endpoint's callable (the function, or an instance's method) and what to run once
    the executor stops (the instance's ``@chute.exit`` hooks).

    For a method of an ``@app.cls`` class (a function ``<Class>.<method>``) the instance is
    built here, once per executor: parameters at their defaults, ``@chute.enter`` hooks run
    before the first request, as a job executor does before its first call.

    Raises:
        LookupError: the file does not define the function.
        Exception: whatever an enter hook raised.
    """
    from chute._app_file import load_target
    from chute.app import find_function

    load_target(settings["file"])
    app_name, name = settings["app"], settings["function"]
    fn = find_function(app_name, name)
    if fn is None or fn._raw is None:
        raise LookupError(f"{settings['file']} defines no function {app_name}.{name}")
    cls_name, dot, method = name.partition(".")
    cls = _find_class(app_name, cls_name) if dot else None
    if cls is None:
        return fn._raw, lambda: None
    from chute.cls import instance_for, run_exit_hooks

    instance = instance_for(cls, {})  # unset parameters read their defaults (class attributes)
    return getattr(instance, method), lambda: run_exit_hooks(instance)


def _find_class(app_name: str, cls_name: str) -> Cls | None:
    from chute.app import _registry

    for app in _registry.get(app_name, []):
        found: Cls | None = app.classes.get(cls_name)
        if found is not None:
            return found
    return None


def _apply_environment(settings: dict[str, Any]) -> None:
    """Run this executor again with the function's environment (``secrets=``, ``env=``, the
    image's ``.env()``: ``chute._runtime.function_environment``, as a job executor gets it), so
    the app file's import already sees it. Only the function's options say what that
    environment is, and they exist once the file is imported: this first pass imports it,
    then replaces the process (same pid, socket and status pipe) unless nothing changes."""
    from chute._app_file import load_target
    from chute._runtime import function_environment
    from chute.app import find_function

    load_target(settings["file"])
    fn = find_function(settings["app"], settings["function"])
    if fn is None:
        raise LookupError(f"{settings['file']} defines no function {settings['app']}.{settings['function']}")
    env = function_environment(fn, os.environ)
    settings["environment_applied"] = True
    if env == dict(os.environ):
        return
    # Settings (tokens) go on through an unlinked file as stdin: never argv or the environment.
    carrier = tempfile.TemporaryFile()
    carrier.write(json.dumps(settings).encode())
    carrier.seek(0)
    os.dup2(carrier.fileno(), 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "chute.web.executor"], env)


def _load(settings: dict[str, Any]) -> tuple[ASGIApp, str, Callable[[], None]]:
    from chute.web.guard import EndpointGuard

    if not settings.get("environment_applied"):
        _apply_environment(settings)  # returns when the environment is already the function's
    web = WebSpec.from_dict(settings["web"])
    raw, on_exit = _endpoint(settings)
    app, lifespan = build_app(raw, web)
    guarded = EndpointGuard(
        app,
        env=settings["env"],
        tokens=_tokens(settings["tokens"]),
        private=web.requires_proxy_auth or settings["private"],
        allowed_hosts=web.custom_domains,
    )
    return guarded, lifespan, on_exit


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
    try:
        app, lifespan, on_exit = _load(settings)
    except BaseException as exc:
        traceback.print_exc()
        status.write(f"error {type(exc).__name__}: {exc}".replace("\n", " ")[:500] + "\n")
        status.flush()
        return STARTUP_FAILED
    sock = socket.socket(fileno=settings["socket_fd"])
    # uvicorn handles SIGTERM/SIGINT while it serves, then raises the signal again to the
    # handler found before it: that must not kill us before the exit hooks ran.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    try:
        code = asyncio.run(_serve(app, lifespan, settings, sock, status))
        if code:
            status.write("error the app's lifespan startup failed (see the log above)\n")
            status.flush()
        return code
    finally:
        try:
            on_exit()  # @chute.exit hooks, after the requests in flight and the lifespan shutdown
        finally:
            if settings["web"]["kind"] == "web_server":
                # The function's own server runs in this process group: stop it with us.
                with contextlib.suppress(OSError):
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    os.killpg(0, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
