"""Redis (standalone and a real 3-shard Cluster) under concurrency, its connection limits, and
``?wait_replicas`` on a replicated Cluster (3 masters + 3 replicas).

The failover itself (a master killed under load) is chaos scenario 16,
``tests/chaos/test_cluster_failover.py``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

import chute
from chute import _client
from chute._outcome import new_call_id
from chute._url import parse_url
from chute.backends import _redis_conn as conn
from chute.backends import open_backend
from chute.backends._async.redis import _ACKED_WRITES
from chute.backends._redis_scripts import ALL
from chute.backends.types import (
    CallState,
    ClaimRequest,
    FunctionStats,
    Kind,
    PutStatus,
    SubmitRequest,
)
from chute.config import Settings
from chute.exception import BackendUnavailableError, InvalidError
from tests._servers import ClusterServers, redis_cluster

REDIS_ONLY = pytest.mark.parametrize("backend_url", ["redis", "cluster"], indirect=True)


@pytest.fixture(autouse=True)
def _close_new_clients() -> Iterator[None]:
    """Close the clients of URLs a test made up (``chute_env`` closes its own)."""
    before = set(_client._clients)
    yield
    for key in set(_client._clients) - before:
        _client._clients.pop(key).close()


@pytest.fixture
async def aio_env(chute_env: str) -> AsyncIterator[str]:
    """``chute_env`` for ``.aio`` tests: closes every client's backend on the test's event
    loop (before ``chute_env`` forgets its client)."""
    yield chute_env
    for client in list(_client._clients.values()):
        await client.aclose()


# -- the defect: many blocking gets on one event loop ----------------------------------


async def test_twenty_blocking_gets_on_one_event_loop(aio_env: str) -> None:
    """The reproduction of the defect (on a multi-shard Cluster, 18 of 20 raised
    BackendUnavailableError "Connection closed by server" and one an AttributeError): 20 gets
    as the first commands of the event loop's client, so that they race its start-up (the slot
    map not loaded yet). Every waiter times out with queue.Empty; then 20 waiters each receive
    one of 20 items."""
    q = chute.Queue.from_name(f"twenty-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    q.len()  # created and hydrated by the sync client: the event loop's client is still fresh
    got = await asyncio.gather(*[q.get.aio(timeout=0.5) for _ in range(20)], return_exceptions=True)
    assert Counter(type(g) for g in got) == {queue.Empty: 20}, got

    async def put_later() -> None:
        await asyncio.sleep(0.3)
        await q.put_many.aio(list(range(20)))

    *items, _ = await asyncio.gather(*[q.get.aio(timeout=30) for _ in range(20)], put_later())
    assert sorted(items) == list(range(20))


@REDIS_ONLY
async def test_more_concurrent_callers_than_connections(
    aio_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ?max_connections=4, 40 concurrent blocking gets and 40 puts on one event loop
    neither fail (callers wait for a connection) nor lose or duplicate an item."""
    monkeypatch.setenv("CHUTE_URL", aio_env + "&max_connections=4")
    async with chute.Queue.ephemeral() as q:
        getters = [asyncio.ensure_future(q.get.aio(timeout=30)) for _ in range(40)]
        await asyncio.sleep(0.2)
        await asyncio.gather(*[q.put.aio(i) for i in range(40)])
        assert sorted(await asyncio.gather(*getters)) == list(range(40))
        # A get that finds every blocking connection busy still honours its timeout.
        start = time.monotonic()
        got = await asyncio.gather(*[q.get.aio(timeout=0.3) for _ in range(12)], return_exceptions=True)
        assert Counter(type(g) for g in got) == {queue.Empty: 12}
        assert time.monotonic() - start < 5


@REDIS_ONLY
def test_many_threads_share_the_sync_client(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """40 threads blocked in get on one process's client (?max_connections=4), 40 puts: each
    thread receives one item, none fails."""
    monkeypatch.setenv("CHUTE_URL", chute_env + "&max_connections=4")
    q = chute.Queue.from_name(f"threads-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    got: list[object] = []
    errors: list[BaseException] = []

    def get() -> None:
        try:
            got.append(q.get(timeout=30))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=get) for _ in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    for i in range(40):
        q.put(i)
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert sorted(got) == list(range(40))  # type: ignore[type-var]


# -- the 3-shard fixture ---------------------------------------------------------------------


def test_objects_spread_over_the_shards(cluster_srv: ClusterServers) -> None:
    """Each object's keys share one slot of their own, so a dozen queues land on more than one
    of the three masters (all on one: probability 3 x 3^-12)."""
    prefix = f"spread{uuid.uuid4().hex[:8]}:"
    backend = open_backend(Settings.from_env(url=f"{cluster_srv.url}?prefix={prefix}"))
    try:
        for i in range(12):
            info, _ = backend.create_object(Kind.QUEUE, "main", f"q{i}", object_id=f"qu-{uuid.uuid4().hex}")
            assert (
                backend.queue_put(info.id, b"", [b"x"], ttl=60, max_items=10, max_partitions=10)
                is PutStatus.OK
            )
    finally:
        backend.close()
    holding = 0
    for master in cluster_srv.masters:
        with redis.Redis(port=master.port) as r:
            holding += any(
                key.startswith(prefix.encode() + b"{qu-") for key in r.scan_iter(match=f"{prefix}*")
            )
    assert holding >= 2


def test_jobs_of_functions_spread_over_the_shards(cluster_srv: ClusterServers) -> None:
    """Each function's calls share a slot of their own (the issue: 5 functions in 2 apps had
    all their keys on one node). The slots of these 5 functions fall on all 3 masters (the
    tags are fixed by the names: the test is deterministic); every key of one function is on one
    master; only the small cross-function indexes are in the ``{jobs}`` slot; listing merges the
    functions' indexes, newest first."""
    prefix = f"jobspread{uuid.uuid4().hex[:8]}:"
    env = "main"
    functions = [("app1", "f1"), ("app1", "f2"), ("app1", "f3"), ("app2", "g1"), ("app2", "g2")]
    backend = open_backend(Settings.from_env(url=f"{cluster_srv.url}?prefix={prefix}"))
    submitted: list[str] = []
    try:
        for app in ("app1", "app2"):
            backend.job_deploy(env, app, [(f, b"{}") for a, f in functions if a == app])
        for i in range(4):
            for app, f in functions:
                call_id = new_call_id(env, app, f)
                req = SubmitRequest(env, app, f, call_id, b"p", result_ttl=60, idempotency_key=f"k{i}")
                assert backend.job_submit(req) == call_id
                submitted.append(call_id)
        for app, f in functions:  # one of each claimed and finished
            (rec,) = backend.job_claim(ClaimRequest(env, app, f, "w", 1, 60, None, 8))
            assert backend.job_finish(rec.id, rec.attempts, CallState.SUCCEEDED, b"r")
            assert backend.job_stats(env, app, f) == FunctionStats(pending=3, succeeded=1)
        listed = [r.id for r in backend.job_list(env, limit=100)]
        assert listed == submitted[::-1]  # newest first, across functions and shards
        newest_of_app2 = [submitted[-1], submitted[-2], submitted[-6]]
        assert [r.id for r in backend.job_list(env, app="app2", limit=3)] == newest_of_app2
        assert len(backend.job_list(env, state=CallState.SUCCEEDED)) == 5
    finally:
        backend.close()
    per_master: list[Counter[str]] = []
    for master in cluster_srv.masters:
        with redis.Redis(port=master.port) as r:
            tags = Counter(
                key.decode().removeprefix(prefix).split("}", 1)[0] + "}"
                for key in r.scan_iter(match=f"{prefix}*")
            )
        per_master.append(tags)
    holding = [m for m in per_master if any(t.startswith("{jobs:") for t in m)]
    assert len(holding) == 3, per_master  # 5 functions on all 3 masters
    function_tags = {t for m in per_master for t in m if t.startswith("{jobs:")}
    assert len(function_tags) == 5  # one slot per function, each on one master
    assert sum(m["{jobs}"] for m in per_master) == 3  # fns:main, fcalls:main, tags
    assert all(m[t] >= 4 for m in per_master for t in m if t.startswith("{jobs:"))


# -- URL options -------------------------------------------------------------------------------


def test_url_options() -> None:
    """max_connections and wait_replicas are chute's: validated with the settings, kept out of
    the URL given to redis-py (which would otherwise size its pools from it)."""
    url = parse_url("redis+cluster://u:pw@h:1/0?prefix=p:&max_connections=7&wait_replicas=2")
    opts = conn.RedisOptions.of(url)
    assert (opts.url, opts.cluster, url.prefix) == ("redis://u:pw@h:1/0", True, "p:")
    assert (opts.max_connections, opts.wait_replicas) == (7, 2)
    defaults = conn.RedisOptions.of(parse_url("redis://h:1/0"))
    assert (defaults.max_connections, defaults.wait_replicas) == (100, 0)
    for bad in ("max_connections=0", "max_connections=x", "wait_replicas=-1", "wait_replicas=1.5"):
        with pytest.raises(InvalidError, match=r"max_connections|wait_replicas") as err:
            parse_url(f"redis://u:s3cret@h:1/0?{bad}")
        assert "s3cret" not in str(err.value)
    assert conn.node_url("rediss://u:pw@h:1/0?ssl_cert_reqs=none", "10.0.0.2", 7001) == (
        "rediss://u:pw@10.0.0.2:7001/0?ssl_cert_reqs=none"
    )


def test_acked_writes_are_scripts() -> None:
    assert _ACKED_WRITES <= {s.name for s in ALL}
    assert not _ACKED_WRITES & {"queue_pop", "kv_pop", "job_claim"}  # destructive reads: never


# -- ?wait_replicas on a replicated Cluster ---------------------------------------------------


@pytest.fixture(scope="module")
def replicated() -> Iterator[ClusterServers]:
    """3 masters + 3 replicas (the default node timeout: no failover during these tests)."""
    with redis_cluster(shards=3, replicas=1) as cluster:
        yield cluster


def test_wait_replicas_acknowledges_after_the_replica(
    replicated: ClusterServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With wait_replicas=1 a put returns once the slot's replica has it; a paused replica (or
    asking for more replicas than there are) makes it fail with BackendUnavailableError after
    the WAIT timeout (CHUTE_TIMEOUT / 2), saying the write is on the master only. (CHUTE_TIMEOUT
    4: a replica of a loaded machine has taken over 500 ms to acknowledge a healthy write.)"""
    monkeypatch.setenv("CHUTE_TIMEOUT", "4")
    url = f"{replicated.url}?prefix=w{uuid.uuid4().hex[:8]}:&wait_replicas=1"
    monkeypatch.setenv("CHUTE_URL", url)
    q = chute.Queue.from_name("waited", create_if_missing=True)
    q.put_many([1, 2, 3])
    d = chute.Dict.from_name("waited", create_if_missing=True)
    d["k"] = "v"
    assert (q.get_many(3), d["k"]) == ([1, 2, 3], "v")

    # Pause the replica of the queue's master: WAIT on the master's connection must time out
    # (WAIT on a connection without the write would return at once).
    with redis.Redis(port=replicated.masters[0].port) as r:
        slot = int(r.execute_command("CLUSTER", "KEYSLOT", f"{{{q.object_id}}}"))
    shard = slot * len(replicated.masters) // 16384
    replica = replicated.replicas[shard]
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(BackendUnavailableError, match=r"only 0 of wait_replicas=1.*master only"):
            q.put(4)
        assert 1.8 < time.monotonic() - start < 8
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    assert q.get(timeout=5) == 4  # applied on the master all the same

    monkeypatch.setenv("CHUTE_URL", url.replace("wait_replicas=1", "wait_replicas=2"))
    with pytest.raises(BackendUnavailableError, match="only 1 of wait_replicas=2"):
        chute.Queue.from_id(q.object_id).put(5)
