"""Helpers of the backend contract suite (tests/_async/test_backend_contract_*.py).

SOURCE of tests/_sync/contract_helpers.py (scripts/unasync.py). Every ``job_submit`` and
``job_claim`` of the suite goes through ``submit`` and ``claim`` here, so a change of those
signatures is one edit.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis

from chute._url import redis_py_url
from chute.backends import _redis_keys as rk
from chute.backends._async.base import AsyncBackend
from chute.backends.types import (
    CALL_TOMBSTONE,
    CallRecord,
    CallState,
    ClaimRequest,
    Kind,
    PutStatus,
    SubmitRequest,
)

BIG = 1000  # a cap (items, partitions) no test reaches
ENV, APP, FN = "main", "app", "f"
LOST = "worker lost: the worker running this call stopped renewing its lease"


async def new_queue(b: AsyncBackend, name: str | None = "q", **kw: Any) -> str:
    oid = f"qu-{uuid.uuid4().hex[:16]}"
    info, created = await b.create_object(Kind.QUEUE, ENV, name, object_id=oid, **kw)
    assert created and info.id == oid
    return oid


async def new_dict(b: AsyncBackend, name: str | None = "d") -> str:
    oid = f"di-{uuid.uuid4().hex[:16]}"
    info, created = await b.create_object(Kind.DICT, ENV, name, object_id=oid)
    assert created and info.id == oid
    return oid


async def put(b: AsyncBackend, oid: str, items: list[bytes], part: bytes = b"", **kw: Any) -> PutStatus:
    opts: dict[str, Any] = {"ttl": 60.0, "max_items": BIG, "max_partitions": BIG} | kw
    return await b.queue_put(oid, part, items, **opts)


def cid() -> str:
    return f"fc-{uuid.uuid4().hex[:22]}"


async def submit(
    b: AsyncBackend,
    payload: bytes = b"args",
    *,
    fn: str = FN,
    app: str = APP,
    env: str = ENV,
    result_ttl: float = 60.0,
    idempotency_key: str | None = None,
    **control: Any,
) -> str:
    """Submit a call; returns the stored id (a new one unless ``idempotency_key`` was used).
    ``control``: SubmitRequest's job-control fields (delay, priority, concurrency_key, debounce)."""
    call_id = cid()
    req = SubmitRequest(env, app, fn, call_id, payload, result_ttl, idempotency_key, **control)
    stored = await b.job_submit(req)
    assert stored == call_id or idempotency_key is not None
    return stored


async def claim(
    b: AsyncBackend,
    worker: str = "w1",
    n: int = 1,
    *,
    fn: str = FN,
    app: str = APP,
    env: str = ENV,
    lease: float = 30.0,
    max_running: int | None = None,
    max_lost: int = 3,
    **control: Any,
) -> list[CallRecord]:
    """Claim; ``control``: ClaimRequest's job-control fields (rate_calls, rate_per, max_per_key)."""
    return await b.job_claim(ClaimRequest(env, app, fn, worker, n, lease, max_running, max_lost, **control))


async def state(b: AsyncBackend, call_id: str) -> CallState | None:
    rec = await b.job_get(call_id)
    return None if rec is None else rec.state


def later(delay: float, func: Any, /, *args: Any, **kw: Any) -> threading.Thread:
    """Call ``func(*args, **kw)`` on another thread after ``delay`` seconds (join the thread)."""

    def run() -> None:
        time.sleep(delay)
        func(*args, **kw)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def pass_the_tombstone_period(backend_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every finished call look older than ``CALL_TOMBSTONE`` to the backend, without
    waiting a day: SQLite's clock is this process's ``time.time``; Redis keeps each record's
    deadline in the ``tomb`` index of each slot in use (its clock is the server's)."""
    if backend_url.startswith("sqlite"):
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + CALL_TOMBSTONE + 60)
        return
    jk = rk.job_keys(backend_url.split("prefix=")[1])
    client_url, cluster, _ = redis_py_url(backend_url)
    raw_client: Any = redis.RedisCluster if cluster else redis.Redis
    with raw_client.from_url(client_url.split("?")[0]) as raw:
        for tag in raw.hkeys(jk.tags):
            tomb = jk.shard(tag.decode()).tomb
            members = raw.zrange(tomb, 0, -1)
            if members:
                raw.zadd(tomb, {member: 1 for member in members})
