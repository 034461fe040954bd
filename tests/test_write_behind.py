"""``chute.Queue(write_behind=True)`` (multiprocessing.Queue's contract) and group commit, on
every backend, with real threads and processes."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import pickle
import queue as stdlib_queue
import threading
import time

import pytest

import chute
from chute.exception import InvalidError, NotFoundError
from tests.test_processes import run_py


def test_put_returns_before_the_write_and_join_thread_flushes(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    for i in range(500):
        q.put(i)
    q.put_many([500, 501])
    q.close()
    q.join_thread()
    assert q.qsize() == 502
    assert q.get_many(1000) == list(range(502))  # in put order


def test_close_and_join_thread_rules(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    q.put(1)
    with pytest.raises(ValueError, match="close"):
        q.join_thread()
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put(2)
    q.join_thread()
    q.join_thread()  # again: returns at once
    assert q.get() == 1
    with pytest.raises(InvalidError, match="write_behind"):
        chute.Queue(write_behind="yes")  # type: ignore[arg-type]


def test_partitions_and_ttls_keep_their_order(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    for i in range(30):
        q.put(i, partition="odd" if i % 2 else None, partition_ttl=60 if i % 3 else 600)
    q.close()
    q.join_thread()
    assert q.get_many(100) == list(range(0, 30, 2))
    assert q.get_many(100, partition="odd") == list(range(1, 30, 2))


def test_a_full_buffer_blocks_or_raises(chute_env: str) -> None:
    q = chute.Queue(maxsize=3, write_behind=True)
    for i in range(6):  # 3 stored (the partition's cap), then 3 buffered behind them
        q.put(i, timeout=30)
    with pytest.raises(stdlib_queue.Full, match="buffer is full"):
        q.put_nowait(6)
    with pytest.raises(stdlib_queue.Full, match="can never fit"):
        q.put_many([7, 8, 9, 10])
    assert [q.get(timeout=30) for _ in range(6)] == list(range(6))  # the buffer drains as room frees
    q.close()
    q.join_thread()
    assert q.empty()


def test_a_batch_larger_than_the_room_left_does_not_stall_the_feeder(chute_env: str) -> None:
    # A put is all or nothing: the feeder must not wait for room for its whole batch (3) while
    # the partition has room for 1 and this process, blocked on a full buffer, is the consumer.
    q = chute.Queue(maxsize=3, write_behind=True)
    q.put(0)
    q.put(1)
    deadline = time.monotonic() + 30
    while q.len() < 2:
        assert time.monotonic() < deadline, "the feeder did not write the first two items"
        time.sleep(0.01)
    q.put_many([2, 3, 4])  # one batch of 3 in the buffer, room for 1 in the partition
    q.put(5, timeout=20)  # fits once the feeder wrote 2 (the buffer then holds 3, 4)
    assert [q.get(timeout=30) for _ in range(6)] == list(range(6))
    q.close()
    q.join_thread()


async def test_aio_puts_write_behind_too(chute_env: str) -> None:
    q = chute.Queue(maxsize=2, write_behind=True)
    for i in range(5):
        await q.put.aio(i, timeout=30)
        if i >= 2:
            assert await q.get.aio(timeout=30) == i - 2
    q.close()
    await asyncio.to_thread(q.join_thread)
    assert await q.get_many.aio(10) == [3, 4]


def test_a_deleted_queue_drops_the_buffer_and_says_so(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    w = pickle.loads(pickle.dumps(q))  # a second write-behind handle, as a child would get
    q._ref.client.sync_backend().delete_object(q.object_id)
    w.put(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            w.put(2)
        except NotFoundError:
            break
        assert time.monotonic() < deadline, "the feeder never reported the deleted queue"
        time.sleep(0.05)


def _put_and_exit(q: chute.Queue, start: int, n: int) -> None:
    for i in range(start, start + n):
        q.put(i)
    # No close(): the end of a multiprocessing child writes the buffer (its finalizers).


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_process_flushes_when_it_ends(chute_env: str, method: str) -> None:
    q = chute.Queue(write_behind=True)
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_put_and_exit, args=(q, k * 1000, 300)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    got = q.get_many(1000)
    assert sorted(got) == [*range(300), *range(1000, 1300)]
    assert [i for i in got if i < 1000] == list(range(300))  # each child's order


EXIT_WRITER = """
import pickle, sys
q = pickle.loads(bytes.fromhex(sys.argv[1]))
for i in range(200):
    q.put(i)
if sys.argv[2] == "cancel":
    q.cancel_join_thread()
print("done", flush=True)
"""


@pytest.mark.parametrize("mode", ["flush", "cancel"])
def test_interpreter_exit_flushes_unless_cancelled(chute_env: str, mode: str) -> None:
    q = chute.Queue(write_behind=True)
    child = run_py(EXIT_WRITER, pickle.dumps(q).hex(), mode)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    got = q.get_many(1000, block=False)
    if mode == "flush":
        assert got == list(range(200))
    else:  # what was buffered at exit may be lost, but never with a gap
        assert got == list(range(len(got)))


# -- group commit ----------------------------------------------------------------------------


def test_concurrent_puts_from_threads_share_commits_and_lose_nothing(chute_env: str) -> None:
    q = chute.Queue()
    n_threads, n = 8, 200
    start = threading.Barrier(n_threads)

    def producer(t: int) -> None:
        start.wait()
        for i in range(n):
            if i % 10:
                q.put((t, i))
            else:
                q.put_many([(t, i)])

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    got = q.get_many(n_threads * n)
    assert sorted(got) == sorted((t, i) for t in range(n_threads) for i in range(n))
    for t in range(n_threads):  # each thread's puts in its order
        assert [i for tt, i in got if tt == t] == list(range(n))


async def test_concurrent_puts_from_tasks_share_commits_and_refuse_alone(chute_env: str) -> None:
    async with chute.Queue.ephemeral() as q:
        other = chute.Queue.from_id(q.object_id)
        await other.put.aio(0, partition="full")  # nothing special: a second handle

        async def producer(t: int) -> None:
            for i in range(50):
                await q.put.aio((t, i))

        await asyncio.gather(*(producer(t) for t in range(8)))
        got = await q.get_many.aio(1000)
        assert sorted(got) == sorted((t, i) for t in range(8) for i in range(50))
        for t in range(8):
            assert [i for tt, i in got if tt == t] == list(range(50))
        # One put of a group refused (too many items) while the others are stored.
        small = chute.Queue(maxsize=2)
        results = await asyncio.gather(
            small.put_many.aio([1, 2, 3], block=False), small.put.aio(4), return_exceptions=True
        )
        assert isinstance(results[0], stdlib_queue.Full) and results[1] is None
        assert await small.get_many.aio(10) == [4]
