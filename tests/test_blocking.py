"""Concurrency inside one process: blocked calls woken by other threads / tasks."""

from __future__ import annotations

import asyncio
import queue
import threading
import time

import pytest

import chute


def test_blocked_get_woken_by_thread(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        got: list[object] = []
        t = threading.Thread(target=lambda: got.append(q.get(timeout=20)))
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        q.put("ping")
        t.join(20)
        assert got == ["ping"]
        assert time.monotonic() - t0 < 0.5  # woken by the put, well before the 1 s re-check


def test_blocked_put_woken_by_get(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "2")
    with chute.Queue.ephemeral() as q:
        q.put_many([1, 2])
        done = threading.Event()
        t = threading.Thread(target=lambda: (q.put(3, timeout=20), done.set()))
        t.start()
        time.sleep(0.3)
        assert not done.is_set()
        assert q.get() == 1
        t.join(20)
        assert done.is_set()
        assert q.get_many(5) == [2, 3]


def test_many_waiters_each_item_delivered_once(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        got: list[int] = []
        lock = threading.Lock()

        def consume() -> None:
            while True:
                try:
                    item = q.get(timeout=2)
                except queue.Empty:
                    return
                with lock:
                    got.append(item)

        threads = [threading.Thread(target=consume) for _ in range(8)]
        for t in threads:
            t.start()
        for i in range(300):
            q.put(i)
        for t in threads:
            t.join(30)
        assert sorted(got) == list(range(300))


async def test_aio_get_waits_on_the_loop_without_threads(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        threads_before = threading.active_count()
        waiters = [asyncio.create_task(q.get.aio(timeout=20)) for _ in range(50)]
        await asyncio.sleep(0.3)
        assert threading.active_count() <= threads_before + 1  # no thread per waiting get
        ticks = 0
        while ticks < 5:  # the loop stays responsive while 50 gets are blocked
            await asyncio.sleep(0.01)
            ticks += 1
        await q.put_many.aio(list(range(50)))
        assert sorted(await asyncio.gather(*waiters)) == list(range(50))
    await chute.Client.from_env().aclose()


async def test_aio_cancelled_get_leaves_items_for_others(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        waiter = asyncio.create_task(q.get.aio())
        await asyncio.sleep(0.2)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await q.put.aio("kept")
        assert await q.get.aio(timeout=5) == "kept"
    await chute.Client.from_env().aclose()
