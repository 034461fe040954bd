from __future__ import annotations

import gc
import os
import subprocess
import uuid
import warnings
from collections.abc import Iterator

import pytest

from chute import _client
from tests._servers import ClusterServers, RedisServer, redis_cluster, redis_server

# "cluster": a real 3-shard Redis Cluster (3 valkey-server masters, slots split evenly).
BACKENDS = ["sqlite", "redis", "cluster"]
# Where the "cluster" backend runs by default: the behaviour and contract suites (tests/_async,
# tests/_sync), seed 004, a job scenario and a chunked map with a killed worker. Everywhere else
# it repeats the "redis" run at 1.5-15x its cost (the clients of every test start a Cluster client: CLUSTER
# SLOTS and the COMMAND table), about +5 min on 2 cores. CHUTE_TEST_CLUSTER=all runs it on
# every backend test.
CLUSTER_SUITES = (
    "tests/_async/",
    "tests/_sync/",
    "tests/test_redis_cluster.py::",
    "tests/test_jobs.py::test_run_command_runs_the_seed_example",
    "tests/test_jobs.py::test_worker_killed_mid_call_is_rerun",
    "tests/test_map_chunks.py::test_map_runs_in_chunks_in_order",
    "tests/test_map_chunks.py::test_a_worker_killed_mid_map_loses_no_input",
)
# Files that take the longest (--durations on 2 cores): collected first, so ``--dist loadfile``
# hands them out at the start and the short files fill in at the end, instead of one long
# file running alone at the end (longest-first scheduling). Order only: nothing is skipped.
SLOW_FIRST = (
    "tests/chaos/test_jobs_chaos.py",
    "tests/test_docs.py",
    "tests/chaos/test_model_fuzz.py",
    "tests/test_web_endpoints.py",
    "tests/test_modal_resources.py",
    "tests/test_jobs.py",
    "tests/test_jobs_engine.py",
    "tests/test_modal_apps.py",
    "tests/test_modal_wire.py",
    "tests/test_deploy_code.py",
    "tests/chaos/test_queue_chaos.py",
    "tests/test_modal_wire_jobs.py",
    "tests/test_bad_input.py",
    "tests/test_job_control.py",
)
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the SLOW_FIRST files first (stable: the rest keep their order); deselect (never
    skip) the "cluster" runs outside CLUSTER_SUITES, unless CHUTE_TEST_CLUSTER=all."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)
    if os.environ.get("CHUTE_TEST_CLUSTER") == "all":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        elsewhere = not item.nodeid.startswith(CLUSTER_SUITES)
        (drop if params.get("backend_url") == "cluster" and elsewhere else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def cluster_srv() -> Iterator[ClusterServers]:
    """A 3-shard Redis Cluster shared by the session (tests isolate themselves by key prefix)."""
    with redis_cluster(shards=3) as cluster:
        yield cluster


def new_store_url(kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, isolated store: a new SQLite file, or a unique key prefix on the shared server
    (or Cluster)."""
    if kind == "sqlite":
        return f"sqlite://{tmp_path_factory.mktemp('db')}/chute.db"
    prefix = f"prefix=t{uuid.uuid4().hex[:12]}:"
    if kind == "cluster":
        cluster: ClusterServers = request.getfixturevalue("cluster_srv")
        return f"{cluster.url}?{prefix}"
    server: RedisServer = request.getfixturevalue("redis_srv")
    return f"{server.url}?{prefix}"


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
    close_clients(backend_url)


@pytest.fixture
def own_store(
    chute_env: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A fresh store of the test's backend, in a module whose ``backend_url`` is module-scoped
    (the store its shared ``module_worker`` serves): for tests that start workers of their own."""
    url = new_store_url(request.node.callspec.params["backend_url"], request, tmp_path_factory)
    monkeypatch.setenv("CHUTE_URL", url)
    yield url
    close_clients(url)


@pytest.fixture
def worker(module_worker: subprocess.Popen[bytes], chute_env: str) -> subprocess.Popen[bytes]:
    """The worker a module's tests share (its ``module_worker`` fixture, serving the module-scoped
    ``backend_url`` store), with this process pointed at that store."""
    assert module_worker.poll() is None, "the module's worker exited"
    return module_worker


def close_clients(url: str) -> None:
    """Close and forget this process's cached clients of the store at ``url``."""
    for key, client in list(_client._clients.items()):
        if client.settings.url.raw == url:
            client.close()
            del _client._clients[key]
