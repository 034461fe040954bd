"""Storage contract, named-object registry: create/lookup/list/delete, ephemeral objects with
heartbeats and garbage collection, and the lifecycle calls, on every backend.

SOURCE of tests/_sync/test_backend_contract_objects.py (scripts/unasync.py): the backend under
test (fixture ``b``) is the async backend here and the generated sync backend there.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chute.backends._async.base import AsyncBackend
from chute.backends.types import Kind
from chute.exception import NotFoundError
from tests._async.contract_helpers import ENV, new_dict, new_queue, put
from tests._flavours import async_open_backend, async_race


async def test_create_lookup_list(b: AsyncBackend) -> None:
    ids = []
    for name in ["a", "b", "c"]:
        ids.append(await new_queue(b, name, created_by="me", max_items=7))
        await asyncio.sleep(0.01)
    info, created = await b.create_object(Kind.QUEUE, ENV, "b", object_id="qu-other")
    assert not created and info.id == ids[1]
    assert await b.get_object("qu-other") is None
    found = await b.lookup_object(Kind.QUEUE, ENV, "a")
    assert found is not None
    assert (found.id, found.name, found.created_by, found.max_items, found.ephemeral) == (
        ids[0],
        "a",
        "me",
        7,
        False,
    )
    assert abs(found.created_at - time.time()) < 5
    assert await b.get_object(ids[0]) == found
    assert await b.lookup_object(Kind.DICT, ENV, "a") is None
    assert await b.lookup_object(Kind.QUEUE, "other", "a") is None
    listed = await b.list_objects(Kind.QUEUE, ENV)
    assert [i.name for i in listed] == ["c", "b", "a"]
    assert [i.name for i in await b.list_objects(Kind.QUEUE, ENV, limit=2)] == ["c", "b"]
    before = await b.list_objects(Kind.QUEUE, ENV, created_before=listed[0].created_at)
    assert [i.name for i in before] == ["b", "a"]
    assert await b.list_objects(Kind.DICT, ENV) == []
    assert await b.list_objects(Kind.QUEUE, "other") == []
    await b.delete_object(ids[1])
    assert [i.name for i in await b.list_objects(Kind.QUEUE, ENV)] == ["c", "a"]


async def test_names_are_per_kind_and_env(b: AsyncBackend) -> None:
    q = await new_queue(b, "same")
    d = await new_dict(b, "same")
    info, created = await b.create_object(Kind.QUEUE, "dev", "same", object_id="qu-dev")
    assert created and info.id == "qu-dev" and info.env == "dev"
    assert len({q, d, "qu-dev"}) == 3
    found = await b.lookup_object(Kind.DICT, ENV, "same")
    assert found is not None and (found.id, found.kind) == (d, Kind.DICT)
    assert [i.id for i in await b.list_objects(Kind.QUEUE, "dev")] == ["qu-dev"]


async def test_deleting_drops_the_data_and_frees_the_name(b: AsyncBackend) -> None:
    q = await new_queue(b, "reused")
    await put(b, q, [b"x"], part=b"p")
    d = await new_dict(b, "reused")
    await b.kv_put(d, [(b"k", b"v")], only_new=False)
    assert await b.delete_object(q) is True
    assert await b.delete_object(d) is True
    q2 = await new_queue(b, "reused")
    d2 = await new_dict(b, "reused")
    assert q2 != q and d2 != d
    assert await b.queue_len(q2, None) == 0 and await b.queue_partitions(q2) == []
    assert await b.kv_len(d2) == 0 and await b.kv_get(d2, b"k") is None


async def test_racing_creators_get_one_object(backend_url: str) -> None:
    backends = [async_open_backend(backend_url) for _ in range(8)]
    try:
        results = await async_race(
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
                assert await backends[0].get_object(oid) is None
                with pytest.raises(NotFoundError):
                    await backends[0].kv_len(oid)
        assert await backends[0].kv_len(winner) == 0
    finally:
        for bk in backends:
            await bk.aclose()


async def test_ephemeral_gc(b: AsyncBackend) -> None:
    keep = await new_queue(b, None, ephemeral_ttl=0.8)
    drop = await new_queue(b, None, ephemeral_ttl=0.8)
    named = await new_queue(b, "durable")
    await put(b, drop, [b"x"], part=b"p")
    info = await b.get_object(keep)
    assert info is not None and info.ephemeral and info.name is None
    assert [i.id for i in await b.list_objects(Kind.QUEUE, ENV)] == [named]
    assert await b.collect_garbage() == 0
    await asyncio.sleep(0.5)
    assert await b.heartbeat(keep, 0.8) is True
    assert await b.heartbeat(named, 0.8) is False  # not ephemeral
    await asyncio.sleep(0.5)
    assert await b.collect_garbage() == 1
    assert await b.get_object(drop) is None
    with pytest.raises(NotFoundError):
        await b.queue_len(drop, None)
    assert await b.heartbeat(drop, 10) is False
    assert await b.get_object(keep) is not None
    await asyncio.sleep(0.6)
    assert await b.collect_garbage() == 1
    assert await b.get_object(keep) is None
    assert await b.get_object(named) is not None


async def test_ephemeral_dict_is_collected_with_its_data(b: AsyncBackend) -> None:
    oid = "di-ephemeral-1"
    info, created = await b.create_object(Kind.DICT, ENV, None, object_id=oid, ephemeral_ttl=0.2)
    assert created and info.ephemeral
    await b.kv_put(oid, [(b"k", b"v")], only_new=False)
    await asyncio.sleep(0.3)
    assert await b.collect_garbage() == 1
    assert await b.get_object(oid) is None
    with pytest.raises(NotFoundError):
        await b.kv_get(oid, b"k")
    assert await b.collect_garbage() == 0


async def test_anonymous_objects_are_always_new(b: AsyncBackend) -> None:
    one = await new_queue(b, None, ephemeral_ttl=30)
    two = await new_queue(b, None, ephemeral_ttl=30)
    assert one != two
    assert await b.list_objects(Kind.QUEUE, ENV) == []


async def test_ping_and_now(b: AsyncBackend) -> None:
    await b.ping()
    assert abs(await b.now() - time.time()) < 2


async def test_unknown_ids(b: AsyncBackend) -> None:
    missing = "qu-" + "0" * 16
    assert await b.get_object(missing) is None
    assert await b.delete_object(missing) is False
    assert await b.heartbeat(missing, 10) is False
    assert await b.lookup_object(Kind.QUEUE, ENV, "never") is None
