"""Queue behaviour, through the public API, on every backend.

SOURCE of tests/_sync/test_queue.py (scripts/unasync.py): each test runs as ``.aio`` here and
as plain blocking calls there.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import time
import types
from datetime import datetime, timedelta

import pytest

import chute
from chute import _serialize
from chute.exception import (
    AlreadyExistsError,
    DeserializationError,
    IntegrityError,
    InvalidError,
    NotFoundError,
    RequestSizeError,
)


async def test_seed_example(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as my_queue:
        await my_queue.put.aio("some value")
        await my_queue.put.aio(123)
        assert await my_queue.get.aio() == "some value"
        assert await my_queue.get.aio() == 123
        await my_queue.put.aio(0)
        await my_queue.put.aio(1, partition="foo")
        await my_queue.put.aio(2, partition="bar")
        assert await my_queue.get.aio(partition="bar") == 2
        await my_queue.put.aio(3, partition="foo", partition_ttl=10)
        await my_queue.put.aio(1)
        assert [v async for v in my_queue.iterate.aio()] == [0, 1]
    q = chute.Queue.from_name("my-persisted-queue", create_if_missing=True)
    await q.put.aio(42)
    assert await q.get.aio() == 42


async def test_fifo_order_and_batches(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        for i in range(50):
            await q.put.aio(i)
        await q.put_many.aio(list(range(50, 120)))
        assert await q.len.aio() == 120
        got = [await q.get.aio() for _ in range(10)]
        got += await q.get_many.aio(60)
        got += await q.get_many.aio(1000)  # up to n: returns the 50 left without waiting for more
        assert got == list(range(120))
        assert await q.len.aio() == 0


async def test_non_blocking_and_timeouts(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        assert await q.get.aio(block=False) is None
        assert await q.get_many.aio(5, block=False) == []
        t0 = time.monotonic()
        with pytest.raises(queue.Empty):
            await q.get.aio(timeout=0)
        with pytest.raises(queue.Empty):
            await q.get_many.aio(3, timeout=0)
        assert time.monotonic() - t0 < 1.0
        t0 = time.monotonic()
        with pytest.raises(queue.Empty):
            await q.get.aio(timeout=0.3)
        assert 0.28 <= time.monotonic() - t0 < 3.0
        await q.put.aio(None)
        assert await q.get.aio(timeout=1) is None  # a stored None comes back as None
        await q.put.aio("x")
        assert await q.get.aio(block=False) == "x"


async def test_timeout_with_block_false_warns(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        with pytest.warns(UserWarning, match="ignored"):
            assert await q.get.aio(block=False, timeout=1) is None


async def test_partitions_are_independent(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        await q.put_many.aio([1, 2], partition="a")
        await q.put.aio(3, partition="b")
        await q.put.aio(4)
        assert await q.len.aio() == 1
        assert await q.len.aio(partition="a") == 2
        assert await q.len.aio(partition="missing") == 0
        assert await q.len.aio(total=True) == 4
        assert await q.get.aio(block=False, partition="b") == 3
        assert await q.get.aio(block=False, partition="b") is None
        assert await q.get.aio(block=False) == 4
        assert await q.get_many.aio(10, partition="a") == [1, 2]
        parts = await q.partitions.aio()
        assert sorted(p[0] or "" for p in parts) == ["", "a", "b"]


async def test_len_and_clear_arguments(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        with pytest.raises(InvalidError):
            await q.len.aio(partition="a", total=True)
        with pytest.raises(InvalidError):
            await q.clear.aio(partition="a", all=True)
        await q.put_many.aio([1, 2, 3])
        await q.put_many.aio([4, 5], partition="p")
        await q.clear.aio(partition="p")
        assert await q.len.aio(total=True) == 3
        await q.put.aio(6, partition="p")
        await q.clear.aio()
        assert await q.len.aio() == 0
        assert await q.len.aio(partition="p") == 1
        await q.clear.aio(all=True)
        assert await q.len.aio(total=True) == 0
        await q.put.aio(7)  # the queue survives clear
        assert await q.get.aio() == 7


async def test_partition_key_validation(chute_env: str) -> None:
    assert chute.Queue.validate_partition_key(None) == b""
    assert chute.Queue.validate_partition_key("a" * 64) == b"a" * 64
    assert chute.Queue.validate_partition_key("é" * 32) == "é".encode() * 32
    for bad in ["", "a" * 65, "é" * 33]:
        with pytest.raises(InvalidError, match="64 bytes"):
            chute.Queue.validate_partition_key(bad)
    async with chute.Queue.ephemeral() as q:
        await q.put.aio(1, partition="k" * 64)
        assert await q.get.aio(partition="k" * 64) == 1
        with pytest.raises(InvalidError):
            await q.put.aio(1, partition="k" * 65)
        with pytest.raises(InvalidError):
            await q.get.aio(partition="")


async def test_full_partition(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "3")
    async with chute.Queue.ephemeral() as q:
        await q.put_many.aio([1, 2, 3])  # exactly at the limit
        with pytest.raises(queue.Full):
            await q.put.aio(4, block=False)
        t0 = time.monotonic()
        with pytest.raises(queue.Full):
            await q.put.aio(4, timeout=0.3)
        assert 0.28 <= time.monotonic() - t0 < 3.0
        assert await q.get.aio() == 1
        with pytest.raises(queue.Full):  # all-or-nothing: 2 items, 1 free slot
            await q.put_many.aio([4, 5], block=False)
        assert await q.len.aio() == 2
        with pytest.raises(queue.Full, match="never fit"):
            await q.put_many.aio([9, 9, 9, 9])
        await q.put.aio(4, partition="other")  # partitions are capped independently
        await q.put.aio(4, block=False)
        assert await q.get_many.aio(10) == [2, 3, 4]


async def test_max_partitions(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_PARTITIONS", "3")
    async with chute.Queue.ephemeral() as q:
        await q.put.aio(1)
        await q.put.aio(1, partition="a")
        await q.put.aio(1, partition="b")
        with pytest.raises(queue.Full, match="partitions"):
            await q.put.aio(1, partition="c", block=False)
        await q.put.aio(2, partition="a")  # existing partitions still take items
        await q.clear.aio(partition="b")
        await q.put.aio(1, partition="c", block=False)


async def test_item_size_limit(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"x" * 900
    limit = len(_serialize.dumps(payload))
    assert len(_serialize.dumps(payload + b"x")) == limit + 1
    monkeypatch.setenv("CHUTE_MAX_ITEM_BYTES", str(limit))
    async with chute.Queue.ephemeral() as q:
        await q.put.aio(payload)  # exactly at the limit
        with pytest.raises(RequestSizeError, match="too large"):
            await q.put.aio(payload + b"x")
        with pytest.raises(RequestSizeError):
            await q.put_many.aio([1, payload + b"x"])
        assert await q.len.aio() == 1
        assert await q.get.aio() == payload


async def test_partition_ttl(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        await q.put.aio(1, partition="short", partition_ttl=0.6)
        await q.put.aio(2, partition="long", partition_ttl=60)
        assert await q.len.aio(partition="short") == 1
        await asyncio.sleep(0.35)
        await q.put.aio(3, partition="short", partition_ttl=0.6)  # refreshes the whole partition
        await asyncio.sleep(0.4)
        assert await q.len.aio(partition="short") == 2
        await asyncio.sleep(0.5)
        assert await q.len.aio(partition="short") == 0
        assert await q.get.aio(block=False, partition="short") is None
        assert [v async for v in q.iterate.aio(partition="short")] == []
        assert await q.len.aio(total=True) == 1
        await q.put.aio(4, partition="short")
        assert await q.get_many.aio(5, partition="short") == [4]
        with pytest.raises(InvalidError):
            await q.put.aio(1, partition_ttl=0)


async def test_iterate(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        await q.put_many.aio(list(range(250)))
        assert [v async for v in q.iterate.aio()] == list(range(250))
        assert await q.len.aio() == 250  # non-destructive
        seen = []
        async for v in q.iterate.aio():
            seen.append(v)
            if v == 10:
                await q.get_many.aio(100)  # concurrent gets neither restart nor skip the scan
                await q.put.aio("late")
        assert seen == [*range(250), "late"]
        t0 = time.monotonic()
        assert [v async for v in q.iterate.aio(partition="empty", item_poll_timeout=0.3)] == []
        assert 0.28 <= time.monotonic() - t0 < 3.0


async def test_names_and_lookup(chute_env: str) -> None:
    for bad in ["has space", "has/slash", "a" * 65, "", "ap-" + "a" * 22]:
        with pytest.raises(InvalidError, match="Invalid Queue name"):
            chute.Queue.from_name(bad)
    chute.Queue.from_name("a" * 64)  # exactly 64 is fine
    missing = chute.Queue.from_name("does-not-exist")  # lazy: no error yet
    with pytest.raises(NotFoundError, match="does-not-exist"):
        await missing.put.aio(1)
    with pytest.raises(InvalidError):
        chute.Queue.from_id("di-" + "a" * 22)
    with pytest.raises(NotFoundError):
        await chute.Queue.from_id("qu-" + "a" * 22).len.aio()


async def test_objects_namespace(chute_env: str) -> None:
    await chute.Queue.objects.create.aio("alpha")
    with pytest.raises(AlreadyExistsError):
        await chute.Queue.objects.create.aio("alpha")
    await chute.Queue.objects.create.aio("alpha", allow_existing=True)
    await asyncio.sleep(0.02)
    await chute.Queue.objects.create.aio("beta")
    await chute.Queue.objects.create.aio("gamma", environment_name="dev")
    names = [q.name for q in await chute.Queue.objects.list.aio()]
    assert names == ["beta", "alpha"]  # newest first; other environments not listed
    assert [q.name for q in await chute.Queue.objects.list.aio(max_objects=1)] == ["beta"]
    assert [q.name for q in await chute.Queue.objects.list.aio(environment_name="dev")] == ["gamma"]
    future = datetime.now() + timedelta(days=1)
    assert len(await chute.Queue.objects.list.aio(created_before=future)) == 2
    assert await chute.Queue.objects.list.aio(created_before="2000-01-01") == []
    with pytest.raises(InvalidError):
        await chute.Queue.objects.list.aio(max_objects=-1)
    listed = (await chute.Queue.objects.list.aio())[0]
    assert listed.is_hydrated and listed.object_id.startswith("qu-")
    await chute.Queue.objects.delete.aio("alpha")
    with pytest.raises(NotFoundError):
        await chute.Queue.objects.delete.aio("alpha")
    await chute.Queue.objects.delete.aio("alpha", allow_missing=True)
    assert [q.name for q in await chute.Queue.objects.list.aio()] == ["beta"]


async def test_handles_share_one_queue(chute_env: str) -> None:
    a = chute.Queue.from_name("shared", create_if_missing=True)
    await a.put.aio("hello")
    b = chute.Queue.from_name("shared")
    c = chute.Queue.from_id(a.object_id)
    assert b.object_id == c.object_id == a.object_id
    assert a.object_id.startswith("qu-") and len(a.object_id) == 25
    assert await c.get.aio() == "hello"
    meta = await b.info.aio()
    assert meta.name == "shared" and meta.created_by
    assert abs((datetime.now().astimezone() - meta.created_at).total_seconds()) < 60
    await chute.Queue.objects.delete.aio("shared")
    with pytest.raises(NotFoundError):
        await a.put.aio(1)
    with pytest.raises(NotFoundError):
        await c.get.aio(timeout=0.1)


async def test_ephemeral_is_deleted_on_exit(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        await q.put.aio(1)
        object_id = q.object_id
        assert (await q.info.aio()).name is None
        assert await chute.Queue.from_id(object_id).len.aio() == 1
    with pytest.raises(NotFoundError):
        await chute.Queue.from_id(object_id).len.aio()


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


async def test_any_picklable_object(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        values = [{"a": [1, 2.5, None]}, (1, "two"), b"\x00\xff", {1, 2}, 10**40]
        await q.put_many.aio(values)
        assert await q.get_many.aio(10) == values
        await q.put.aio(lambda x: x * 2)
        assert (await q.get.aio())(21) == 42
        await q.put.aio(Point(1, 2))
        p = await q.get.aio()
        assert (p.x, p.y) == (1, 2)
        await q.put.aio(q)  # handles travel by reference
        inner = await q.get.aio()
        assert inner.object_id == q.object_id


async def test_deserialization_error_names_the_module(chute_env: str) -> None:
    mod = types.ModuleType("chute_vanishing_module")
    exec("class Thing:\n    pass\n", mod.__dict__)
    sys.modules["chute_vanishing_module"] = mod
    try:
        async with chute.Queue.ephemeral() as q:
            await q.put.aio(mod.Thing())
            del sys.modules["chute_vanishing_module"]
            with pytest.raises(DeserializationError, match="chute_vanishing_module"):
                await q.get.aio()
    finally:
        sys.modules.pop("chute_vanishing_module", None)


async def test_signed_payloads(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    q = chute.Queue.from_name("signed", create_if_missing=True)
    await q.put.aio("unsigned")
    monkeypatch.setenv("CHUTE_SECRET", "s3cret")
    signed = chute.Queue.from_name("signed")
    with pytest.raises(IntegrityError, match="not signed"):
        await signed.get.aio()
    await signed.put.aio({"ok": True})
    assert await signed.get.aio() == {"ok": True}
    monkeypatch.setenv("CHUTE_SECRET", "other")
    wrong = chute.Queue.from_name("signed")
    await signed.put.aio(1)
    with pytest.raises(IntegrityError, match="signature"):
        await wrong.get.aio()


async def test_multiprocessing_methods(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    q = chute.Queue(maxsize=2)
    assert await q.empty.aio() and not await q.full.aio() and await q.qsize.aio() == 0
    await q.put_nowait.aio("a")
    await q.put.aio("b")
    assert await q.full.aio() and await q.qsize.aio() == 2
    with pytest.raises(queue.Full):
        await q.put_nowait.aio("c")
    assert await q.get_nowait.aio() == "a"
    assert await q.get.aio() == "b"
    with pytest.raises(queue.Empty):
        await q.get_nowait.aio()
    with pytest.raises(queue.Empty):  # multiprocessing-style queue: multiprocessing's convention
        await q.get.aio(block=False)
    q.close()
    with pytest.raises(ValueError, match="closed"):
        await q.put.aio(1)
    q.join_thread()
    with pytest.raises(InvalidError):
        chute.Queue(maxsize=-1)


async def test_bad_arguments(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        for bad in [0, -1, 1.5, True]:
            with pytest.raises(InvalidError, match="n_values"):
                await q.get_many.aio(bad)
        with pytest.raises(InvalidError, match="timeout"):
            await q.get.aio(timeout=-1)
        with pytest.raises(InvalidError, match="timeout"):
            await q.put.aio(1, timeout="soon")
        with pytest.raises(InvalidError, match="partition key"):
            await q.put.aio(1, partition=5)
        with pytest.raises(InvalidError):
            await q.put.aio(1, partition_ttl=-5)
