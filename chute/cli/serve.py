"""``chute serve``: the HTTP API, dashboard and metrics (and optionally job workers)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from chute._validate import check_env, check_seconds
from chute.cli._common import err_console
from chute.config import Settings, env_value
from chute.exception import Error, InvalidError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from chute.web.host import WebHost
    from chute.worker import Pool


def serve(
    app_files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="APP_FILE",
            help="App files to deploy and run here: their job workers and web endpoints.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind. Non-loopback addresses need a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    token: Annotated[
        list[str] | None,
        typer.Option(
            "--token",
            help="Accepted bearer token, TOKEN or TOKEN:ENV[,ENV...] to scope it (repeatable). "
            "Also read from $CHUTE_TOKEN (whitespace-separated specs).",
            show_default=False,
        ),
    ] = None,
    tokens_file: Annotated[
        Path | None,
        typer.Option(help="File with one token spec per line ('#' comments).", show_default=False),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            "-e",
            help="Environment charted on the dashboard and reported by /metrics (repeatable); the "
            "first is the default of requests. Default: $CHUTE_ENV or 'main'.",
            show_default=False,
        ),
    ] = None,
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle", help="Accept and send application/x-python-pickle bodies (needs a token)."
        ),
    ] = False,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Request body limit. Default: 2 MiB + $CHUTE_MAX_ITEM_BYTES.", show_default=False
        ),
    ] = None,
    max_wait: Annotated[float, typer.Option(min=0, help="Longest a request may block, in seconds.")] = 60.0,
    sample_interval: Annotated[float, typer.Option(min=0.1, help="Seconds between chart samples.")] = 5.0,
    workers: Annotated[
        bool | None,
        typer.Option(
            "--workers/--no-workers",
            help="Run the job workers of APP_FILE(s) here. Default: yes when APP_FILEs are given.",
            show_default=False,
        ),
    ] = None,
    web: Annotated[
        bool,
        typer.Option("--web/--no-web", help="Serve the deployed web endpoints of the environments."),
    ] = True,
    web_private: Annotated[
        bool,
        typer.Option(
            "--web-private",
            help="Apply the token rules to every web endpoint, also those declared public "
            "(requires_proxy_auth=False, Modal's default).",
        ),
    ] = False,
    reload: Annotated[
        bool,
        typer.Option("--reload/--no-reload", help="Restart a web endpoint when its source file changes."),
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API, the web dashboard (at /), Prometheus metrics (at /metrics) and web endpoints.

    APP_FILEs are deployed and their job workers run in this process; the web endpoints
    (@chute.asgi_app() …) of every app deployed in the environments are served, each on its
    own port (printed, and returned by Function.get_web_url()), including apps deployed
    later with `chute deploy`.
    """
    from chute.http import ServerConfig, create_app, is_loopback, load_tokens

    try:
        Settings.from_env()  # every CHUTE_* setting validated before anything starts
        check_seconds(max_wait, "--max-wait")
        check_seconds(sample_interval, "--sample-interval", minimum=0.1)
        tokens = load_tokens(token or [], env_value("CHUTE_TOKEN"), tokens_file)
        for name in env or ():
            check_env(name)
    except InvalidError as exc:
        _usage_error(str(exc))
    if not is_loopback(host) and not tokens.enabled:
        _usage_error(
            f"Refusing to serve on {host} without a token: anyone who can reach it could read and "
            "change every queue, dict and job. Pass --token (or set CHUTE_TOKEN), or bind 127.0.0.1."
        )
    if allow_pickle and not tokens.enabled:
        _usage_error("--allow-pickle needs a token: unpickling a request runs the sender's code here.")
    if workers and not app_files:
        _usage_error("--workers needs at least one APP_FILE.")
    if workers is None:
        workers = bool(app_files)
    config = ServerConfig(
        tokens=tokens,
        allow_pickle=allow_pickle,
        max_body_bytes=max_body_bytes,
        max_wait=max_wait,
        default_env=env[0] if env else None,
        envs=tuple(env or ()),
        sample_interval=sample_interval,
    )
    files = [str(p) for p in app_files or []]
    pool = _start_workers(files, config.default_env) if workers else None
    if files and not workers:
        _deploy(files, config.default_env)
    web_host = None
    if web:
        from chute.web.host import WebHost

        resolved = config.resolved()
        web_host = WebHost(
            resolved.envs,
            bind_host=host,
            tokens=tokens,
            private=web_private,
            reload=reload,
            log_level=log_level,
            log=lambda line: err_console.print(line, highlight=False, soft_wrap=True),
        )
    servers: list[uvicorn.Server] = []
    with _graceful_signals(lambda: bool(servers) and servers[0].should_exit):
        try:
            _run(create_app(config), host, port, log_level, web_host, servers)
        finally:
            if pool is not None:
                _stop_workers(*pool)


@contextlib.contextmanager
def _graceful_signals(uvicorn_saw_it: Callable[[], bool]) -> Iterator[None]:
    """Make SIGTERM/SIGINT end ``chute serve`` cleanly (exit 0, workers stopped).

    uvicorn handles the first signal itself, then re-raises it to the handler that was
    installed before it started, which would kill us before the workers stop. This handler
    takes that re-raised signal as a no-op. Any other signal exits at once (through
    ``SystemExit``, so the workers are still stopped): one that arrives before uvicorn has
    taken the signals over (it would otherwise be swallowed, and the server would then run
    on), and a further one (an impatient Ctrl-C while the workers finish).
    """
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if seen or not uvicorn_saw_it():
            raise SystemExit(128 + signum)
        seen.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run(
    app: FastAPI,
    host: str,
    port: int,
    log_level: str,
    web_host: WebHost | None = None,
    servers: list[uvicorn.Server] | None = None,
) -> None:
    """Serve until a signal; the uvicorn server is appended to ``servers`` (for the signal handler)."""
    import uvicorn

    where = f"[{host}]" if ":" in host else host
    err_console.print(f"chute: dashboard at http://{where}:{port}/  API docs at http://{where}:{port}/docs")
    if web_host is not None:
        web_host.start()
    try:
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
        if servers is not None:
            servers.append(server)
        server.run()
    finally:
        if web_host is not None:
            web_host.stop()


def _deploy(app_files: list[str], env: str | None) -> None:
    """``--no-workers``: deploy the app files (their endpoints get served) without running workers."""
    from chute.worker import apps_in, load_target

    try:
        for target in app_files:
            for app in apps_in(load_target(target)):
                app.deploy(environment_name=env)
    except Error as exc:
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _start_workers(app_files: list[str], env: str | None) -> tuple[Pool, threading.Thread]:
    """``--workers``: the pool of ``chute worker APP_FILE...``, on a thread of this process.

    The pool imports the app files and deploys their apps before the server starts, so a
    broken app file fails the command at once. It claims calls with the sync backend on its
    own thread (never on the server's event loop) and runs each call in a child process.
    """
    from chute.worker import Pool

    try:
        pool = Pool(app_files, environment_name=env)
    except Error as exc:
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    # uvicorn owns SIGINT/SIGTERM; the pool is stopped when the server returns.
    thread = threading.Thread(
        target=pool.run, kwargs={"install_signal_handlers": False}, name="chute-workers", daemon=True
    )
    thread.start()
    return pool, thread


def _stop_workers(pool: Pool, thread: threading.Thread) -> None:
    """Graceful stop: running calls get the worker's grace period, the rest are released."""
    from chute.worker import DEFAULT_GRACE

    pool.stop()
    thread.join(DEFAULT_GRACE + 10)


def _usage_error(message: str) -> NoReturn:
    err_console.print(f"[red]Error:[/red] {message}", highlight=False)
    raise typer.Exit(2)
