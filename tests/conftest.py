from __future__ import annotations

import gc
import uuid
import warnings
from collections.abc import Iterator

import pytest

from chute import _client
from tests._servers import RedisServer, redis_server

BACKENDS = ["sqlite", "redis"]
# Unset for every test (``chute_env``): a test's store must not depend on the caller's shell.
CLEARED_VARS = ("CHUTE_SECRET", "CHUTE_ENV", "CHUTE_EPHEMERAL_TTL")


@pytest.fixture(scope="session", autouse=True)
def _close_clients_at_exit() -> Iterator[None]:
    """Close every client still open when the session ends, then collect garbage with
    ResourceWarning ignored: an unclosed socket found only by the final collection (pytest
    turns it into a failed exit) cannot be traced to a test any more. Leaks are still caught
    per test while the session runs (filterwarnings = error)."""
    yield
    for client in list(_client._clients.values()):
        client.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def new_store_url(kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, isolated store: a new SQLite file, or a unique key prefix on the shared server."""
    if kind == "sqlite":
        return f"sqlite://{tmp_path_factory.mktemp('db')}/chute.db"
    server: RedisServer = request.getfixturevalue("redis_srv")
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh store of each backend for every test."""
    return new_store_url(request.param, request, tmp_path_factory)


@pytest.fixture
def chute_env(backend_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point chute (and child processes, which inherit the environment) at ``backend_url``."""
    for var in CLEARED_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CHUTE_URL", backend_url)
    yield backend_url
    for key, client in list(_client._clients.items()):
        if client.settings.url.raw == backend_url:
            client.close()
            del _client._clients[key]
