"""What only Redis has, against real valkey-server processes, in both flavours (the async source
``AsyncRedisBackend`` and its generated twin ``RedisBackend``): the server's clock, URLs and
unix sockets, connection and credential errors, a stalled server, Redis Cluster, eviction
policies and the raw keys behind call tombstones. Storage behaviour common to every backend is
the contract suite (tests/_async/test_backend_contract_*.py)."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import pytest
import redis

from chute.backends import _redis_keys as rk
from chute.backends._async.redis import AsyncRedisBackend, redis_py_url
from chute.backends._call_tags import home_tag
from chute.backends._sync.redis import RedisBackend
from chute.backends.types import CallState, FunctionStats, Kind, PutStatus
from chute.config import Settings
from chute.exception import AuthError, BackendUnavailableError
from tests._async import contract_helpers as async_helpers
from tests._servers import RedisServer, free_port, redis_server, start_redis
from tests._sync import contract_helpers as sync_helpers

ENV, APP, FN = async_helpers.ENV, async_helpers.APP, async_helpers.FN
FLAVOURS = ["async", "sync"]


async def ar(value: Any) -> Any:
    """Await the result of a backend call if it is a coroutine (async flavour)."""
    return await value if inspect.isawaitable(value) else value


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    sock = tmp_path_factory.mktemp("sock") / "valkey.sock"
    with redis_server("--unixsocket", str(sock), "--unixsocketperm", "700") as srv:
        srv.unix_socket = str(sock)  # type: ignore[attr-defined]
        yield srv


@pytest.fixture
def url(server: RedisServer) -> str:
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:12]}:"


def settings(url: str, **overrides: Any) -> Settings:
    return Settings.from_env(url=url, **overrides)


def make(flavour: str, st: Settings) -> Any:
    return AsyncRedisBackend(st) if flavour == "async" else RedisBackend(st)


def helpers(backend: Any) -> ModuleType:
    """The contract suite's helpers (``submit``, ``claim``, ``new_queue``…) of the backend's flavour."""
    return async_helpers if isinstance(backend, AsyncRedisBackend) else sync_helpers


async def close(backend: Any) -> None:
    await ar(backend.aclose() if isinstance(backend, AsyncRedisBackend) else backend.close())


@pytest.fixture(params=FLAVOURS)
async def b(request: pytest.FixtureRequest, url: str) -> AsyncIterator[Any]:
    backend = make(request.param, settings(url))
    yield backend
    await close(backend)


async def new_queue(b: Any, name: str | None = "q", **kw: Any) -> str:
    oid: str = await ar(helpers(b).new_queue(b, name, **kw))
    return oid


async def new_dict(b: Any) -> str:
    oid: str = await ar(helpers(b).new_dict(b))
    return oid


async def put(b: Any, oid: str, items: list[bytes], part: bytes = b"", **kw: Any) -> PutStatus:
    status: PutStatus = await ar(helpers(b).put(b, oid, items, part, **kw))
    return status


async def submit(b: Any, **kw: Any) -> str:
    call_id: str = await ar(helpers(b).submit(b, **kw))
    return call_id


async def claim(b: Any, **kw: Any) -> list[Any]:
    calls: list[Any] = await ar(helpers(b).claim(b, **kw))
    return calls


# -- clock ----------------------------------------------------------------------------------


async def test_server_clock_not_client_clock(b: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    eph = await new_queue(b, None, ephemeral_ttl=5)
    q = await new_queue(b)
    await put(b, q, [b"x"], ttl=5)
    assert await ar(b.collect_garbage()) == 0
    assert await ar(b.get_object(eph)) is not None
    assert await ar(b.queue_len(q, b"")) == 1
    assert abs(await ar(b.now()) - real()) < 2
    assert abs((await ar(b.get_object(q))).created_at - real()) < 2
    [part] = await ar(b.queue_partitions(q))
    assert abs(part.expires_at - (real() + 5)) < 2


# -- connections, URLs, errors ----------------------------------------------------------------


def test_url_rewriting() -> None:
    assert redis_py_url("valkey://h:1/2?prefix=p:&db=3") == ("redis://h:1/2?db=3", False, {"prefix": "p:"})
    assert redis_py_url("valkeys://u:pw@h:1/0?ssl_cert_reqs=none") == (
        "rediss://u:pw@h:1/0?ssl_cert_reqs=none",
        False,
        {},
    )
    assert redis_py_url("rediss+cluster://h:1/0")[:2] == ("rediss://h:1/0", True)
    assert redis_py_url("redis+cluster://h:1")[:2] == ("redis://h:1", True)
    assert redis_py_url("unix:///tmp/v.sock?db=1&prefix=x:")[:2] == ("unix:///tmp/v.sock?db=1", False)


async def test_unix_socket_and_valkey_scheme(server: RedisServer) -> None:
    prefix = f"u{uuid.uuid4().hex[:8]}:"
    sock = server.unix_socket  # type: ignore[attr-defined]
    a = AsyncRedisBackend(settings(f"unix://{sock}?prefix={prefix}"))
    s = RedisBackend(settings(f"valkey://127.0.0.1:{server.port}/0?prefix={prefix}"))
    try:
        q = await new_queue(a)
        await put(a, q, [b"via-unix"])
        assert s.queue_get(q, b"", 1, wait=0) == [b"via-unix"]
        with redis.Redis(port=server.port) as raw:  # the prefix really is the key prefix
            assert raw.exists(f"{prefix}{{{q}}}:m".encode()) == 1
    finally:
        await a.aclose()
        s.close()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_connection_refused_is_backend_unavailable(flavour: str) -> None:
    st = settings(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    backend = make(flavour, st)
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=re.escape("127.0.0.1")):
        await ar(backend.queue_len("qu-x", None))
    assert time.monotonic() - start < st.timeout + 1
    await close(backend)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_paused_server_fails_within_timeout(flavour: str) -> None:
    with redis_server() as srv:
        st = settings(srv.url, timeout=1.0)
        backend = make(flavour, st)
        await ar(backend.ping())
        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            for call in (backend.ping, lambda: backend.queue_get("qu-x", b"", 1, wait=0.5)):
                start = time.monotonic()
                with pytest.raises(BackendUnavailableError):
                    await ar(call())
                # A blocking get may use its wait on top of the timeout.
                assert time.monotonic() - start < st.timeout + 0.5 + 1.5
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
        await close(backend)


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RedisServer]:
    with redis_server(password="s3cret-pw") as srv:
        yield srv


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("userinfo", [":wrong-pw-123@", ""])
async def test_bad_credentials_are_auth_error(auth_server: RedisServer, flavour: str, userinfo: str) -> None:
    url = f"redis://{userinfo}127.0.0.1:{auth_server.port}/0"
    backend = make(flavour, settings(url))
    with pytest.raises(AuthError) as err:
        await ar(backend.get_object("qu-x"))
    assert "wrong-pw-123" not in str(err.value) and "s3cret" not in str(err.value)
    assert f"127.0.0.1:{auth_server.port}" in str(err.value)
    await close(backend)
    good = RedisBackend(settings(auth_server.url))
    good.ping()
    good.close()


@pytest.fixture(scope="module")
def cluster_server() -> Iterator[RedisServer]:
    """A one-node Redis Cluster owning every slot: real cluster routing and slot checks."""
    # An explicit bus port: the default, port + 10000, may be taken or beyond 65535.
    bus = ("--cluster-port", str(free_port()))
    with redis_server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", *bus) as srv:
        with redis.Redis(port=srv.port) as r:
            r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + 10
            while b"cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
                assert time.monotonic() < deadline, "cluster did not come up"
                time.sleep(0.05)
        yield srv


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_cluster(cluster_server: RedisServer, flavour: str) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster_server.port}/0?prefix=c{uuid.uuid4().hex[:8]}:"
    b = make(flavour, settings(url))
    q = await new_queue(b)
    assert await put(b, q, [b"1", b"2"], part=b"p") is PutStatus.OK
    assert await ar(b.queue_get(q, b"p", 5, wait=0.1)) == [b"1", b"2"]
    start = time.monotonic()
    assert await ar(b.queue_get(q, b"p", 2, wait=0.3)) == []
    assert time.monotonic() - start >= 0.25
    d = await new_dict(b)
    await ar(b.kv_put(d, [(b"a", b"1"), (b"b", b"2")], only_new=False))
    assert await ar(b.kv_scan(d, b"a", 5)) == [(b"b", b"2")]
    eph = await new_queue(b, None, ephemeral_ttl=0.1)
    await asyncio.sleep(0.2)
    assert await ar(b.collect_garbage()) == 1
    assert await ar(b.get_object(eph)) is None
    assert [i.id for i in await ar(b.list_objects(Kind.QUEUE, ENV))] == [q]
    assert await ar(b.delete_object(q)) is True
    await close(b)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_cluster_jobs(cluster_server: RedisServer, flavour: str) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster_server.port}/0?prefix=c{uuid.uuid4().hex[:8]}:"
    b = make(flavour, settings(url))
    await ar(b.job_deploy(ENV, APP, [(FN, b"{}")]))
    assert [f.name for f in await ar(b.job_functions(ENV))] == [FN]
    c = await submit(b, idempotency_key="k")
    assert await submit(b, idempotency_key="k") == c
    await ar(b.job_wait_for_work(ENV, APP, [FN, "g"], wait=0.1))
    [got] = await claim(b, lease=0.1, max_lost=0)
    assert await ar(b.job_heartbeat(c, got.attempts, 10)) is True
    assert await ar(b.job_retry(c, got.attempts, delay=0, error="E")) is True
    [got] = await claim(b)
    assert await ar(b.job_release(c, got.attempts)) is True
    [got] = await claim(b)
    assert await ar(b.job_finish(c, got.attempts, CallState.SUCCEEDED, b"r")) is True
    await ar(b.job_wait(c, wait=1))
    rec = await ar(b.job_get(c))
    assert rec is not None and rec.result == b"r"
    d = await submit(b)
    start = time.monotonic()
    await ar(b.job_wait(d, wait=0.2))
    assert time.monotonic() - start >= 0.18
    assert await ar(b.job_cancel(d, result=b"")) is True
    assert [r.id for r in await ar(b.job_list(ENV))] == [d, c]
    assert [r.id for r in await ar(b.job_list(ENV, app=APP, function=FN))] == [d, c]
    assert await ar(b.job_stats(ENV, APP, FN)) == FunctionStats(succeeded=1, cancelled=1)
    await ar(b.worker_beat(ENV, "w", b"{}", ttl=30))
    assert await ar(b.worker_list(ENV)) == [("w", b"{}")]
    await ar(b.collect_garbage())
    await close(b)


# -- jobs: the keys behind a call -----------------------------------------------------------------


async def test_records_vanish_after_the_tombstone(b: Any, url: str) -> None:
    """The contract half (the record is gone after CALL_TOMBSTONE) runs on every backend in
    test_backend_contract_jobs.py; this is the Redis half: which keys expire and get swept."""
    kept = await submit(b)
    gone = await submit(b, result_ttl=0.1)
    await claim(b, n=2)
    assert await ar(b.job_finish(gone, 1, CallState.SUCCEEDED, b"r")) is True
    # The function's slot (the helpers' ids are not chute's: their records live there).
    sk = rk.job_keys(url.split("prefix=")[1]).of_function(ENV, APP, FN)
    with redis.Redis.from_url(url.split("?")[0]) as raw:
        ttl_ms = raw.pttl(sk.call(gone))
        assert 0 < ttl_ms <= (24 * 3600 + 1) * 1000  # native expiry as a fallback
        # Pretend the tombstone period is over.
        (member,) = raw.zrange(sk.tomb, 0, -1)
        raw.zadd(sk.tomb, {member: 1})
        assert await ar(b.collect_garbage()) == 0  # call records are not counted as objects
        assert not raw.exists(sk.call(gone), sk.done(gone))
        assert raw.zscore(sk.fn(ENV, APP, FN) + b"all", gone) is None
        # The locator of the swept call (its id names another slot) is gone too.
        assert not raw.exists(rk.job_keys(url.split("prefix=")[1]).shard(home_tag(gone)).loc(gone))
    assert await ar(b.job_get(gone)) is None
    assert [r.id for r in await ar(b.job_list(ENV))] == [kept]
    assert await ar(b.job_stats(ENV, APP, FN)) == FunctionStats(running=1)


# -- eviction policy ------------------------------------------------------------------------------


def test_evicting_server_is_reported_at_first_use() -> None:
    from chute.exception import DurabilityWarning

    server = start_redis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    try:
        b = RedisBackend(settings(server.url))
        try:
            with pytest.warns(DurabilityWarning, match="allkeys-lru.*noeviction"):
                b.list_objects(Kind.QUEUE, "main")
            b.list_objects(Kind.QUEUE, "main")  # once per backend, not per call
        finally:
            b.close()
    finally:
        server.stop()


def test_noeviction_server_is_not_reported(redis_srv: RedisServer) -> None:
    import warnings

    b = RedisBackend(settings(redis_srv.url))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            b.list_objects(Kind.QUEUE, "main")
    finally:
        b.close()
