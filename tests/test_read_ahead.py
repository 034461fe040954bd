"""Read-ahead gets of ``chute.Queue(write_behind=True)`` (chute/_readahead.py), on every
backend, with real processes for the cross-process cases."""

from __future__ import annotations

import gc
import multiprocessing as mp
import pickle
import queue as stdlib_queue
import time

import pytest

import chute
from chute._readahead import READ_AHEAD, READ_AHEAD_MAX
from tests.test_processes import run_py


def _stored(q: chute.Queue, partition: str | None = None) -> int:
    """Items in the backend, not counting any handle's read-ahead buffer."""
    return chute.Queue.from_id(q.object_id).len(partition=partition)


def _fill(q: chute.Queue, items: list[int], partition: str | None = None) -> None:
    """Acknowledged puts (another handle, not written behind)."""
    chute.Queue.from_id(q.object_id).put_many(items, partition=partition)


def test_a_get_reads_ahead_and_qsize_counts_the_buffer(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    _fill(q, list(range(READ_AHEAD + 10)))
    assert q.get() == 0
    assert _stored(q) == 10  # one round trip took READ_AHEAD items
    assert (q.qsize(), q.len(), q.len(total=True), q.empty()) == (READ_AHEAD + 9,) * 3 + (False,)
    assert [q.get(), q.get_nowait(), q.get(block=False)] == [1, 2, 3]
    assert q.get_many(5) == [4, 5, 6, 7, 8]
    assert _stored(q) == 10  # served from the buffer
    assert [q.get(timeout=30) for _ in range(READ_AHEAD + 1)] == list(range(9, READ_AHEAD + 10))
    assert q.empty() and q.qsize() == 0
    with pytest.raises(stdlib_queue.Empty):
        q.get(timeout=0.3)  # a timed get still times out when nothing is there
    with pytest.raises(stdlib_queue.Empty):
        q.get(block=False)
    with pytest.raises(stdlib_queue.Empty):
        q.get_nowait()
    q.close()


def test_reads_ahead_more_under_a_backlog_and_less_once_it_is_gone(chute_env: str) -> None:
    assert (READ_AHEAD, READ_AHEAD_MAX) == (64, 256)  # the sizes below
    q = chute.Queue(write_behind=True)
    _fill(q, list(range(1000)))
    stored, takes = 1000, []
    for i in range(1000):
        assert q.get() == i
        now = _stored(q)
        if now != stored:
            takes.append(stored - now)
            stored = now
    # Each take that came back full doubled the next, up to the cap; the last came back short.
    assert takes == [64, 128, 256, 256, 256, 40]
    _fill(q, list(range(100)))
    assert q.get() == 0 and _stored(q) == 100 - READ_AHEAD  # back to READ_AHEAD
    q.close()


def test_get_many_tops_up_a_partly_served_batch_without_waiting(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    _fill(q, [0, 1, 2])
    assert q.get() == 0  # 1, 2 buffered
    _fill(q, [3, 4])
    assert q.get_many(10, timeout=30) == [1, 2, 3, 4]  # the buffer, then the backend's head
    start = time.monotonic()
    _fill(q, [5])
    assert q.get() == 5
    _fill(q, list(range(6, 6 + READ_AHEAD + 1)))
    assert q.get_many(2) == [6, 7] and q.qsize() == READ_AHEAD - 1
    assert q.get_many(READ_AHEAD, timeout=30) == list(range(8, 8 + READ_AHEAD - 1))
    assert time.monotonic() - start < 20  # no get waited for more than it had
    q.close()


def test_the_default_mode_does_not_read_ahead(chute_env: str) -> None:
    q = chute.Queue()
    _fill(q, list(range(10)))
    assert q.get() == 0 and _stored(q) == 9 and q.qsize() == 9


def test_close_gives_back_in_order_ahead_of_later_items(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    other = chute.Queue.from_id(q.object_id)
    _fill(q, list(range(10)))
    assert q.get() == 0
    other.put_many([10, 11])  # behind the read-ahead items
    assert (q.qsize(), other.len()) == (11, 2)
    q.close()
    assert (q.qsize(), other.len()) == (11, 11)
    assert list(other.iterate()) == list(range(1, 12))  # iterate sees given-back items first
    assert other.get_many(100) == list(range(1, 12))
    other.put(12)
    assert q.get(timeout=30) == 12  # gets still work after close(), without reading ahead
    other.put_many([13, 14])
    assert q.get(timeout=30) == 13 and other.len() == 1


def test_clear_drops_the_buffer(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    _fill(q, list(range(5)))
    assert q.get() == 0
    q.clear()
    assert q.qsize() == 0
    with pytest.raises(stdlib_queue.Empty):
        q.get(timeout=0.2)
    q.close()
    assert _stored(q) == 0  # nothing to give back


def test_partitions_keep_separate_buffers(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    _fill(q, [1, 2, 3, 4], partition="a")
    _fill(q, [11, 12, 13, 14], partition="b")
    _fill(q, [21, 22])
    assert (q.get(partition="a"), q.get(partition="b")) == (1, 11)
    assert (q.len(partition="a"), q.len(partition="b"), q.len(total=True)) == (3, 3, 8)
    assert q.qsize() == 2  # the default partition: nothing read ahead
    q.clear(partition="a")
    assert (q.len(partition="a"), q.get(partition="b"), q.get()) == (0, 12, 21)
    q.close()
    assert (_stored(q, "a"), _stored(q, "b"), _stored(q)) == (0, 2, 1)
    other = chute.Queue.from_id(q.object_id)
    assert (other.get_many(10, partition="b"), other.get_many(10)) == ([13, 14], [22])
    q.clear(all=True)


async def test_aio_paths_read_ahead_too(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    _fill(q, list(range(10)))
    assert await q.get.aio() == 0
    assert await q.qsize.aio() == 9 and not await q.empty.aio()
    assert await q.get_many.aio(3) == [1, 2, 3]
    assert await q.get_nowait.aio() == 4
    assert await q.get.aio(block=False) == 5
    assert await q.len.aio() == 4
    q.close()
    assert await chute.Queue.from_id(q.object_id).get_many.aio(10) == [6, 7, 8, 9]
    with pytest.raises(stdlib_queue.Empty):
        await q.get.aio(timeout=0.2)
    q2 = chute.Queue(write_behind=True)
    _fill(q2, [1, 2, 3])
    assert await q2.get.aio(timeout=30) == 1
    await q2.clear.aio()
    assert await q2.qsize.aio() == 0
    q2.close()


def _produce(q: chute.Queue, n: int) -> None:
    for i in range(n):
        q.put(i)
        if i % 100 == 99:
            time.sleep(0.02)  # interleave: the consumer catches up and reads ahead again
    q.close()
    q.join_thread()


def _consume(q: chute.Queue, n: int, out: chute.Queue) -> None:
    out.put([q.get(timeout=60) for _ in range(n)])


def test_fifo_across_a_producer_and_a_consumer_process(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    out = chute.Queue()
    ctx = mp.get_context("fork")
    n = 700
    consumer = ctx.Process(target=_consume, args=(q, n, out))
    producer = ctx.Process(target=_produce, args=(q, n))
    consumer.start()
    producer.start()
    for p in (producer, consumer):
        p.join(120)
        assert p.exitcode == 0
    assert out.get(timeout=30) == list(range(n))
    assert q.qsize() == 0


def _get_one_and_end(q: chute.Queue, out: chute.Queue) -> None:
    out.put(q.get(timeout=60))
    # No close(): the end of a multiprocessing child gives the read-ahead items back.


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_process_gives_back_when_it_ends(chute_env: str, method: str) -> None:
    q = chute.Queue(write_behind=True)
    out = chute.Queue()
    _fill(q, list(range(20)))
    child = mp.get_context(method).Process(target=_get_one_and_end, args=(q, out))
    child.start()
    child.join(120)
    assert child.exitcode == 0 and out.get(timeout=30) == 0
    assert q.get_many(100) == list(range(1, 20))


EXIT_READER = """
import pickle, sys
q = pickle.loads(bytes.fromhex(sys.argv[1]))
print(q.get(timeout=60), flush=True)
if sys.argv[2] == "kill":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("mode", ["exit", "kill"])
def test_interpreter_exit_gives_back_and_a_crash_loses(chute_env: str, mode: str) -> None:
    q = chute.Queue(write_behind=True)
    _fill(q, list(range(20)))
    child = run_py(EXIT_READER, pickle.dumps(q).hex(), mode)
    out, err = child.communicate(timeout=60)
    assert out.split() == ["0"], err
    if mode == "exit":
        assert child.returncode == 0, err
        assert q.get_many(100) == list(range(1, 20))
    else:  # the unread read-ahead items died with the process
        assert q.get_many(100, block=False) == []


def test_garbage_collection_gives_back(chute_env: str) -> None:
    q = chute.Queue(write_behind=True)
    w = pickle.loads(pickle.dumps(q))  # a second write-behind handle of the same queue
    _fill(q, list(range(5)))
    assert w.get() == 0
    del w
    gc.collect()
    assert q.get_many(10) == [1, 2, 3, 4]
