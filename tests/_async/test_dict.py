"""Dict behaviour, through the public API, on every backend.

SOURCE of tests/_sync/test_dict.py (scripts/unasync.py): each test runs as ``.aio`` here and
as plain blocking calls there. Dunders (``d[k]``, ``k in d``) always block, as in Modal.
"""

from __future__ import annotations

import asyncio
import sys
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
    SerializationError,
)


async def test_seed_example(chute_env: str) -> None:
    my_dict = chute.Dict.from_name("my-persisted-dict", create_if_missing=True)
    my_dict["key"] = "value"
    assert my_dict["key"] == "value"
    await my_dict.put.aio("hello", 400)
    assert await my_dict.get.aio("hello") == 400
    async with chute.Dict.ephemeral() as d:
        d["stop"] = True
        assert "stop" in d
    again = chute.Dict.from_name("my-persisted-dict")
    assert await again.get.aio("key") == "value"


async def test_put_get_contains(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        assert await d.put.aio("a", 1) is True
        assert await d.put.aio("a", 2) is True  # overwrites
        assert await d.get.aio("a") == 2
        assert await d.get.aio("missing") is None
        assert await d.get.aio("missing", "dflt") == "dflt"
        assert await d.contains.aio("a") and not await d.contains.aio("missing")
        assert "a" in d and "missing" not in d
        d["none"] = None  # a stored None reads back as None, not as missing
        assert d["none"] is None
        assert await d.contains.aio("none")
        assert await d.get.aio("none", "dflt") is None
        with pytest.raises(KeyError, match=f"missing not in dict {d.object_id}"):
            d["missing"]
        d["a"] = [1, 2]
        value = d["a"]
        value.append(3)  # values are copies
        assert d["a"] == [1, 2]


async def test_put_skip_if_exists(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        assert await d.put.aio("lock", "first", skip_if_exists=True) is True
        assert await d.put.aio("lock", "second", skip_if_exists=True) is False
        assert await d.get.aio("lock") == "first"
        await d.pop.aio("lock")
        assert await d.put.aio("lock", "third", skip_if_exists=True) is True
        assert d["lock"] == "third"


async def test_pop_and_del(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        await d.update.aio({"a": 1, "b": 2, "c": None})
        assert await d.pop.aio("a") == 1
        assert not await d.contains.aio("a")
        with pytest.raises(KeyError, match="a not in dict di-"):
            await d.pop.aio("a")
        assert await d.pop.aio("a", None) is None  # None counts as an explicit default
        assert await d.pop.aio("a", 7) == 7
        assert await d.pop.aio("c", 7) is None  # a stored None is a value
        del d["b"]
        assert await d.len.aio() == 0
        with pytest.raises(KeyError, match="b not in dict"):
            del d["b"]


async def test_key_identity(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        # Compared by serialized bytes, as in Modal: 1, 1.0 and True are three keys.
        await d.put.aio(1, "int")
        await d.put.aio(1.0, "float")
        await d.put.aio(True, "bool")
        assert [await d.get.aio(k) for k in (1, 1.0, True)] == ["int", "float", "bool"]
        assert await d.len.aio() == 3
        part = "ab"
        built = "".join(["a", "b"])  # equal to "ab", a different object
        await d.put.aio(("ab", "ab", 2), "tuple")
        assert await d.get.aio((part, built, 2)) == "tuple"
        await d.put.aio(frozenset({"x", "y", ("z", frozenset({1, 2}))}), "fs")
        assert await d.get.aio(frozenset({("z", frozenset({2, 1})), "y", "x"})) == "fs"
        for key in [None, b"\x00bytes", "", -(10**30), 2.5, (), ("nested", ("t", 1))]:
            await d.put.aio(key, repr(key))
            assert d[key] == repr(key)
        assert await d.get.aio(b"") is None  # b"" and "" are different keys
        keys = [k async for k in d.keys.aio()]
        assert len(keys) == await d.len.aio() == 12
        assert sum(1 for k in keys if k == 1) == 3  # 1, 1.0, True all come back
        assert {type(k) for k in keys if k == 1} == {int, float, bool}


async def test_update(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        await d.update.aio({"a": 1, "b": 2}, b=20, c=30)  # kwargs win over the mapping
        assert sorted([kv async for kv in d.items.aio()]) == [("a", 1), ("b", 20), ("c", 30)]
        await d.update.aio(None)
        await d.update.aio({})
        await d.update.aio()
        await d.update.aio(types.MappingProxyType({(1, 2): "t"}))  # any mapping
        await d.update.aio(other="kw", d="kw")  # keyword names that are also parameter names
        assert await d.pop.aio("other") == await d.pop.aio("d") == "kw"
        assert await d.get.aio((1, 2)) == "t"
        with pytest.raises(InvalidError, match="mapping"):
            await d.update.aio([("x", 1)])  # type: ignore[arg-type]
        assert await d.len.aio() == 4


async def test_update_is_all_or_nothing(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", "1000")
    async with chute.Dict.ephemeral() as d:
        with pytest.raises(RequestSizeError, match=r"Dict\.update request is too large"):
            await d.update.aio({"a": 1, "big": b"x" * 2000, "z": 3})
        with pytest.raises(SerializationError):
            await d.update.aio({"a": 1, "bad": _Unpicklable(), "z": 3})
        with pytest.raises(InvalidError, match="hashable"):
            await d.update.aio(_PairsMapping([("a", 1), ((1, [2]), 3)]))  # type: ignore[arg-type]
        assert await d.len.aio() == 0


class _PairsMapping:
    """Just enough of a mapping for update(); unlike a dict it can hold unhashable keys."""

    def __init__(self, pairs: list[tuple[object, object]]) -> None:
        self._pairs = pairs

    def keys(self) -> list[object]:
        return [k for k, _ in self._pairs]

    def __getitem__(self, key: object) -> object:
        return next(v for k, v in self._pairs if k == key)


class _Unpicklable:
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("not today")


async def test_update_entry_limit(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        with pytest.raises(InvalidError, match="split the update"):
            await d.update.aio({i: i for i in range(10_001)})
        assert await d.len.aio() == 0
        await d.update.aio({i: i for i in range(9_999)}, a=1)  # exactly at the limit
        # A key given twice (in the mapping and as a keyword) counts once.
        await d.update.aio({**{i: -i for i in range(9_999)}, "a": 0}, a=2)
        assert await d.len.aio() == 10_000
        assert await d.get.aio(9_998) == -9_998 and await d.get.aio("a") == 2


async def test_value_size_limit(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"x" * 900
    limit = len(_serialize.dumps(payload))
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", str(limit))
    async with chute.Dict.ephemeral() as d:
        await d.put.aio("k", payload)  # exactly at the limit
        with pytest.raises(RequestSizeError, match=r"Dict\.put request is too large"):
            await d.put.aio("k", payload + b"x")
        with pytest.raises(RequestSizeError):
            d["k2"] = payload + b"x"
        assert await d.get.aio("k") == payload
        assert await d.len.aio() == 1


async def test_len_clear_and_survival(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        assert await d.len.aio() == 0
        await d.update.aio({i: str(i) for i in range(25)})
        assert await d.len.aio() == 25
        await d.clear.aio()
        assert await d.len.aio() == 0
        assert [k async for k in d.keys.aio()] == []
        d["again"] = 1  # the dict survives clear
        assert await d.len.aio() == 1


async def test_keys_values_items_stream_across_pages(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        expected = {f"k{i:04}": i for i in range(250)}
        await d.update.aio(expected)
        assert sorted([k async for k in d.keys.aio()]) == sorted(expected)
        assert sorted([v async for v in d.values.aio()]) == sorted(expected.values())
        assert dict([kv async for kv in d.items.aio()]) == expected
        it = d.keys.aio()  # one-shot iterators, not views
        first = [k async for k in it]
        assert len(first) == 250 and [k async for k in it] == []


async def test_iteration_under_concurrent_writes(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        stable = {("stable", i): i for i in range(300)}
        churn = {("churn", i): i for i in range(300)}
        await d.update.aio({**stable, **churn})
        seen: list[object] = []
        n = 0
        async for key, value in d.items.aio():
            seen.append(key)
            n += 1
            if n % 10 == 0:  # churn keys come and go, and new keys arrive, while we iterate
                await d.pop.aio(("churn", n), None)
                await d.put.aio(("new", n), n)
                await d.put.aio(("stable", n % 300), value)  # overwriting keeps the key present
        stable_seen = [k for k in seen if isinstance(k, tuple) and k[0] == "stable"]
        assert sorted(stable_seen) == sorted(stable)  # each exactly once
        assert len(seen) == len(set(seen))


async def test_names_and_lookup(chute_env: str) -> None:
    for bad in ["has space", "has/slash", "a" * 65, "", "ap-" + "a" * 22]:
        with pytest.raises(InvalidError, match="Invalid Dict name"):
            chute.Dict.from_name(bad)
    chute.Dict.from_name("a" * 64)
    missing = chute.Dict.from_name("does-not-exist")  # lazy: no error yet
    with pytest.raises(NotFoundError, match="does-not-exist"):
        await missing.get.aio("k")
    with pytest.raises(NotFoundError):
        "k" in missing  # noqa: B015
    with pytest.raises(InvalidError):
        chute.Dict.from_id("qu-" + "a" * 22)
    with pytest.raises(InvalidError):
        chute.Dict.from_id("nonsense")
    with pytest.raises(NotFoundError):
        await chute.Dict.from_id("di-" + "a" * 22).len.aio()
    queue = chute.Queue.from_name("same-name", create_if_missing=True)
    await queue.put.aio(1)
    with pytest.raises(NotFoundError):  # queues and dicts have separate namespaces
        await chute.Dict.from_name("same-name").len.aio()
    with pytest.raises(NotFoundError):
        await chute.Dict.from_id(queue.object_id.replace("qu-", "di-")).len.aio()


async def test_objects_namespace(chute_env: str) -> None:
    await chute.Dict.objects.create.aio("alpha")
    with pytest.raises(AlreadyExistsError):
        await chute.Dict.objects.create.aio("alpha")
    await chute.Dict.objects.create.aio("alpha", allow_existing=True)
    await asyncio.sleep(0.02)
    await chute.Dict.objects.create.aio("beta")
    await chute.Dict.objects.create.aio("gamma", environment_name="dev")
    await chute.Queue.objects.create.aio("a-queue")
    assert [d.name for d in await chute.Dict.objects.list.aio()] == ["beta", "alpha"]
    assert [d.name for d in await chute.Dict.objects.list.aio(max_objects=1)] == ["beta"]
    assert [d.name for d in await chute.Dict.objects.list.aio(environment_name="dev")] == ["gamma"]
    future = datetime.now() + timedelta(days=1)
    assert len(await chute.Dict.objects.list.aio(created_before=future)) == 2
    listed = (await chute.Dict.objects.list.aio())[0]
    assert isinstance(listed, chute.Dict)
    assert listed.is_hydrated and listed.object_id.startswith("di-")
    await chute.Dict.objects.delete.aio("alpha")
    with pytest.raises(NotFoundError):
        await chute.Dict.objects.delete.aio("alpha")
    await chute.Dict.objects.delete.aio("alpha", allow_missing=True)
    assert [d.name for d in await chute.Dict.objects.list.aio()] == ["beta"]


async def test_handles_share_one_dict(chute_env: str) -> None:
    a = chute.Dict.from_name("shared", create_if_missing=True)
    await a.put.aio("hello", "world")
    b = chute.Dict.from_name("shared")
    c = chute.Dict.from_id(a.object_id)
    assert b.object_id == c.object_id == a.object_id
    assert a.object_id.startswith("di-") and len(a.object_id) == 25
    assert c["hello"] == "world" and c.name == "shared"
    meta = await b.info.aio()
    assert meta.name == "shared" and meta.created_by
    assert abs((datetime.now().astimezone() - meta.created_at).total_seconds()) < 60
    assert await b.hydrate.aio() is b and b.is_hydrated
    await chute.Dict.objects.delete.aio("shared")
    with pytest.raises(NotFoundError):
        await a.put.aio("k", 1)
    with pytest.raises(NotFoundError):
        await c.get.aio("hello")
    with pytest.raises(NotFoundError):
        [k async for k in c.keys.aio()]


async def test_ephemeral_is_deleted_on_exit(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        d["k"] = 1
        object_id = d.object_id
        assert (await d.info.aio()).name is None and d.name is None
        assert await chute.Dict.from_id(object_id).get.aio("k") == 1
    with pytest.raises(NotFoundError):
        await chute.Dict.from_id(object_id).len.aio()
    with pytest.raises(InvalidError):
        chute.Dict.ephemeral(environment_name="bad name")


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


async def test_any_picklable_value(chute_env: str) -> None:
    async with chute.Dict.ephemeral() as d:
        values = {"dict": {"a": [1, 2.5, None]}, "set": {1, 2}, "big": 10**40, "bytes": b"\x00\xff"}
        await d.update.aio(values)
        assert {k: await d.get.aio(k) for k in values} == values
        await d.put.aio("fn", lambda x: x * 2)
        assert (await d.get.aio("fn"))(21) == 42
        await d.put.aio("point", Point(1, 2))
        p = await d.get.aio("point")
        assert (p.x, p.y) == (1, 2)
        async with chute.Queue.ephemeral() as q:
            await d.put.aio("handles", (d, q))  # handles travel by reference
            inner_d, inner_q = await d.get.aio("handles")
            assert inner_d.object_id == d.object_id and inner_q.object_id == q.object_id
            assert inner_d["point"].x == 1


async def test_bad_keys_and_python_protocols(chute_env: str) -> None:
    with pytest.raises(RuntimeError, match="from_name"):
        chute.Dict()
    async with chute.Dict.ephemeral() as d:
        for bad in [[1], {"a": 1}, {1}, (1, [2])]:
            with pytest.raises(InvalidError, match="hashable"):
                await d.put.aio(bad, 1)
        with pytest.raises(TypeError):
            len(d)  # type: ignore[arg-type]  # as in Modal: use d.len()
        with pytest.raises(TypeError, match="keys"):
            iter(d)
        assert bool(d)


async def test_deserialization_errors_name_key_and_dict(chute_env: str) -> None:
    mod = types.ModuleType("chute_vanishing_dict_module")
    exec("class Thing:\n    def __hash__(self):\n        return 1\n", mod.__dict__)
    sys.modules["chute_vanishing_dict_module"] = mod
    try:
        named = chute.Dict.from_name("named", create_if_missing=True)
        await named.put.aio("k", mod.Thing())
        async with chute.Dict.ephemeral() as eph:
            await eph.put.aio("k", mod.Thing())
            await eph.put.aio(mod.Thing(), mod.Thing())
            del sys.modules["chute_vanishing_dict_module"]
            with pytest.raises(DeserializationError) as err:
                await named.get.aio("k")
            assert "value for key 'k' from Dict 'named'" in str(err.value)
            assert "chute_vanishing_dict_module" in str(err.value)
            with pytest.raises(DeserializationError, match="for key 'k' from Dict 'named'"):
                [v async for v in named.values.aio()]
            with pytest.raises(DeserializationError, match="for key 'k' from Dict 'named'"):
                await named.pop.aio("k")
            with pytest.raises(
                DeserializationError, match=f"for key 'k' from ephemeral Dict {eph.object_id}"
            ):
                eph["k"]
            with pytest.raises(DeserializationError, match=f"a key from ephemeral Dict {eph.object_id}"):
                [k async for k in eph.keys.aio()]
            with pytest.raises(DeserializationError):
                await eph.pop.aio("k")
            assert not await eph.contains.aio("k")  # popped even though it could not be decoded
            with pytest.raises(DeserializationError) as err:
                [v async for v in eph.values.aio()]
            assert "value from ephemeral Dict" in str(err.value) and "for key" not in str(err.value)
    finally:
        sys.modules.pop("chute_vanishing_dict_module", None)


async def test_signed_payloads(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    d = chute.Dict.from_name("signed", create_if_missing=True)
    await d.put.aio("unsigned", 1)
    # Each CHUTE_SECRET is another client: close this one's connections before switching.
    await chute.Client.from_env().aclose()
    monkeypatch.setenv("CHUTE_SECRET", "s3cret")
    signed = chute.Dict.from_name("signed")
    # Keys are signed too, so an unsigned key is another key; its value is never unpickled.
    assert await signed.get.aio("unsigned") is None
    await signed.put.aio(("t", frozenset({"a", "b"})), {"ok": True})
    assert await signed.get.aio(("t", frozenset({"b", "a"}))) == {"ok": True}
    with pytest.raises(IntegrityError, match="not signed"):
        [k async for k in signed.keys.aio()]
    await chute.Client.from_env().aclose()
    monkeypatch.setenv("CHUTE_SECRET", "other")
    wrong = chute.Dict.from_name("signed")
    assert await wrong.get.aio(("t", frozenset({"b", "a"}))) is None
    with pytest.raises(IntegrityError):
        [kv async for kv in wrong.items.aio()]
