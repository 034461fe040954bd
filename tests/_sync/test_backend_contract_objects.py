# Auto-generated from tests/_async/test_backend_contract_objects.py by scripts/unasync.py: DO NOT EDIT.
"""Storage contract, named-object registry: create/lookup/list/delete, ephemeral objects with
heartbeats and garbage collection, and the lifecycle calls, on every backend.

SOURCE of tests/_sync/test_backend_contract_objects.py (scripts/unasync.py): the backend under
test (fixture ``b``) is the async backend here and the generated sync backend there.
"""

from __future__ import annotations

import time
import time

import pytest

from chute.backends._sync.base import Backend
from chute.backends.types import Kind
from chute.exception import NotFoundError
from tests._sync.contract_helpers import ENV, new_dict, new_queue, put
from tests._flavours import sync_open_backend, sync_race


def test_create_lookup_list(b: Backend) -> None:
    ids = []
    for name in ["a", "b", "c"]:
        ids.append(new_queue(b, name, created_by="me", max_items=7))
        time.sleep(0.01)
    info, created = b.create_object(Kind.QUEUE, ENV, "b", object_id="qu-other")
    assert not created and info.id == ids[1]
    assert b.get_object("qu-other") is None
    found = b.lookup_object(Kind.QUEUE, ENV, "a")
    assert found is not None
    assert (found.id, found.name, found.created_by, found.max_items, found.ephemeral) == (
        ids[0],
        "a",
        "me",
        7,
        False,
    )
    assert abs(found.created_at - time.time()) < 5
    assert b.get_object(ids[0]) == found
    assert b.lookup_object(Kind.DICT, ENV, "a") is None
    assert b.lookup_object(Kind.QUEUE, "other", "a") is None
    listed = b.list_objects(Kind.QUEUE, ENV)
    assert [i.name for i in listed] == ["c", "b", "a"]
    assert [i.name for i in b.list_objects(Kind.QUEUE, ENV, limit=2)] == ["c", "b"]
    before = b.list_objects(Kind.QUEUE, ENV, created_before=listed[0].created_at)
    assert [i.name for i in before] == ["b", "a"]
    assert b.list_objects(Kind.DICT, ENV) == []
    assert b.list_objects(Kind.QUEUE, "other") == []
    b.delete_object(ids[1])
    assert [i.name for i in b.list_objects(Kind.QUEUE, ENV)] == ["c", "a"]


def test_names_are_per_kind_and_env(b: Backend) -> None:
    q = new_queue(b, "same")
    d = new_dict(b, "same")
    info, created = b.create_object(Kind.QUEUE, "dev", "same", object_id="qu-dev")
    assert created and info.id == "qu-dev" and info.env == "dev"
    assert len({q, d, "qu-dev"}) == 3
    found = b.lookup_object(Kind.DICT, ENV, "same")
    assert found is not None and (found.id, found.kind) == (d, Kind.DICT)
    assert [i.id for i in b.list_objects(Kind.QUEUE, "dev")] == ["qu-dev"]


def test_deleting_drops_the_data_and_frees_the_name(b: Backend) -> None:
    q = new_queue(b, "reused")
    put(b, q, [b"x"], part=b"p")
    d = new_dict(b, "reused")
    b.kv_put(d, [(b"k", b"v")], only_new=False)
    assert b.delete_object(q) is True
    assert b.delete_object(d) is True
    q2 = new_queue(b, "reused")
    d2 = new_dict(b, "reused")
    assert q2 != q and d2 != d
    assert b.queue_len(q2, None) == 0 and b.queue_partitions(q2) == []
    assert b.kv_len(d2) == 0 and b.kv_get(d2, b"k") is None


def test_racing_creators_get_one_object(backend_url: str) -> None:
    backends = [sync_open_backend(backend_url) for _ in range(8)]
    try:
        results = sync_race(
            [
                lambda bk=bk, i=i: bk.create_object(Kind.DICT, ENV, "race", object_id=f"di-{i}")
                for i, bk in enumerate(backends)
            ]
        )
        assert sum(created for _, created in results) == 1
        assert len({info.id for info, _ in results}) == 1
        winner = results[0][0].id
        # The losers' ids are not usable: only the winner's id names an object.
        for i in range(len(backends)):
            oid = f"di-{i}"
            if oid != winner:
                assert backends[0].get_object(oid) is None
                with pytest.raises(NotFoundError):
                    backends[0].kv_len(oid)
        assert backends[0].kv_len(winner) == 0
    finally:
        for bk in backends:
            bk.close()


def test_ephemeral_gc(b: Backend) -> None:
    keep = new_queue(b, None, ephemeral_ttl=0.8)
    drop = new_queue(b, None, ephemeral_ttl=0.8)
    named = new_queue(b, "durable")
    put(b, drop, [b"x"], part=b"p")
    info = b.get_object(keep)
    assert info is not None and info.ephemeral and info.name is None
    assert [i.id for i in b.list_objects(Kind.QUEUE, ENV)] == [named]
    assert b.collect_garbage() == 0
    time.sleep(0.5)
    assert b.heartbeat(keep, 0.8) is True
    assert b.heartbeat(named, 0.8) is False  # not ephemeral
    time.sleep(0.5)
    assert b.collect_garbage() == 1
    assert b.get_object(drop) is None
    with pytest.raises(NotFoundError):
        b.queue_len(drop, None)
    assert b.heartbeat(drop, 10) is False
    assert b.get_object(keep) is not None
    time.sleep(0.6)
    assert b.collect_garbage() == 1
    assert b.get_object(keep) is None
    assert b.get_object(named) is not None


def test_ephemeral_dict_is_collected_with_its_data(b: Backend) -> None:
    oid = "di-ephemeral-1"
    info, created = b.create_object(Kind.DICT, ENV, None, object_id=oid, ephemeral_ttl=0.2)
    assert created and info.ephemeral
    b.kv_put(oid, [(b"k", b"v")], only_new=False)
    time.sleep(0.3)
    assert b.collect_garbage() == 1
    assert b.get_object(oid) is None
    with pytest.raises(NotFoundError):
        b.kv_get(oid, b"k")
    assert b.collect_garbage() == 0


def test_anonymous_objects_are_always_new(b: Backend) -> None:
    one = new_queue(b, None, ephemeral_ttl=30)
    two = new_queue(b, None, ephemeral_ttl=30)
    assert one != two
    assert b.list_objects(Kind.QUEUE, ENV) == []


def test_ping_and_now(b: Backend) -> None:
    b.ping()
    assert abs(b.now() - time.time()) < 2


def test_unknown_ids(b: Backend) -> None:
    missing = "qu-" + "0" * 16
    assert b.get_object(missing) is None
    assert b.delete_object(missing) is False
    assert b.heartbeat(missing, 10) is False
    assert b.lookup_object(Kind.QUEUE, ENV, "never") is None
