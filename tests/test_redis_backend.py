"""The Redis backend on its own, against real valkey-server processes: both the async source
(``AsyncRedisBackend``) and its generated sync twin (``RedisBackend``)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis

from chute.backends._async.redis import AsyncRedisBackend, redis_py_url
from chute.backends._sync.redis import RedisBackend
from chute.backends.types import Kind, PutStatus
from chute.config import Settings
from chute.exception import AuthError, BackendUnavailableError, NotFoundError
from tests._servers import RedisServer, free_port, start_redis

BIG = 1000


@contextlib.contextmanager
def redis_server(*extra: str, password: str | None = None) -> Iterator[RedisServer]:
    """A valkey-server on a free loopback port; failing to start raises (never skips)."""
    srv = start_redis(*extra, password=password)
    try:
        yield srv
    finally:
        srv.stop()
        if srv.proc.stderr is not None:  # stop() leaves the pipe open: a ResourceWarning
            srv.proc.stderr.close()


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


async def close(backend: Any) -> None:
    await ar(backend.aclose() if isinstance(backend, AsyncRedisBackend) else backend.close())


@pytest.fixture(params=["async", "sync"])
async def b(request: pytest.FixtureRequest, url: str) -> AsyncIterator[Any]:
    backend = make(request.param, settings(url))
    yield backend
    await close(backend)


@pytest.fixture
def other(url: str) -> Iterator[RedisBackend]:
    """A second, sync client of the same store, for use from other threads."""
    backend = RedisBackend(settings(url))
    yield backend
    backend.close()


async def new_queue(b: Any, name: str | None = "q", **kw: Any) -> str:
    oid = f"qu-{uuid.uuid4().hex[:16]}"
    info, created = await ar(b.create_object(Kind.QUEUE, "main", name, object_id=oid, **kw))
    assert created and info.id == oid
    return oid


async def new_dict(b: Any) -> str:
    oid = f"di-{uuid.uuid4().hex[:16]}"
    await ar(b.create_object(Kind.DICT, "main", "d", object_id=oid))
    return oid


async def put(b: Any, oid: str, items: list[bytes], part: bytes = b"", **kw: Any) -> PutStatus:
    opts: dict[str, Any] = {"ttl": 60.0, "max_items": BIG, "max_partitions": BIG} | kw
    status: PutStatus = await ar(b.queue_put(oid, part, items, **opts))
    return status


def later(delay: float, fn: Any, *args: Any, **kw: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        fn(*args, **kw)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# -- queues ----------------------------------------------------------------------------------


async def test_fifo_single_and_batches(b: Any) -> None:
    q = await new_queue(b)
    assert await put(b, q, [b"a", b"b"]) is PutStatus.OK
    assert await put(b, q, [b"c", b"d", b"e"]) is PutStatus.OK
    assert await ar(b.queue_get(q, b"", 1, wait=0)) == [b"a"]
    assert await ar(b.queue_get(q, b"", 3, wait=0)) == [b"b", b"c", b"d"]
    assert await ar(b.queue_get(q, b"", 10, wait=1)) == [b"e"]
    assert await ar(b.queue_get(q, b"", 10, wait=0)) == []
    assert await ar(b.queue_len(q, None)) == 0


async def test_partitions_are_independent(b: Any) -> None:
    q = await new_queue(b)
    await put(b, q, [b"1"], part=b"x")
    await put(b, q, [b"2", b"3"], part=b"y")
    await put(b, q, [b"0"])
    assert await ar(b.queue_len(q, b"y")) == 2
    assert await ar(b.queue_len(q, None)) == 4
    parts = await ar(b.queue_partitions(q))
    assert [(p.key, p.length) for p in parts] == [(b"", 1), (b"x", 1), (b"y", 2)]
    assert all(abs(p.expires_at - time.time() - 60) < 5 for p in parts)
    await ar(b.queue_clear(q, b"y"))
    assert await ar(b.queue_len(q, b"y")) == 0
    assert [p.key for p in await ar(b.queue_partitions(q))] == [b"", b"x"]
    await ar(b.queue_clear(q, None))
    assert await ar(b.queue_partitions(q)) == []
    assert await ar(b.queue_get(q, b"x", 1, wait=0)) == []


@pytest.mark.parametrize("n", [1, 3])
async def test_blocking_get_woken_by_put_from_other_thread(b: Any, other: RedisBackend, n: int) -> None:
    q = await new_queue(b)
    t = later(0.2, other.queue_put, q, b"", [b"x", b"y"], ttl=60, max_items=BIG, max_partitions=BIG)
    start = time.monotonic()
    got = await ar(b.queue_get(q, b"", n, wait=5))
    elapsed = time.monotonic() - start
    t.join()
    assert got == [b"x", b"y"][:n]
    assert 0.15 < elapsed < 0.9


@pytest.mark.parametrize("n", [1, 3])
async def test_blocking_get_times_out_after_wait(b: Any, n: int) -> None:
    q = await new_queue(b)
    start = time.monotonic()
    assert await ar(b.queue_get(q, b"", n, wait=0.5)) == []
    assert 0.45 <= time.monotonic() - start < 1.5


async def test_full_stores_nothing(b: Any) -> None:
    q = await new_queue(b)
    assert await put(b, q, [b"1", b"2"], max_items=3) is PutStatus.OK
    assert await put(b, q, [b"3", b"4"], max_items=3) is PutStatus.FULL
    assert await put(b, q, [b"5", b"6", b"7", b"8"], part=b"new", max_items=3) is PutStatus.FULL
    assert await ar(b.queue_len(q, None)) == 2
    assert [p.key for p in await ar(b.queue_partitions(q))] == [b""]
    assert await put(b, q, [b"3"], max_items=3) is PutStatus.OK
    assert await ar(b.queue_get(q, b"", 5, wait=0)) == [b"1", b"2", b"3"]


async def test_too_many_partitions_stores_nothing(b: Any) -> None:
    q = await new_queue(b)
    assert await put(b, q, [b"a"], part=b"a", max_partitions=2) is PutStatus.OK
    assert await put(b, q, [b"b"], part=b"b", max_partitions=2) is PutStatus.OK
    assert await put(b, q, [b"c"], part=b"c", max_partitions=2) is PutStatus.TOO_MANY_PARTITIONS
    assert await put(b, q, [b"a2"], part=b"a", max_partitions=2) is PutStatus.OK  # existing: fine
    assert await ar(b.queue_len(q, b"c")) == 0
    assert await ar(b.queue_len(q, None)) == 3
    await ar(b.queue_clear(q, b"b"))  # a cleared partition no longer counts
    assert await put(b, q, [b"c"], part=b"c", max_partitions=2) is PutStatus.OK


async def test_partition_ttl_expiry(b: Any) -> None:
    q = await new_queue(b)
    await put(b, q, [b"old1", b"old2"], part=b"p", ttl=0.3, max_partitions=1)
    assert await ar(b.queue_len(q, b"p")) == 2
    await asyncio.sleep(0.5)
    assert await ar(b.queue_len(q, b"p")) == 0
    assert await ar(b.queue_len(q, None)) == 0
    assert await ar(b.queue_partitions(q)) == []
    assert await ar(b.queue_get(q, b"p", 5, wait=0)) == []
    assert await ar(b.queue_scan(q, b"p", 0, 10)) == []
    # The expired partition no longer counts against max_partitions, and comes back empty.
    assert await put(b, q, [b"new"], part=b"other", max_partitions=1) is PutStatus.OK
    await ar(b.queue_clear(q, b"other"))
    assert await put(b, q, [b"new"], part=b"p", ttl=10, max_partitions=1) is PutStatus.OK
    assert await ar(b.queue_get(q, b"p", 5, wait=0)) == [b"new"]


async def test_each_put_resets_partition_ttl(b: Any) -> None:
    q = await new_queue(b)
    await put(b, q, [b"1"], ttl=0.4)
    await asyncio.sleep(0.25)
    await put(b, q, [b"2"], ttl=0.4)
    await asyncio.sleep(0.25)
    assert await ar(b.queue_len(q, b"")) == 2


async def test_scan_resumes_after_concurrent_gets(b: Any) -> None:
    q = await new_queue(b)
    await put(b, q, [bytes([i]) for i in range(10)])
    first = await ar(b.queue_scan(q, b"", 0, 3))
    assert [item for _, item in first] == [b"\x00", b"\x01", b"\x02"]
    seqs = [s for s, _ in first]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert len(await ar(b.queue_get(q, b"", 5, wait=0))) == 5  # removes 3 seen + 2 unseen
    rest = await ar(b.queue_scan(q, b"", seqs[-1], 100))
    assert [item for _, item in rest] == [bytes([i]) for i in range(5, 10)]
    assert await ar(b.queue_scan(q, b"", rest[-1][0], 100)) == []
    await put(b, q, [b"late"])
    late = await ar(b.queue_scan(q, b"", rest[-1][0], 100))
    assert [item for _, item in late] == [b"late"] and late[0][0] > rest[-1][0]
    assert await ar(b.queue_len(q, b"")) == 6  # scanning removed nothing


async def test_seq_never_reused_after_clear(b: Any) -> None:
    q = await new_queue(b)
    await put(b, q, [b"a", b"b"])
    (last, _), *_ = await ar(b.queue_scan(q, b"", 1, 10))
    await ar(b.queue_clear(q, None))
    await put(b, q, [b"c"])
    [(seq, item)] = await ar(b.queue_scan(q, b"", 0, 10))
    assert item == b"c" and seq > last


async def test_queue_wait_returns_on_change_or_after_wait(b: Any, other: RedisBackend) -> None:
    q = await new_queue(b)
    start = time.monotonic()
    await ar(b.queue_wait(q, b"", wait=0.3, for_space=False))
    assert 0.28 <= time.monotonic() - start < 1.0
    t = later(0.1, other.queue_put, q, b"", [b"x"], ttl=60, max_items=BIG, max_partitions=BIG)
    start = time.monotonic()
    await ar(b.queue_wait(q, b"", wait=5, for_space=False))
    assert time.monotonic() - start < 0.5
    t.join()
    t = later(0.1, other.queue_get, q, b"", 1, wait=0)
    start = time.monotonic()
    await ar(b.queue_wait(q, b"", wait=5, for_space=True))
    assert time.monotonic() - start < 0.5
    t.join()


async def test_deleted_queue_raises_not_found(b: Any) -> None:
    q = await new_queue(b)
    await put(b, q, [b"x"], part=b"p")
    assert await ar(b.delete_object(q)) is True
    assert await ar(b.delete_object(q)) is False
    assert await ar(b.get_object(q)) is None
    assert await ar(b.lookup_object(Kind.QUEUE, "main", "q")) is None
    calls: list[Callable[[], Any]] = [
        lambda: b.queue_put(q, b"", [b"x"], ttl=60, max_items=BIG, max_partitions=BIG),
        lambda: b.queue_get(q, b"p", 1, wait=0),
        lambda: b.queue_get(q, b"p", 2, wait=0.2),
        lambda: b.queue_len(q, None),
        lambda: b.queue_len(q, b"p"),
        lambda: b.queue_clear(q, None),
        lambda: b.queue_scan(q, b"p", 0, 10),
        lambda: b.queue_partitions(q),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=q):
            await ar(call())


async def test_blocked_get_notices_deletion(b: Any, other: RedisBackend) -> None:
    q = await new_queue(b)
    t = later(0.1, other.delete_object, q)
    with pytest.raises(NotFoundError):
        await ar(b.queue_get(q, b"", 1, wait=0.5))
    t.join()


# -- registry and ephemeral objects -------------------------------------------------------------


async def test_create_lookup_list(b: Any) -> None:
    ids = []
    for name in ["a", "b", "c"]:
        ids.append(await new_queue(b, name, created_by="me", max_items=7))
        await asyncio.sleep(0.01)
    info, created = await ar(b.create_object(Kind.QUEUE, "main", "b", object_id="qu-other"))
    assert not created and info.id == ids[1]
    assert await ar(b.get_object("qu-other")) is None
    found = await ar(b.lookup_object(Kind.QUEUE, "main", "a"))
    assert (found.id, found.name, found.created_by, found.max_items, found.ephemeral) == (
        ids[0],
        "a",
        "me",
        7,
        False,
    )
    assert abs(found.created_at - time.time()) < 5
    assert await ar(b.lookup_object(Kind.DICT, "main", "a")) is None
    assert await ar(b.lookup_object(Kind.QUEUE, "other", "a")) is None
    listed = await ar(b.list_objects(Kind.QUEUE, "main"))
    assert [i.name for i in listed] == ["c", "b", "a"]
    assert [i.name for i in await ar(b.list_objects(Kind.QUEUE, "main", limit=2))] == ["c", "b"]
    before = await ar(b.list_objects(Kind.QUEUE, "main", created_before=listed[0].created_at))
    assert [i.name for i in before] == ["b", "a"]
    assert await ar(b.list_objects(Kind.DICT, "main")) == []
    await ar(b.delete_object(ids[1]))
    assert [i.name for i in await ar(b.list_objects(Kind.QUEUE, "main"))] == ["c", "a"]


def test_racing_creators_get_one_object(url: str) -> None:
    backends = [RedisBackend(settings(url)) for _ in range(8)]
    results: list[tuple[Any, bool]] = []
    barrier = threading.Barrier(len(backends))

    def create(backend: RedisBackend, i: int) -> None:
        barrier.wait()
        results.append(backend.create_object(Kind.DICT, "main", "race", object_id=f"di-{i}"))

    threads = [threading.Thread(target=create, args=(bk, i)) for i, bk in enumerate(backends)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in results) == 1
    assert len({info.id for info, _ in results}) == 1
    winner = results[0][0].id
    # The losers' markers are gone: only the winner's id is usable.
    for i in range(len(backends)):
        oid = f"di-{i}"
        if oid != winner:
            with pytest.raises(NotFoundError):
                backends[0].kv_len(oid)
    assert backends[0].kv_len(winner) == 0
    for bk in backends:
        bk.close()


async def test_ephemeral_gc(b: Any) -> None:
    keep = await new_queue(b, None, ephemeral_ttl=0.4)
    drop = await new_queue(b, None, ephemeral_ttl=0.4)
    named = await new_queue(b, "durable")
    await put(b, drop, [b"x"], part=b"p")
    info = await ar(b.get_object(keep))
    assert info.ephemeral and info.name is None
    assert [i.id for i in await ar(b.list_objects(Kind.QUEUE, "main"))] == [named]
    assert await ar(b.collect_garbage()) == 0
    await asyncio.sleep(0.25)
    assert await ar(b.heartbeat(keep, 0.4)) is True
    assert await ar(b.heartbeat(named, 0.4)) is False  # not ephemeral
    await asyncio.sleep(0.25)
    assert await ar(b.collect_garbage()) == 1
    assert await ar(b.get_object(drop)) is None
    with pytest.raises(NotFoundError):
        await ar(b.queue_len(drop, None))
    assert await ar(b.heartbeat(drop, 10)) is False
    assert await ar(b.get_object(keep)) is not None
    await asyncio.sleep(0.3)
    assert await ar(b.collect_garbage()) == 1
    assert await ar(b.get_object(keep)) is None
    assert await ar(b.get_object(named)) is not None


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


# -- key/value -------------------------------------------------------------------------------


async def test_kv_ops(b: Any) -> None:
    d = await new_dict(b)
    assert await ar(b.kv_get(d, b"k")) is None
    assert await ar(b.kv_put(d, [(b"k", b"1"), (b"j", b"2")], only_new=False)) is True
    assert await ar(b.kv_get(d, b"k")) == b"1"
    assert await ar(b.kv_contains(d, b"j")) is True
    assert await ar(b.kv_contains(d, b"zz")) is False
    assert await ar(b.kv_put(d, [(b"k", b"new")], only_new=True)) is False
    assert await ar(b.kv_get(d, b"k")) == b"1"
    assert await ar(b.kv_put(d, [(b"n", b"3")], only_new=True)) is True
    assert await ar(b.kv_put(d, [(b"k", b"9")], only_new=False)) is True
    assert await ar(b.kv_get(d, b"k")) == b"9"
    assert await ar(b.kv_len(d)) == 3
    assert await ar(b.kv_pop(d, b"k")) == b"9"
    assert await ar(b.kv_pop(d, b"k")) is None
    assert await ar(b.kv_len(d)) == 2
    assert [k for k, _ in await ar(b.kv_scan(d, None, 10))] == [b"j", b"n"]
    await ar(b.kv_clear(d))
    assert await ar(b.kv_len(d)) == 0
    assert await ar(b.kv_scan(d, None, 10)) == []
    assert await ar(b.kv_put(d, [(b"k", b"again")], only_new=True)) is True


async def test_kv_scan_bytewise_order_and_paging(b: Any) -> None:
    d = await new_dict(b)
    keys = [bytes([i, j]) for i in (0, 1, 127, 128, 255) for j in (0, 255)] + [b"a", b"ab", b"b"]
    await ar(b.kv_put(d, [(k, k + b"!") for k in keys], only_new=False))
    seen: list[bytes] = []
    after = None
    while True:
        page = await ar(b.kv_scan(d, after, 4))
        if not page:
            break
        for k, v in page:
            assert v == (b"x" if k == b"\xff\xff\xff" else k + b"!")
        seen += [k for k, _ in page]
        after = page[-1][0]
        if len(seen) == 4:  # changes during the scan: a later key appears, an earlier one no-op
            await ar(b.kv_put(d, [(b"\xff\xff\xff", b"x"), (b"\x00", b"y")], only_new=False))
            await ar(b.kv_pop(d, keys[0]))
    assert seen == sorted([*keys, b"\xff\xff\xff"])


async def test_kv_deleted_dict_raises_not_found(b: Any) -> None:
    d = await new_dict(b)
    await ar(b.kv_put(d, [(b"k", b"v")], only_new=False))
    assert await ar(b.delete_object(d)) is True
    calls: list[Callable[[], Any]] = [
        lambda: b.kv_get(d, b"k"),
        lambda: b.kv_contains(d, b"k"),
        lambda: b.kv_put(d, [(b"k", b"v")], only_new=False),
        lambda: b.kv_put(d, [(b"k", b"v")], only_new=True),
        lambda: b.kv_pop(d, b"k"),
        lambda: b.kv_len(d),
        lambda: b.kv_scan(d, None, 10),
        lambda: b.kv_clear(d),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            await ar(call())


# -- connections, URLs, errors ----------------------------------------------------------------


async def test_ping_and_now(b: Any) -> None:
    await ar(b.ping())
    assert abs(await ar(b.now()) - time.time()) < 2


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


@pytest.mark.parametrize("flavour", ["async", "sync"])
async def test_connection_refused_is_backend_unavailable(flavour: str) -> None:
    st = settings(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    backend = make(flavour, st)
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=re.escape("127.0.0.1")):
        await ar(backend.queue_len("qu-x", None))
    assert time.monotonic() - start < st.timeout + 1
    await close(backend)


@pytest.mark.parametrize("flavour", ["async", "sync"])
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


@pytest.mark.parametrize("flavour", ["async", "sync"])
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


@pytest.mark.parametrize("flavour", ["async", "sync"])
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
    assert [i.id for i in await ar(b.list_objects(Kind.QUEUE, "main"))] == [q]
    assert await ar(b.delete_object(q)) is True
    await close(b)


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
