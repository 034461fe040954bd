# Auto-generated from tests/_async/test_backend_contract_queue.py by scripts/unasync.py: DO NOT EDIT.
"""Storage contract, queues: FIFO put/get, partitions, caps, TTLs, scans (peek), blocking
waits and deletion, on every backend.

SOURCE of tests/_sync/test_backend_contract_queue.py (scripts/unasync.py): the backend under
test (fixture ``b``) is the async backend here and the generated sync backend there; the
fixture ``other`` (sync) acts from other threads.
"""

from __future__ import annotations

import time
import time
from collections.abc import Callable
from typing import Any

import pytest

from chute.backends._sync.base import Backend
from chute.backends._sync.base import Backend
from chute.backends.types import Kind, PutStatus
from chute.exception import NotFoundError
from tests._sync.contract_helpers import BIG, ENV, later, new_queue, put


def test_fifo_single_and_batches(b: Backend) -> None:
    q = new_queue(b)
    assert put(b, q, [b"a", b"b"]) is PutStatus.OK
    assert put(b, q, [b"c", b"d", b"e"]) is PutStatus.OK
    assert b.queue_get(q, b"", 1, wait=0) == [b"a"]
    assert b.queue_get(q, b"", 3, wait=0) == [b"b", b"c", b"d"]
    assert b.queue_get(q, b"", 10, wait=1) == [b"e"]
    assert b.queue_get(q, b"", 10, wait=0) == []
    assert b.queue_len(q, None) == 0


def test_items_are_opaque_bytes(b: Backend) -> None:
    q = new_queue(b)
    items = [b"", b"\x00", b"\xff\x00\xfe", bytes(range(256)), b"x" * 100_000]
    assert put(b, q, items, part=b"\x00\xff") is PutStatus.OK
    assert b.queue_get(q, b"\x00\xff", 10, wait=0) == items


def test_partitions_are_independent(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"1"], part=b"x")
    put(b, q, [b"2", b"3"], part=b"y")
    put(b, q, [b"0"])
    assert b.queue_len(q, b"y") == 2
    assert b.queue_len(q, b"missing") == 0
    assert b.queue_len(q, None) == 4
    parts = b.queue_partitions(q)
    assert [(p.key, p.length) for p in parts] == [(b"", 1), (b"x", 1), (b"y", 2)]
    assert all(abs(p.expires_at - time.time() - 60) < 5 for p in parts)
    b.queue_clear(q, b"y")
    assert b.queue_len(q, b"y") == 0
    assert [p.key for p in b.queue_partitions(q)] == [b"", b"x"]
    b.queue_clear(q, None)
    assert b.queue_partitions(q) == []
    assert b.queue_get(q, b"x", 1, wait=0) == []
    assert b.get_object(q) is not None  # clearing keeps the queue


@pytest.mark.parametrize("n", [1, 3])
def test_blocking_get_woken_by_put_from_other_thread(b: Backend, other: Backend, n: int) -> None:
    q = new_queue(b)
    t = later(0.2, other.queue_put, q, b"", [b"x", b"y"], ttl=60, max_items=BIG, max_partitions=BIG)
    start = time.monotonic()
    got = b.queue_get(q, b"", n, wait=5)
    elapsed = time.monotonic() - start
    t.join()
    assert got == [b"x", b"y"][:n]
    assert 0.15 < elapsed < 0.95  # woken: SQLite's safety-net re-check comes after 1 s


@pytest.mark.parametrize("n", [1, 3])
def test_blocking_get_times_out_after_wait(b: Backend, n: int) -> None:
    q = new_queue(b)
    start = time.monotonic()
    assert b.queue_get(q, b"", n, wait=0.5) == []
    assert 0.45 <= time.monotonic() - start < 1.5


def test_blocking_get_ignores_other_partitions(b: Backend, other: Backend) -> None:
    q = new_queue(b)
    t = later(0.1, other.queue_put, q, b"elsewhere", [b"x"], ttl=60, max_items=BIG, max_partitions=BIG)
    assert b.queue_get(q, b"", 1, wait=0.4) == []
    t.join()
    assert b.queue_len(q, b"elsewhere") == 1


def test_full_stores_nothing(b: Backend) -> None:
    q = new_queue(b)
    assert put(b, q, [b"1", b"2"], max_items=3) is PutStatus.OK
    assert put(b, q, [b"3", b"4"], max_items=3) is PutStatus.FULL
    assert put(b, q, [b"5", b"6", b"7", b"8"], part=b"new", max_items=3) is PutStatus.FULL
    assert b.queue_len(q, None) == 2
    assert [p.key for p in b.queue_partitions(q)] == [b""]
    assert put(b, q, [b"3"], max_items=3) is PutStatus.OK
    assert b.queue_get(q, b"", 5, wait=0) == [b"1", b"2", b"3"]


def test_too_many_partitions_stores_nothing(b: Backend) -> None:
    q = new_queue(b)
    assert put(b, q, [b"a"], part=b"a", max_partitions=2) is PutStatus.OK
    assert put(b, q, [b"b"], part=b"b", max_partitions=2) is PutStatus.OK
    assert put(b, q, [b"c"], part=b"c", max_partitions=2) is PutStatus.TOO_MANY_PARTITIONS
    assert put(b, q, [b"a2"], part=b"a", max_partitions=2) is PutStatus.OK  # existing: fine
    assert b.queue_len(q, b"c") == 0
    assert b.queue_len(q, None) == 3
    b.queue_clear(q, b"b")  # a cleared partition no longer counts
    assert put(b, q, [b"c"], part=b"c", max_partitions=2) is PutStatus.OK


def test_partition_ttl_expiry(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"old1", b"old2"], part=b"p", ttl=0.6, max_partitions=1)
    assert b.queue_len(q, b"p") == 2
    time.sleep(0.75)
    assert b.queue_len(q, b"p") == 0
    assert b.queue_len(q, None) == 0
    assert b.queue_partitions(q) == []
    assert b.queue_get(q, b"p", 5, wait=0) == []
    assert b.queue_scan(q, b"p", 0, 10) == []
    # The expired partition no longer counts against max_partitions, and comes back empty.
    assert put(b, q, [b"new"], part=b"other", max_partitions=1) is PutStatus.OK
    b.queue_clear(q, b"other")
    assert put(b, q, [b"new"], part=b"p", ttl=10, max_partitions=1) is PutStatus.OK
    assert b.queue_get(q, b"p", 5, wait=0) == [b"new"]


def test_expired_partition_does_not_count_against_max_items(b: Backend) -> None:
    q = new_queue(b)
    assert put(b, q, [b"1", b"2"], ttl=0.2, max_items=2) is PutStatus.OK
    time.sleep(0.35)
    assert put(b, q, [b"3", b"4"], max_items=2) is PutStatus.OK
    assert b.queue_get(q, b"", 5, wait=0) == [b"3", b"4"]


def test_each_put_resets_partition_ttl(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"1"], ttl=0.8)
    time.sleep(0.5)
    put(b, q, [b"2"], ttl=0.8)
    time.sleep(0.5)
    assert b.queue_len(q, b"") == 2


def test_scan_resumes_after_concurrent_gets(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [bytes([i]) for i in range(10)])
    first = b.queue_scan(q, b"", 0, 3)
    assert [item for _, item in first] == [b"\x00", b"\x01", b"\x02"]
    seqs = [s for s, _ in first]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert len(b.queue_get(q, b"", 5, wait=0)) == 5  # removes 3 seen + 2 unseen
    rest = b.queue_scan(q, b"", seqs[-1], 100)
    assert [item for _, item in rest] == [bytes([i]) for i in range(5, 10)]
    assert b.queue_scan(q, b"", rest[-1][0], 100) == []
    put(b, q, [b"late"])
    late = b.queue_scan(q, b"", rest[-1][0], 100)
    assert [item for _, item in late] == [b"late"] and late[0][0] > rest[-1][0]
    assert b.queue_len(q, b"") == 6  # scanning removed nothing


def test_scan_limit_bounds_the_page(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"a", b"b", b"c"])
    assert [item for _, item in b.queue_scan(q, b"", 0, 2)] == [b"a", b"b"]
    assert b.queue_scan(q, b"", 0, 0) == []


def test_empty_put_only_checks_for_room(b: Backend) -> None:
    q = new_queue(b)
    assert put(b, q, [], part=b"new") is PutStatus.OK
    assert b.queue_partitions(q) == []  # nothing created
    put(b, q, [b"x"], ttl=0.6, max_items=1)
    assert put(b, q, [], max_items=1) is PutStatus.OK  # full, but 0 more items fit
    assert put(b, q, [], part=b"new", max_partitions=1) is PutStatus.TOO_MANY_PARTITIONS
    assert put(b, q, [], ttl=60) is PutStatus.OK  # does not extend the partition's life
    time.sleep(0.75)
    assert b.queue_len(q, None) == 0
    assert b.delete_object(q) is True
    with pytest.raises(NotFoundError):
        put(b, q, [])


def test_seq_never_reused_after_clear(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"a", b"b"])
    (last, _), *_ = b.queue_scan(q, b"", 1, 10)
    b.queue_clear(q, None)
    put(b, q, [b"c"])
    [(seq, item)] = b.queue_scan(q, b"", 0, 10)
    assert item == b"c" and seq > last


def test_give_back_puts_items_at_the_head_in_order(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"1", b"2", b"3", b"4"], max_items=4)
    assert b.queue_get(q, b"", 3, wait=0) == [b"1", b"2", b"3"]  # a reader took 3 ahead
    put(b, q, [b"5"], max_items=4)
    b.queue_give_back(q, b"", [b"2", b"3"], ttl=60)
    b.queue_give_back(q, b"", [], ttl=60)  # nothing: nothing happens
    assert b.queue_len(q, b"") == 4
    # A scan from the start sees them first, and its cursor then moves on over the rest.
    first = b.queue_scan(q, b"", 0, 2)
    assert [item for _, item in first] == [b"2", b"3"]
    rest = b.queue_scan(q, b"", first[-1][0], 10)
    assert [item for _, item in rest] == [b"4", b"5"]
    # The cap is not checked: the items were in the partition before.
    b.queue_give_back(q, b"", [b"0"], ttl=60)
    assert put(b, q, [b"6"], max_items=4) is PutStatus.FULL
    assert b.queue_get(q, b"", 10, wait=0) == [b"0", b"2", b"3", b"4", b"5"]
    # Into an emptied partition, then behind a later put's items: ahead of them still.
    b.queue_give_back(q, b"", [b"a"], ttl=60)
    put(b, q, [b"b"])
    b.queue_give_back(q, b"", [str(i).encode() for i in range(1500)], ttl=60)  # > one LPUSH batch
    got = b.queue_get(q, b"", 2000, wait=0)
    assert got == [*(str(i).encode() for i in range(1500)), b"a", b"b"]
    assert [item for _, item in b.queue_scan(q, b"", 0, 10)] == []


def test_give_back_revives_a_missing_or_expired_partition(b: Backend) -> None:
    q = new_queue(b)
    b.queue_give_back(q, b"new", [b"x"], ttl=0.6)
    [info] = b.queue_partitions(q)
    assert (info.key, info.length) == (b"new", 1) and info.expires_at - time.time() < 5
    put(b, q, [b"old"], part=b"gone", ttl=0.3)
    time.sleep(0.75)
    b.queue_give_back(q, b"gone", [b"back"], ttl=60)
    assert b.queue_get(q, b"gone", 10, wait=0) == [b"back"]  # not the expired item
    assert b.queue_len(q, b"new") == 0  # expired with its own TTL
    assert b.delete_object(q) is True
    with pytest.raises(NotFoundError):
        b.queue_give_back(q, b"", [b"x"], ttl=60)


def test_give_back_wakes_a_blocked_getter(b: Backend, other: Backend) -> None:
    q = new_queue(b)
    t = later(0.2, other.queue_give_back, q, b"", [b"x", b"y"], ttl=60)
    start = time.monotonic()
    got = b.queue_get(q, b"", 2, wait=5)
    t.join()
    assert got == [b"x", b"y"] and time.monotonic() - start < 4.5


def test_queue_wait_returns_on_change_or_after_wait(b: Backend, other: Backend) -> None:
    q = new_queue(b)
    start = time.monotonic()
    b.queue_wait(q, b"", wait=0.3, for_space=False)
    assert 0.28 <= time.monotonic() - start < 2.0
    # Woken within 0.95 s: SQLite's safety-net re-check comes after 1 s, Redis's after 5 s.
    t = later(0.1, other.queue_put, q, b"", [b"x"], ttl=60, max_items=BIG, max_partitions=BIG)
    start = time.monotonic()
    b.queue_wait(q, b"", wait=5, for_space=False)
    assert time.monotonic() - start < 0.95
    t.join()
    t = later(0.1, other.queue_get, q, b"", 1, wait=0)
    start = time.monotonic()
    b.queue_wait(q, b"", wait=5, for_space=True)
    assert time.monotonic() - start < 0.95
    t.join()


def test_deleted_queue_raises_not_found(b: Backend) -> None:
    q = new_queue(b)
    put(b, q, [b"x"], part=b"p")
    assert b.delete_object(q) is True
    assert b.delete_object(q) is False
    assert b.get_object(q) is None
    assert b.lookup_object(Kind.QUEUE, ENV, "q") is None
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
            call()


def test_blocked_get_notices_deletion(b: Backend, other: Backend) -> None:
    q = new_queue(b)
    t = later(0.1, other.delete_object, q)
    with pytest.raises(NotFoundError):  # woken by the deletion, before SQLite's 1 s re-check
        b.queue_get(q, b"", 1, wait=0.95)
    t.join()
