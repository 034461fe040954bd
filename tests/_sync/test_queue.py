# Auto-generated from tests/_async/test_queue.py by scripts/unasync.py: DO NOT EDIT.
"""Queue behaviour, through the public API, on every backend.

SOURCE of tests/_sync/test_queue.py (scripts/unasync.py): each test runs as ``.aio`` here and
as plain blocking calls there.
"""

from __future__ import annotations

import time
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


def test_seed_example(chute_env: str) -> None:
    with chute.Queue.ephemeral() as my_queue:
        my_queue.put("some value")
        my_queue.put(123)
        assert my_queue.get() == "some value"
        assert my_queue.get() == 123
        my_queue.put(0)
        my_queue.put(1, partition="foo")
        my_queue.put(2, partition="bar")
        assert my_queue.get(partition="bar") == 2
        my_queue.put(3, partition="foo", partition_ttl=10)
        my_queue.put(1)
        assert [v for v in my_queue.iterate()] == [0, 1]
    q = chute.Queue.from_name("my-persisted-queue", create_if_missing=True)
    q.put(42)
    assert q.get() == 42


def test_fifo_order_and_batches(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        for i in range(50):
            q.put(i)
        q.put_many(list(range(50, 120)))
        assert q.len() == 120
        got = [q.get() for _ in range(10)]
        got += q.get_many(60)
        got += q.get_many(1000)  # up to n: returns the 50 left without waiting for more
        assert got == list(range(120))
        assert q.len() == 0


def test_non_blocking_and_timeouts(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        assert q.get(block=False) is None
        assert q.get_many(5, block=False) == []
        t0 = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=0)
        with pytest.raises(queue.Empty):
            q.get_many(3, timeout=0)
        assert time.monotonic() - t0 < 1.0
        t0 = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.3)
        assert 0.28 <= time.monotonic() - t0 < 3.0
        q.put(None)
        assert q.get(timeout=1) is None  # a stored None comes back as None
        q.put("x")
        assert q.get(block=False) == "x"


def test_timeout_with_block_false_warns(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        with pytest.warns(UserWarning, match="ignored"):
            assert q.get(block=False, timeout=1) is None


def test_partitions_are_independent(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        q.put_many([1, 2], partition="a")
        q.put(3, partition="b")
        q.put(4)
        assert q.len() == 1
        assert q.len(partition="a") == 2
        assert q.len(partition="missing") == 0
        assert q.len(total=True) == 4
        assert q.get(block=False, partition="b") == 3
        assert q.get(block=False, partition="b") is None
        assert q.get(block=False) == 4
        assert q.get_many(10, partition="a") == [1, 2]
        parts = q.partitions()
        assert sorted(p[0] or "" for p in parts) == ["", "a", "b"]


def test_len_and_clear_arguments(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        with pytest.raises(InvalidError):
            q.len(partition="a", total=True)
        with pytest.raises(InvalidError):
            q.clear(partition="a", all=True)
        q.put_many([1, 2, 3])
        q.put_many([4, 5], partition="p")
        q.clear(partition="p")
        assert q.len(total=True) == 3
        q.put(6, partition="p")
        q.clear()
        assert q.len() == 0
        assert q.len(partition="p") == 1
        q.clear(all=True)
        assert q.len(total=True) == 0
        q.put(7)  # the queue survives clear
        assert q.get() == 7


def test_partition_key_validation(chute_env: str) -> None:
    assert chute.Queue.validate_partition_key(None) == b""
    assert chute.Queue.validate_partition_key("a" * 64) == b"a" * 64
    assert chute.Queue.validate_partition_key("é" * 32) == "é".encode() * 32
    for bad in ["", "a" * 65, "é" * 33]:
        with pytest.raises(InvalidError, match="64 bytes"):
            chute.Queue.validate_partition_key(bad)
    with chute.Queue.ephemeral() as q:
        q.put(1, partition="k" * 64)
        assert q.get(partition="k" * 64) == 1
        with pytest.raises(InvalidError):
            q.put(1, partition="k" * 65)
        with pytest.raises(InvalidError):
            q.get(partition="")


def test_full_partition(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "3")
    with chute.Queue.ephemeral() as q:
        q.put_many([1, 2, 3])  # exactly at the limit
        with pytest.raises(queue.Full):
            q.put(4, block=False)
        t0 = time.monotonic()
        with pytest.raises(queue.Full):
            q.put(4, timeout=0.3)
        assert 0.28 <= time.monotonic() - t0 < 3.0
        assert q.get() == 1
        with pytest.raises(queue.Full):  # all-or-nothing: 2 items, 1 free slot
            q.put_many([4, 5], block=False)
        assert q.len() == 2
        with pytest.raises(queue.Full, match="never fit"):
            q.put_many([9, 9, 9, 9])
        q.put(4, partition="other")  # partitions are capped independently
        q.put(4, block=False)
        assert q.get_many(10) == [2, 3, 4]


def test_max_partitions(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_PARTITIONS", "3")
    with chute.Queue.ephemeral() as q:
        q.put(1)
        q.put(1, partition="a")
        q.put(1, partition="b")
        with pytest.raises(queue.Full, match="partitions"):
            q.put(1, partition="c", block=False)
        q.put(2, partition="a")  # existing partitions still take items
        q.clear(partition="b")
        q.put(1, partition="c", block=False)


def test_item_size_limit(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"x" * 900
    limit = len(_serialize.dumps(payload))
    assert len(_serialize.dumps(payload + b"x")) == limit + 1
    monkeypatch.setenv("CHUTE_MAX_ITEM_BYTES", str(limit))
    with chute.Queue.ephemeral() as q:
        q.put(payload)  # exactly at the limit
        with pytest.raises(RequestSizeError, match="too large"):
            q.put(payload + b"x")
        with pytest.raises(RequestSizeError):
            q.put_many([1, payload + b"x"])
        assert q.len() == 1
        assert q.get() == payload


def test_partition_ttl(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        q.put(1, partition="short", partition_ttl=0.6)
        q.put(2, partition="long", partition_ttl=60)
        assert q.len(partition="short") == 1
        time.sleep(0.35)
        q.put(3, partition="short", partition_ttl=0.6)  # refreshes the whole partition
        time.sleep(0.4)
        assert q.len(partition="short") == 2
        time.sleep(0.5)
        assert q.len(partition="short") == 0
        assert q.get(block=False, partition="short") is None
        assert [v for v in q.iterate(partition="short")] == []
        assert q.len(total=True) == 1
        q.put(4, partition="short")
        assert q.get_many(5, partition="short") == [4]
        with pytest.raises(InvalidError):
            q.put(1, partition_ttl=0)


def test_iterate(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        q.put_many(list(range(250)))
        assert [v for v in q.iterate()] == list(range(250))
        assert q.len() == 250  # non-destructive
        seen = []
        for v in q.iterate():
            seen.append(v)
            if v == 10:
                q.get_many(100)  # concurrent gets neither restart nor skip the scan
                q.put("late")
        assert seen == [*range(250), "late"]
        t0 = time.monotonic()
        assert [v for v in q.iterate(partition="empty", item_poll_timeout=0.3)] == []
        assert 0.28 <= time.monotonic() - t0 < 3.0


def test_names_and_lookup(chute_env: str) -> None:
    for bad in ["has space", "has/slash", "a" * 65, "", "ap-" + "a" * 22]:
        with pytest.raises(InvalidError, match="Invalid Queue name"):
            chute.Queue.from_name(bad)
    chute.Queue.from_name("a" * 64)  # exactly 64 is fine
    missing = chute.Queue.from_name("does-not-exist")  # lazy: no error yet
    with pytest.raises(NotFoundError, match="does-not-exist"):
        missing.put(1)
    with pytest.raises(InvalidError):
        chute.Queue.from_id("di-" + "a" * 22)
    with pytest.raises(NotFoundError):
        chute.Queue.from_id("qu-" + "a" * 22).len()


def test_objects_namespace(chute_env: str) -> None:
    chute.Queue.objects.create("alpha")
    with pytest.raises(AlreadyExistsError):
        chute.Queue.objects.create("alpha")
    chute.Queue.objects.create("alpha", allow_existing=True)
    time.sleep(0.02)
    chute.Queue.objects.create("beta")
    chute.Queue.objects.create("gamma", environment_name="dev")
    names = [q.name for q in chute.Queue.objects.list()]
    assert names == ["beta", "alpha"]  # newest first; other environments not listed
    assert [q.name for q in chute.Queue.objects.list(max_objects=1)] == ["beta"]
    assert [q.name for q in chute.Queue.objects.list(environment_name="dev")] == ["gamma"]
    future = datetime.now() + timedelta(days=1)
    assert len(chute.Queue.objects.list(created_before=future)) == 2
    assert chute.Queue.objects.list(created_before="2000-01-01") == []
    with pytest.raises(InvalidError):
        chute.Queue.objects.list(max_objects=-1)
    listed = (chute.Queue.objects.list())[0]
    assert listed.is_hydrated and listed.object_id.startswith("qu-")
    chute.Queue.objects.delete("alpha")
    with pytest.raises(NotFoundError):
        chute.Queue.objects.delete("alpha")
    chute.Queue.objects.delete("alpha", allow_missing=True)
    assert [q.name for q in chute.Queue.objects.list()] == ["beta"]


def test_handles_share_one_queue(chute_env: str) -> None:
    a = chute.Queue.from_name("shared", create_if_missing=True)
    a.put("hello")
    b = chute.Queue.from_name("shared")
    c = chute.Queue.from_id(a.object_id)
    assert b.object_id == c.object_id == a.object_id
    assert a.object_id.startswith("qu-") and len(a.object_id) == 25
    assert c.get() == "hello"
    meta = b.info()
    assert meta.name == "shared" and meta.created_by
    assert abs((datetime.now().astimezone() - meta.created_at).total_seconds()) < 60
    chute.Queue.objects.delete("shared")
    with pytest.raises(NotFoundError):
        a.put(1)
    with pytest.raises(NotFoundError):
        c.get(timeout=0.1)


def test_ephemeral_is_deleted_on_exit(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        q.put(1)
        object_id = q.object_id
        assert (q.info()).name is None
        assert chute.Queue.from_id(object_id).len() == 1
    with pytest.raises(NotFoundError):
        chute.Queue.from_id(object_id).len()


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_any_picklable_object(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        values = [{"a": [1, 2.5, None]}, (1, "two"), b"\x00\xff", {1, 2}, 10**40]
        q.put_many(values)
        assert q.get_many(10) == values
        q.put(lambda x: x * 2)
        assert (q.get())(21) == 42
        q.put(Point(1, 2))
        p = q.get()
        assert (p.x, p.y) == (1, 2)
        q.put(q)  # handles travel by reference
        inner = q.get()
        assert inner.object_id == q.object_id


def test_deserialization_error_names_the_module(chute_env: str) -> None:
    mod = types.ModuleType("chute_vanishing_module")
    exec("class Thing:\n    pass\n", mod.__dict__)
    sys.modules["chute_vanishing_module"] = mod
    try:
        with chute.Queue.ephemeral() as q:
            q.put(mod.Thing())
            del sys.modules["chute_vanishing_module"]
            with pytest.raises(DeserializationError, match="chute_vanishing_module"):
                q.get()
    finally:
        sys.modules.pop("chute_vanishing_module", None)


def test_signed_payloads(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    q = chute.Queue.from_name("signed", create_if_missing=True)
    q.put("unsigned")
    monkeypatch.setenv("CHUTE_SECRET", "s3cret")
    signed = chute.Queue.from_name("signed")
    with pytest.raises(IntegrityError, match="not signed"):
        signed.get()
    signed.put({"ok": True})
    assert signed.get() == {"ok": True}
    monkeypatch.setenv("CHUTE_SECRET", "other")
    wrong = chute.Queue.from_name("signed")
    signed.put(1)
    with pytest.raises(IntegrityError, match="signature"):
        wrong.get()


def test_multiprocessing_methods(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    q = chute.Queue(maxsize=2)
    assert q.empty() and not q.full() and q.qsize() == 0
    q.put_nowait("a")
    q.put("b")
    assert q.full() and q.qsize() == 2
    with pytest.raises(queue.Full):
        q.put_nowait("c")
    assert q.get_nowait() == "a"
    assert q.get() == "b"
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):  # multiprocessing-style queue: multiprocessing's convention
        q.get(block=False)
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put(1)
    q.join_thread()
    with pytest.raises(InvalidError):
        chute.Queue(maxsize=-1)


def test_bad_arguments(chute_env: str) -> None:
    with chute.Queue.ephemeral() as q:
        for bad in [0, -1, 1.5, True]:
            with pytest.raises(InvalidError, match="n_values"):
                q.get_many(bad)
        with pytest.raises(InvalidError, match="timeout"):
            q.get(timeout=-1)
        with pytest.raises(InvalidError, match="timeout"):
            q.put(1, timeout="soon")
        with pytest.raises(InvalidError, match="partition key"):
            q.put(1, partition=5)
        with pytest.raises(InvalidError):
            q.put(1, partition_ttl=-5)
