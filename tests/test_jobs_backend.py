"""The backends' job (function call) methods on their own, on every backend (a real SQLite file
and a real valkey-server) through the generated sync backends, plus Redis specifics: the async
source's blocking paths, tombstone clean-up and a one-node Redis Cluster (slot checks)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import redis

from chute.backends import open_async_backend, open_backend
from chute.backends._sync import redis as redis_sync
from chute.backends._sync.base import Backend
from chute.backends._sync.redis import RedisBackend
from chute.backends.types import CallRecord, CallState, ClaimRequest, FunctionStats, SubmitRequest
from chute.config import Settings
from tests._servers import RedisServer, free_port, start_redis

ENV, APP, FN = "main", "app", "f"
LOST = "worker lost: the worker running this call stopped renewing its lease"


def new_url(server: RedisServer) -> str:
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def url(backend_url: str) -> str:
    return backend_url


@pytest.fixture
def redis_url(redis_srv: RedisServer) -> str:
    return new_url(redis_srv)


@pytest.fixture
def b(url: str) -> Iterator[Backend]:
    backend = open_backend(Settings.from_env(url=url))
    yield backend
    backend.close()


@pytest.fixture
def other(url: str) -> Iterator[Backend]:
    """A second client of the same store, for use from other threads."""
    backend = open_backend(Settings.from_env(url=url))
    yield backend
    backend.close()


def cid() -> str:
    return f"fc-{uuid.uuid4().hex[:22]}"


def submit(b: Any, payload: bytes = b"args", fn: str = FN, app: str = APP, **kw: Any) -> str:
    opts: dict[str, Any] = {"result_ttl": 60.0} | kw
    call_id = cid()
    stored: str = b.job_submit(SubmitRequest(ENV, app, fn, call_id, payload, **opts))
    assert stored == call_id or "idempotency_key" in kw
    return stored


def claim(b: Any, worker: str = "w1", n: int = 1, fn: str = FN, **kw: Any) -> list[CallRecord]:
    opts: dict[str, Any] = {"lease": 30.0, "max_running": None, "max_lost": 3} | kw
    claimed: list[CallRecord] = b.job_claim(ClaimRequest(ENV, APP, fn, worker, n=n, **opts))
    return claimed


def later(delay: float, func: Any, *args: Any, **kw: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        func(*args, **kw)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def state(b: Backend, call_id: str) -> CallState | None:
    rec = b.job_get(call_id)
    return None if rec is None else rec.state


# -- lifecycle ---------------------------------------------------------------------------------


def test_submit_claim_finish_get(b: Backend) -> None:
    before = b.now()
    c = submit(b, b"payload")
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.id, rec.env, rec.app, rec.function) == (c, ENV, APP, FN)
    assert (rec.state, rec.attempts, rec.failures, rec.lost) == (CallState.PENDING, 0, 0, 0)
    assert before <= rec.created_at <= b.now()
    assert rec.payload is None and rec.result is None and rec.worker is None and rec.started_at is None

    [got] = claim(b, "w1")
    assert (got.id, got.state, got.attempts, got.worker, got.payload) == (
        c,
        CallState.RUNNING,
        1,
        "w1",
        b"payload",
    )
    assert got.started_at is not None and got.started_at >= rec.created_at
    assert claim(b, "w2") == []
    assert b.job_heartbeat(c, 1, 30) is True

    assert b.job_finish(c, 1, CallState.SUCCEEDED, b"result") is True
    done = b.job_get(c)
    assert done is not None
    assert (done.state, done.result, done.payload, done.error) == (CallState.SUCCEEDED, b"result", None, None)
    assert done.finished_at is not None and done.expires_at is not None
    assert done.expires_at == pytest.approx(done.finished_at + 60, abs=0.01)
    # Terminal: nothing a worker does changes it any more.
    assert b.job_finish(c, 1, CallState.FAILED, b"x") is False
    assert b.job_heartbeat(c, 1, 30) is False
    assert b.job_retry(c, 1, delay=0, error="E") is False
    assert b.job_release(c, 1) is False
    assert b.job_cancel(c, result=b"c") is False
    assert b.job_get(c) == done


def test_failed_finish_counts_a_failure(b: Backend) -> None:
    c = submit(b)
    claim(b)
    assert b.job_finish(c, 1, CallState.FAILED, b"exc", error="ValueError: boom") is True
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.failures, rec.error, rec.result) == (
        CallState.FAILED,
        1,
        "ValueError: boom",
        b"exc",
    )
    with pytest.raises(ValueError):
        b.job_finish(c, 1, CallState.CANCELLED, b"")


def test_unknown_call(b: Backend) -> None:
    c = cid()
    assert b.job_get(c) is None
    assert b.job_heartbeat(c, 1, 10) is False
    assert b.job_finish(c, 1, CallState.SUCCEEDED, b"") is False
    assert b.job_retry(c, 1, delay=0, error="E") is False
    assert b.job_release(c, 1) is False
    assert b.job_cancel(c, result=b"") is False
    start = time.monotonic()
    b.job_wait(c, wait=2)  # nothing to wait for
    assert time.monotonic() - start < 0.5


def test_claim_is_fifo_and_batched(b: Backend) -> None:
    ids = [submit(b, str(i).encode()) for i in range(12)]
    assert [r.id for r in claim(b, n=3)] == ids[:3]
    got = claim(b, n=100)
    assert [r.id for r in got] == ids[3:]
    assert [r.payload for r in got] == [str(i).encode() for i in range(3, 12)]
    assert claim(b, n=5) == []


def test_functions_are_separate_queues(b: Backend) -> None:
    f = submit(b, fn="f")
    g = submit(b, fn="g")
    h = submit(b, fn="f", app="other")
    assert [r.id for r in claim(b, n=5, fn="g")] == [g]
    assert [r.id for r in claim(b, n=5, fn="f")] == [f]
    assert (
        b.job_claim(ClaimRequest(ENV, "other", "f", "w", n=5, lease=10, max_running=None, max_lost=0))[0].id
        == h
    )


def test_max_running_caps_claims(b: Backend) -> None:
    ids = [submit(b) for _ in range(5)]
    got = claim(b, n=5, max_running=2)
    assert [r.id for r in got] == ids[:2]
    assert claim(b, n=5, max_running=2) == []
    assert [r.id for r in claim(b, n=5, max_running=3)] == ids[2:3]
    assert b.job_finish(ids[0], 1, CallState.SUCCEEDED, b"") is True
    assert [r.id for r in claim(b, n=5, max_running=3)] == ids[3:4]
    assert claim(b, n=5, max_running=0) == []
    assert [r.id for r in claim(b, n=5)] == ids[4:]


# -- leases, fencing -----------------------------------------------------------------------------


def test_expired_lease_is_reclaimed_then_fails_after_max_lost(b: Backend) -> None:
    c = submit(b)
    [first] = claim(b, "w1", lease=0.2, max_lost=1)
    assert claim(b, "w2", lease=0.2, max_lost=1) == []  # lease still live
    time.sleep(0.35)
    [second] = claim(b, "w2", lease=0.2, max_lost=1)
    assert (second.id, second.attempts, second.lost, second.worker) == (c, 2, 1, "w2")
    assert second.payload == b"args"

    # The first worker's attempt is fenced off.
    assert b.job_heartbeat(c, first.attempts, 10) is False
    assert b.job_finish(c, first.attempts, CallState.SUCCEEDED, b"stale") is False
    assert b.job_retry(c, first.attempts, delay=0, error="E") is False
    assert b.job_release(c, first.attempts) is False
    assert state(b, c) is CallState.RUNNING

    # A heartbeat keeps the lease alive past its first deadline.
    for _ in range(3):
        time.sleep(0.1)
        assert b.job_heartbeat(c, 2, 0.2) is True
    assert claim(b, "w3", lease=0.2, max_lost=1) == []

    time.sleep(0.35)
    assert claim(b, "w3", lease=0.2, max_lost=1) == []  # lost twice > max_lost=1: failed
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.lost, rec.attempts, rec.failures) == (CallState.FAILED, 2, 2, 0)
    assert rec.error == f"{LOST} (2 lost attempts)"
    assert rec.result is None and rec.finished_at is not None and rec.expires_at is not None
    assert b.job_heartbeat(c, 2, 10) is False
    assert b.job_stats(ENV, APP, FN) == FunctionStats(failed=1)


def test_lost_call_keeps_its_place_in_line(b: Backend) -> None:
    old = submit(b)
    claim(b, lease=0.1)
    time.sleep(0.2)
    new = submit(b)
    assert [r.id for r in claim(b, n=1)] == [old]
    assert [r.id for r in claim(b, n=1)] == [new]


def test_retry_waits_out_its_delay(b: Backend) -> None:
    c = submit(b)
    claim(b)
    assert b.job_retry(c, 1, delay=0.4, error="ValueError: boom") is True
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.failures, rec.attempts, rec.error) == (CallState.PENDING, 1, 1, "ValueError: boom")
    assert rec.worker is None
    assert b.job_heartbeat(c, 1, 10) is False  # the attempt is over
    assert b.job_stats(ENV, APP, FN) == FunctionStats(pending=1)
    assert claim(b) == []
    time.sleep(0.15)
    assert claim(b) == []
    time.sleep(0.4)
    [again] = claim(b)
    assert (again.id, again.attempts, again.failures) == (c, 2, 1)
    assert b.job_finish(c, 1, CallState.SUCCEEDED, b"") is False  # the old attempt
    assert b.job_finish(c, 2, CallState.SUCCEEDED, b"ok") is True


def test_retried_call_keeps_its_place_in_line(b: Backend) -> None:
    old = submit(b)
    claim(b)
    assert b.job_retry(old, 1, delay=0.2, error="E") is True
    new = submit(b)
    assert [r.id for r in claim(b, n=1)] == [new]  # old is still backing off
    newer = submit(b)
    time.sleep(0.3)
    assert [r.id for r in claim(b, n=5)] == [old, newer]


def test_retry_with_no_delay_is_claimable_at_once(b: Backend) -> None:
    c = submit(b)
    claim(b)
    assert b.job_retry(c, 1, delay=0, error="E") is True
    assert [r.attempts for r in claim(b)] == [2]


def test_release_gives_the_call_back(b: Backend) -> None:
    c = submit(b)
    [got] = claim(b, "w1")
    later_call = submit(b)
    assert b.job_release(c, got.attempts) is True
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.attempts, rec.failures, rec.worker) == (CallState.PENDING, 0, 0, None)
    assert b.job_release(c, got.attempts) is False
    assert b.job_heartbeat(c, got.attempts, 10) is False
    # Back at its place by creation: before the newer call.
    assert [(r.id, r.attempts, r.worker) for r in claim(b, "w2", n=2)] == [
        (c, 1, "w2"),
        (later_call, 1, "w2"),
    ]


# -- cancel, expiry, idempotency ---------------------------------------------------------------


def test_cancel_pending(b: Backend) -> None:
    c = submit(b)
    assert b.job_cancel(c, result=b"cancelled-exc") is True
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.result, rec.attempts, rec.error) == (
        CallState.CANCELLED,
        b"cancelled-exc",
        0,
        "cancelled",
    )
    assert rec.finished_at is not None and rec.expires_at == pytest.approx(rec.finished_at + 60, abs=0.01)
    assert b.job_cancel(c, result=b"again") is False
    assert claim(b) == []
    assert b.job_stats(ENV, APP, FN) == FunctionStats(cancelled=1)


def test_cancel_running(b: Backend) -> None:
    c = submit(b)
    claim(b, max_running=1)
    waiting = submit(b)
    assert claim(b, max_running=1) == []
    assert b.job_cancel(c, result=b"x") is True
    assert b.job_heartbeat(c, 1, 10) is False
    assert b.job_finish(c, 1, CallState.SUCCEEDED, b"late") is False
    rec = b.job_get(c)
    assert rec is not None and (rec.state, rec.result) == (CallState.CANCELLED, b"x")
    # Its running slot is free again.
    assert [r.id for r in claim(b, max_running=1)] == [waiting]


def test_result_expires(b: Backend) -> None:
    c = submit(b, result_ttl=0.3)
    claim(b)
    assert b.job_finish(c, 1, CallState.SUCCEEDED, b"r") is True
    assert b.job_stats(ENV, APP, FN) == FunctionStats(succeeded=1)
    assert [r.state for r in b.job_list(ENV, state=CallState.SUCCEEDED)] == [CallState.SUCCEEDED]
    time.sleep(0.45)
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.result) == (CallState.EXPIRED, None)
    assert rec.finished_at is not None
    assert b.job_stats(ENV, APP, FN) == FunctionStats()
    assert b.job_list(ENV, state=CallState.SUCCEEDED) == []
    assert [r.id for r in b.job_list(ENV, state=CallState.EXPIRED)] == [c]
    b.collect_garbage()  # drops the result's bytes, keeps the tombstone
    assert b.job_get(c) == rec


def test_records_vanish_after_the_tombstone(redis_url: str) -> None:
    with closing(RedisBackend(Settings.from_env(url=redis_url))) as b:
        _records_vanish_after_the_tombstone(b, redis_url)


def _records_vanish_after_the_tombstone(b: Backend, url: str) -> None:
    kept = submit(b)
    gone = submit(b, result_ttl=0.1)
    claim(b, n=2)
    assert b.job_finish(gone, 1, CallState.SUCCEEDED, b"r") is True
    tag = f"{url.split('prefix=')[1]}{{jobs}}:"
    with redis.Redis.from_url(url.split("?")[0]) as raw:
        ttl_ms = raw.pttl(f"{tag}call:{gone}")
        assert 0 < ttl_ms <= (24 * 3600 + 1) * 1000  # native expiry as a fallback
        # Pretend the tombstone period is over.
        (member,) = raw.zrange(f"{tag}tomb", 0, -1)
        raw.zadd(f"{tag}tomb", {member: 1})
        assert b.collect_garbage() == 0  # call records are not counted as objects
        assert not raw.exists(f"{tag}call:{gone}", f"{tag}done:{gone}")
        assert raw.zscore(f"{tag}calls:{ENV}", gone) is None
        assert raw.zscore(f"{tag}f:{ENV}:{APP}:{FN}:all", gone) is None
    assert b.job_get(gone) is None
    assert [r.id for r in b.job_list(ENV)] == [kept]
    assert b.job_stats(ENV, APP, FN) == FunctionStats(running=1)


def test_idempotency_key(b: Backend) -> None:
    first = submit(b, idempotency_key="k1")
    assert submit(b, idempotency_key="k1") == first
    assert submit(b, idempotency_key="k2") != first
    assert submit(b, fn="g", idempotency_key="k1") != first  # per function
    assert submit(b) != first
    assert len(b.job_list(ENV, app=APP, function=FN)) == 3
    # Still the same call while it runs, whatever the TTL...
    short = submit(b, idempotency_key="short", result_ttl=0.2)
    time.sleep(0.3)
    assert submit(b, idempotency_key="short", result_ttl=0.2) == short
    # ...and until its result expires.
    claimed = {r.id: r for r in claim(b, n=10)}
    assert b.job_finish(short, claimed[short].attempts, CallState.SUCCEEDED, b"") is True
    assert submit(b, idempotency_key="short", result_ttl=0.2) == short
    time.sleep(0.35)
    assert submit(b, idempotency_key="short", result_ttl=0.2) != short


# -- blocking --------------------------------------------------------------------------------------


def test_job_wait_wakes_every_waiter_when_the_call_ends(b: Backend, other: Backend) -> None:
    c = submit(b)
    claim(b)
    elapsed: list[float] = []

    def waiter() -> None:
        with closing(open_backend(b.settings)) as mine:
            start = time.monotonic()
            mine.job_wait(c, wait=5)
            elapsed.append(time.monotonic() - start)

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    threads.append(later(0.3, other.job_finish, c, 1, CallState.SUCCEEDED, b"r"))
    start = time.monotonic()
    b.job_wait(c, wait=5)
    elapsed.append(time.monotonic() - start)
    for t in threads:
        t.join()
    assert len(elapsed) == 4
    assert all(0.2 < e < 1.0 for e in elapsed), elapsed
    # Terminal: returns at once, again and again.
    for _ in range(2):
        start = time.monotonic()
        b.job_wait(c, wait=5)
        assert time.monotonic() - start < 0.2


def test_job_wait_wakes_on_cancel_and_times_out(b: Backend, other: Backend) -> None:
    c = submit(b)
    start = time.monotonic()
    b.job_wait(c, wait=0.3)
    assert 0.28 <= time.monotonic() - start < 1.0
    t = later(0.2, other.job_cancel, c, result=b"x")
    start = time.monotonic()
    b.job_wait(c, wait=5)
    t.join()
    assert 0.15 < time.monotonic() - start < 1.0


def test_job_wait_for_work(b: Backend, other: Backend) -> None:
    start = time.monotonic()
    b.job_wait_for_work(ENV, APP, [FN, "g"], wait=0.3)
    assert 0.28 <= time.monotonic() - start < 1.0
    t = later(0.3, submit, other, fn="g")
    start = time.monotonic()
    b.job_wait_for_work(ENV, APP, [FN, "g"], wait=5)
    t.join()
    assert 0.25 < time.monotonic() - start < 1.0
    assert len(claim(b, fn="g")) == 1
    # A call of another function does not wake us.
    t = later(0.1, submit, other, fn="h")
    start = time.monotonic()
    b.job_wait_for_work(ENV, APP, [FN], wait=0.4)
    t.join()
    assert time.monotonic() - start >= 0.38
    # A release makes the call claimable again: that wakes a waiter too.
    c = submit(b)
    [got] = claim(b)
    b.job_wait_for_work(ENV, APP, [FN], wait=0)  # never blocks
    b.job_wait_for_work(ENV, APP, [FN], wait=0.05)  # consume the submit's token
    t = later(0.2, other.job_release, c, got.attempts)
    start = time.monotonic()
    b.job_wait_for_work(ENV, APP, [FN], wait=5)
    t.join()
    assert 0.15 < time.monotonic() - start < 1.0
    start = time.monotonic()
    b.job_wait_for_work(ENV, APP, [], wait=0.2)
    assert time.monotonic() - start >= 0.19


# -- listing, stats, deploy ------------------------------------------------------------------------


def test_job_list_and_stats(b: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    a1 = submit(b, fn="f")
    a2 = submit(b, fn="g")
    a3 = submit(b, fn="f", app="other")
    a4 = submit(b, fn="f")
    a5 = submit(b, fn="f")
    other_env = b.job_submit(SubmitRequest("dev", APP, "f", cid(), b"", result_ttl=60))
    [r1] = claim(b, fn="f")
    assert r1.id == a1
    assert b.job_finish(a1, 1, CallState.FAILED, b"e", error="E: x") is True
    [r4] = claim(b, fn="f")
    assert r4.id == a4

    listed = b.job_list(ENV)
    assert [r.id for r in listed] == [a5, a4, a3, a2, a1]
    assert all(r.payload is None and r.result is None for r in listed)
    assert listed[4].error == "E: x"
    assert [r.id for r in b.job_list(ENV, limit=2)] == [a5, a4]
    assert b.job_list(ENV, limit=0) == []
    assert [r.id for r in b.job_list(ENV, app=APP)] == [a5, a4, a2, a1]
    assert [r.id for r in b.job_list(ENV, function="f")] == [a5, a4, a3, a1]
    assert [r.id for r in b.job_list(ENV, app=APP, function="f")] == [a5, a4, a1]
    assert [r.id for r in b.job_list(ENV, app=APP, function="f", limit=1)] == [a5]
    assert [r.id for r in b.job_list(ENV, state=CallState.PENDING)] == [a5, a3, a2]
    assert [r.id for r in b.job_list(ENV, app=APP, function="f", state=CallState.RUNNING)] == [a4]
    assert [r.id for r in b.job_list(ENV, state=CallState.FAILED)] == [a1]
    assert [r.id for r in b.job_list("dev")] == [other_env]
    assert b.job_list("nope") == []

    # Paging through the index in small batches gives the same answers.
    monkeypatch.setattr(redis_sync, "_LIST_BATCH", 2)
    assert [r.id for r in b.job_list(ENV)] == [a5, a4, a3, a2, a1]
    assert [r.id for r in b.job_list(ENV, state=CallState.PENDING, limit=2)] == [a5, a3]
    assert [r.id for r in b.job_list(ENV, app="other")] == [a3]

    assert b.job_stats(ENV, APP, "f") == FunctionStats(pending=1, running=1, failed=1)
    assert b.job_stats(ENV, APP, "g") == FunctionStats(pending=1)
    assert b.job_stats(ENV, APP, "missing") == FunctionStats()
    assert b.job_cancel(a5, result=b"") is True
    assert b.job_finish(a4, 1, CallState.SUCCEEDED, b"") is True
    assert b.job_stats(ENV, APP, "f") == FunctionStats(succeeded=1, failed=1, cancelled=1)


def test_deploy_and_functions(b: Backend) -> None:
    assert b.job_functions(ENV) == []
    before = b.now()
    b.job_deploy(ENV, "app", [("f", b'{"v": 1}'), ("g", b'{"v": 1, "x": " y "}')])
    b.job_deploy(ENV, "zeta", [("a", b"{}")])
    b.job_deploy("dev", "app", [("f", b"{}")])
    fns = b.job_functions(ENV)
    assert [(f.env, f.app, f.name, f.spec) for f in fns] == [
        (ENV, "app", "f", b'{"v": 1}'),
        (ENV, "app", "g", b'{"v": 1, "x": " y "}'),
        (ENV, "zeta", "a", b"{}"),
    ]
    assert all(before <= f.deployed_at <= b.now() for f in fns)
    # A redeploy replaces every function of the app, and only of that app.
    b.job_deploy(ENV, "app", [("h", b'{"v": 2}'), ("f", b'{"v": 2}')])
    assert [(f.app, f.name, f.spec) for f in b.job_functions(ENV)] == [
        ("app", "f", b'{"v": 2}'),
        ("app", "h", b'{"v": 2}'),
        ("zeta", "a", b"{}"),
    ]
    assert [f.name for f in b.job_functions(ENV, "zeta")] == ["a"]
    assert b.job_functions(ENV, "none") == []
    b.job_deploy(ENV, "zeta", [])
    assert [f.app for f in b.job_functions(ENV)] == ["app", "app"]
    assert [(f.env, f.name) for f in b.job_functions("dev")] == [("dev", "f")]


# -- concurrency, async, cluster -------------------------------------------------------------------


def test_racing_claimers_never_share_an_attempt(url: str) -> None:
    with closing(open_backend(Settings.from_env(url=url))) as b:
        ids = {submit(b) for _ in range(200)}
    got: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        with closing(open_backend(Settings.from_env(url=url))) as mine:
            while batch := claim(mine, name, n=3, max_running=8):
                for r in batch:
                    assert mine.job_finish(r.id, r.attempts, CallState.SUCCEEDED, b"") is True
                with lock:
                    got.extend(r.id for r in batch)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


async def test_async_backend_blocking_paths(url: str) -> None:
    b = open_async_backend(Settings.from_env(url=url))
    other = open_backend(Settings.from_env(url=url))
    try:
        t = later(0.2, submit, other)
        start = time.monotonic()
        await b.job_wait_for_work(ENV, APP, [FN], wait=5)
        t.join()
        assert 0.15 < time.monotonic() - start < 1.0
        [got] = await b.job_claim(
            ClaimRequest(ENV, APP, FN, "w", n=1, lease=10, max_running=None, max_lost=0)
        )
        t = later(0.2, other.job_finish, got.id, got.attempts, CallState.SUCCEEDED, b"r")
        start = time.monotonic()
        await b.job_wait(got.id, wait=5)
        t.join()
        assert 0.15 < time.monotonic() - start < 1.0
        rec = await b.job_get(got.id)
        assert rec is not None and rec.result == b"r"
    finally:
        await b.aclose()
        other.close()


@pytest.fixture(scope="module")
def cluster_server() -> Iterator[RedisServer]:
    """A one-node Redis Cluster owning every slot: real cluster routing and slot checks."""
    srv = start_redis(
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port())
    )
    try:
        with redis.Redis(port=srv.port) as r:
            r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + 10
            while b"cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
                assert time.monotonic() < deadline, "cluster did not come up"
                time.sleep(0.05)
        yield srv
    finally:
        srv.stop()
        if srv.proc.stderr is not None:
            srv.proc.stderr.close()


def test_cluster(cluster_server: RedisServer) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster_server.port}/0?prefix=c{uuid.uuid4().hex[:8]}:"
    with closing(RedisBackend(Settings.from_env(url=url))) as b:
        b.job_deploy(ENV, APP, [(FN, b"{}")])
        assert [f.name for f in b.job_functions(ENV)] == [FN]
        c = submit(b, idempotency_key="k")
        assert submit(b, idempotency_key="k") == c
        b.job_wait_for_work(ENV, APP, [FN, "g"], wait=0.1)
        [got] = claim(b, lease=0.1, max_lost=0)
        assert b.job_heartbeat(c, got.attempts, 10) is True
        assert b.job_retry(c, got.attempts, delay=0, error="E") is True
        [got] = claim(b)
        assert b.job_release(c, got.attempts) is True
        [got] = claim(b)
        assert b.job_finish(c, got.attempts, CallState.SUCCEEDED, b"r") is True
        b.job_wait(c, wait=1)
        rec = b.job_get(c)
        assert rec is not None and rec.result == b"r"
        d = submit(b)
        start = time.monotonic()
        b.job_wait(d, wait=0.2)
        assert time.monotonic() - start >= 0.18
        assert b.job_cancel(d, result=b"") is True
        assert [r.id for r in b.job_list(ENV)] == [d, c]
        assert [r.id for r in b.job_list(ENV, app=APP, function=FN)] == [d, c]
        assert b.job_stats(ENV, APP, FN) == FunctionStats(succeeded=1, cancelled=1)
        b.collect_garbage()


def test_workers(b: Backend) -> None:
    assert b.worker_list(ENV) == []
    b.worker_beat(ENV, "w2", b'{"n": 2}', ttl=30)
    b.worker_beat(ENV, "w1", b'{"n": 1}', ttl=0.2)
    b.worker_beat("dev", "w3", b"{}", ttl=30)
    assert b.worker_list(ENV) == [("w1", b'{"n": 1}'), ("w2", b'{"n": 2}')]
    b.worker_beat(ENV, "w2", b'{"n": 22}', ttl=30)
    assert b.worker_list(ENV)[1] == ("w2", b'{"n": 22}')
    time.sleep(0.3)
    assert b.worker_list(ENV) == [("w2", b'{"n": 22}')]
    b.worker_gone(ENV, "w2")
    b.worker_gone(ENV, "never")
    assert b.worker_list(ENV) == []
    assert b.worker_list("dev") == [("w3", b"{}")]
