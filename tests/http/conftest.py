"""Fixtures for the HTTP server tests: an in-process client, a live uvicorn, real workers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from chute._client import Client
from chute.http import ServerConfig, create_app
from tests._servers import free_port

ROOT = Path(__file__).resolve().parents[2]
APP_FILE = str(ROOT / "tests" / "http" / "http_app.py")
# Loopback Host, so the open-server guard (Host must be a loopback name) lets tests through.
BASE = "http://127.0.0.1"


def fast_config(**changes: Any) -> ServerConfig:
    """A server config for tests: short waits, quick sampling, plus ``changes``."""
    return dataclasses.replace(ServerConfig(max_wait=5.0, sample_interval=0.2), **changes)


# Event loops and threads that run a server under test. Playwright's sync API runs its own
# loop in the main thread, where blocking calls are fine: only these are checked.
SERVER_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
SERVER_THREADS: set[int] = set()


@pytest.fixture(autouse=True)
def _no_blocking_backend_on_a_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server runs on an event loop: any use of the blocking backend there is a bug."""
    original = Client.sync_backend

    def guarded(self: Client) -> Any:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop in SERVER_LOOPS or threading.get_ident() in SERVER_THREADS:
            raise AssertionError("the blocking (sync) backend was used on the server's event loop")
        return original(self)

    monkeypatch.setattr(Client, "sync_backend", guarded)


@contextlib.asynccontextmanager
async def asgi_client(**config: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process, with the app's lifespan running."""
    app = create_app(fast_config(**config))
    SERVER_LOOPS.add(asyncio.get_running_loop())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as client:
            yield client


@pytest.fixture
async def api(chute_env: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an open server (no tokens) on the test's backend."""
    async with asgi_client() as client:
        yield client


class LiveServer:
    """uvicorn serving ``create_app(config)`` on a free loopback port, in a thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self._run, name="test-uvicorn", daemon=True)

    def _run(self) -> None:
        SERVER_THREADS.add(threading.get_ident())
        try:
            self.server.run()
        finally:
            SERVER_THREADS.discard(threading.get_ident())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def live_server(chute_env: str) -> Iterator[LiveServer]:
    """A real HTTP server (open, loopback) on the test's backend."""
    with LiveServer(fast_config()) as server:
        yield server


class Workers:
    """``chute worker`` processes for tests/http/http_app.py; stopped (SIGTERM) at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "CHUTE_LEASE": "1.0"}
        argv = [sys.executable, "-m", "chute", *(args or ("worker", APP_FILE))]
        proc = subprocess.Popen(argv, env=env, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(chute_env: str) -> Iterator[Workers]:
    w = Workers()
    yield w
    w.stop_all()


@pytest.fixture
def deployed(chute_env: str) -> None:
    """tests/http/http_app.py deployed, so spawns are accepted before any worker runs."""
    from tests.http import http_app

    http_app.app.deploy()
