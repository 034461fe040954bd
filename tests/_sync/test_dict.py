# Auto-generated from tests/_async/test_dict.py by scripts/unasync.py: DO NOT EDIT.
"""Dict behaviour, through the public API, on every backend.

SOURCE of tests/_sync/test_dict.py (scripts/unasync.py): each test runs as ``.aio`` here and
as plain blocking calls there. Dunders (``d[k]``, ``k in d``) always block, as in Modal.
"""

from __future__ import annotations

import time
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


def test_seed_example(chute_env: str) -> None:
    my_dict = chute.Dict.from_name("my-persisted-dict", create_if_missing=True)
    my_dict["key"] = "value"
    assert my_dict["key"] == "value"
    my_dict.put("hello", 400)
    assert my_dict.get("hello") == 400
    with chute.Dict.ephemeral() as d:
        d["stop"] = True
        assert "stop" in d
    again = chute.Dict.from_name("my-persisted-dict")
    assert again.get("key") == "value"


def test_put_get_contains(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        assert d.put("a", 1) is True
        assert d.put("a", 2) is True  # overwrites
        assert d.get("a") == 2
        assert d.get("missing") is None
        assert d.get("missing", "dflt") == "dflt"
        assert d.contains("a") and not d.contains("missing")
        assert "a" in d and "missing" not in d
        d["none"] = None  # a stored None reads back as None, not as missing
        assert d["none"] is None
        assert d.contains("none")
        assert d.get("none", "dflt") is None
        with pytest.raises(KeyError, match=f"missing not in dict {d.object_id}"):
            d["missing"]
        d["a"] = [1, 2]
        value = d["a"]
        value.append(3)  # values are copies
        assert d["a"] == [1, 2]


def test_put_skip_if_exists(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        assert d.put("lock", "first", skip_if_exists=True) is True
        assert d.put("lock", "second", skip_if_exists=True) is False
        assert d.get("lock") == "first"
        d.pop("lock")
        assert d.put("lock", "third", skip_if_exists=True) is True
        assert d["lock"] == "third"


def test_pop_and_del(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        d.update({"a": 1, "b": 2, "c": None})
        assert d.pop("a") == 1
        assert not d.contains("a")
        with pytest.raises(KeyError, match="a not in dict di-"):
            d.pop("a")
        assert d.pop("a", None) is None  # None counts as an explicit default
        assert d.pop("a", 7) == 7
        assert d.pop("c", 7) is None  # a stored None is a value
        del d["b"]
        assert d.len() == 0
        with pytest.raises(KeyError, match="b not in dict"):
            del d["b"]


def test_key_identity(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        # Compared by serialized bytes, as in Modal: 1, 1.0 and True are three keys.
        d.put(1, "int")
        d.put(1.0, "float")
        d.put(True, "bool")
        assert [d.get(k) for k in (1, 1.0, True)] == ["int", "float", "bool"]
        assert d.len() == 3
        part = "ab"
        built = "".join(["a", "b"])  # equal to "ab", a different object
        d.put(("ab", "ab", 2), "tuple")
        assert d.get((part, built, 2)) == "tuple"
        d.put(frozenset({"x", "y", ("z", frozenset({1, 2}))}), "fs")
        assert d.get(frozenset({("z", frozenset({2, 1})), "y", "x"})) == "fs"
        for key in [None, b"\x00bytes", "", -(10**30), 2.5, (), ("nested", ("t", 1))]:
            d.put(key, repr(key))
            assert d[key] == repr(key)
        assert d.get(b"") is None  # b"" and "" are different keys
        keys = [k for k in d.keys()]
        assert len(keys) == d.len() == 12
        assert sum(1 for k in keys if k == 1) == 3  # 1, 1.0, True all come back
        assert {type(k) for k in keys if k == 1} == {int, float, bool}


def test_update(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        d.update({"a": 1, "b": 2}, b=20, c=30)  # kwargs win over the mapping
        assert sorted([kv for kv in d.items()]) == [("a", 1), ("b", 20), ("c", 30)]
        d.update(None)
        d.update({})
        d.update()
        d.update(types.MappingProxyType({(1, 2): "t"}))  # any mapping
        d.update(other="kw", d="kw")  # keyword names that are also parameter names
        assert d.pop("other") == d.pop("d") == "kw"
        assert d.get((1, 2)) == "t"
        with pytest.raises(InvalidError, match="mapping"):
            d.update([("x", 1)])  # type: ignore[arg-type]
        assert d.len() == 4


def test_update_is_all_or_nothing(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", "1000")
    with chute.Dict.ephemeral() as d:
        with pytest.raises(RequestSizeError, match=r"Dict\.update request is too large"):
            d.update({"a": 1, "big": b"x" * 2000, "z": 3})
        with pytest.raises(SerializationError):
            d.update({"a": 1, "bad": _Unpicklable(), "z": 3})
        with pytest.raises(InvalidError, match="hashable"):
            d.update(_PairsMapping([("a", 1), ((1, [2]), 3)]))  # type: ignore[arg-type]
        assert d.len() == 0


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


def test_update_entry_limit(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        with pytest.raises(InvalidError, match="split the update"):
            d.update({i: i for i in range(10_001)})
        assert d.len() == 0
        d.update({i: i for i in range(9_999)}, a=1)  # exactly at the limit
        # A key given twice (in the mapping and as a keyword) counts once.
        d.update({**{i: -i for i in range(9_999)}, "a": 0}, a=2)
        assert d.len() == 10_000
        assert d.get(9_998) == -9_998 and d.get("a") == 2


def test_value_size_limit(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"x" * 900
    limit = len(_serialize.dumps(payload))
    monkeypatch.setenv("CHUTE_MAX_VALUE_BYTES", str(limit))
    with chute.Dict.ephemeral() as d:
        d.put("k", payload)  # exactly at the limit
        with pytest.raises(RequestSizeError, match=r"Dict\.put request is too large"):
            d.put("k", payload + b"x")
        with pytest.raises(RequestSizeError):
            d["k2"] = payload + b"x"
        assert d.get("k") == payload
        assert d.len() == 1


def test_len_clear_and_survival(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        assert d.len() == 0
        d.update({i: str(i) for i in range(25)})
        assert d.len() == 25
        d.clear()
        assert d.len() == 0
        assert [k for k in d.keys()] == []
        d["again"] = 1  # the dict survives clear
        assert d.len() == 1


def test_keys_values_items_stream_across_pages(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        expected = {f"k{i:04}": i for i in range(250)}
        d.update(expected)
        assert sorted([k for k in d.keys()]) == sorted(expected)
        assert sorted([v for v in d.values()]) == sorted(expected.values())
        assert dict([kv for kv in d.items()]) == expected
        it = d.keys()  # one-shot iterators, not views
        first = [k for k in it]
        assert len(first) == 250 and [k for k in it] == []


def test_iteration_under_concurrent_writes(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        stable = {("stable", i): i for i in range(300)}
        churn = {("churn", i): i for i in range(300)}
        d.update({**stable, **churn})
        seen: list[object] = []
        n = 0
        for key, value in d.items():
            seen.append(key)
            n += 1
            if n % 10 == 0:  # churn keys come and go, and new keys arrive, while we iterate
                d.pop(("churn", n), None)
                d.put(("new", n), n)
                d.put(("stable", n % 300), value)  # overwriting keeps the key present
        stable_seen = [k for k in seen if isinstance(k, tuple) and k[0] == "stable"]
        assert sorted(stable_seen) == sorted(stable)  # each exactly once
        assert len(seen) == len(set(seen))


def test_names_and_lookup(chute_env: str) -> None:
    for bad in ["has space", "has/slash", "a" * 65, "", "ap-" + "a" * 22]:
        with pytest.raises(InvalidError, match="Invalid Dict name"):
            chute.Dict.from_name(bad)
    chute.Dict.from_name("a" * 64)
    missing = chute.Dict.from_name("does-not-exist")  # lazy: no error yet
    with pytest.raises(NotFoundError, match="does-not-exist"):
        missing.get("k")
    with pytest.raises(NotFoundError):
        "k" in missing  # noqa: B015
    with pytest.raises(InvalidError):
        chute.Dict.from_id("qu-" + "a" * 22)
    with pytest.raises(InvalidError):
        chute.Dict.from_id("nonsense")
    with pytest.raises(NotFoundError):
        chute.Dict.from_id("di-" + "a" * 22).len()
    queue = chute.Queue.from_name("same-name", create_if_missing=True)
    queue.put(1)
    with pytest.raises(NotFoundError):  # queues and dicts have separate namespaces
        chute.Dict.from_name("same-name").len()
    with pytest.raises(NotFoundError):
        chute.Dict.from_id(queue.object_id.replace("qu-", "di-")).len()


def test_objects_namespace(chute_env: str) -> None:
    chute.Dict.objects.create("alpha")
    with pytest.raises(AlreadyExistsError):
        chute.Dict.objects.create("alpha")
    chute.Dict.objects.create("alpha", allow_existing=True)
    time.sleep(0.02)
    chute.Dict.objects.create("beta")
    chute.Dict.objects.create("gamma", environment_name="dev")
    chute.Queue.objects.create("a-queue")
    assert [d.name for d in chute.Dict.objects.list()] == ["beta", "alpha"]
    assert [d.name for d in chute.Dict.objects.list(max_objects=1)] == ["beta"]
    assert [d.name for d in chute.Dict.objects.list(environment_name="dev")] == ["gamma"]
    future = datetime.now() + timedelta(days=1)
    assert len(chute.Dict.objects.list(created_before=future)) == 2
    listed = (chute.Dict.objects.list())[0]
    assert isinstance(listed, chute.Dict)
    assert listed.is_hydrated and listed.object_id.startswith("di-")
    chute.Dict.objects.delete("alpha")
    with pytest.raises(NotFoundError):
        chute.Dict.objects.delete("alpha")
    chute.Dict.objects.delete("alpha", allow_missing=True)
    assert [d.name for d in chute.Dict.objects.list()] == ["beta"]


def test_handles_share_one_dict(chute_env: str) -> None:
    a = chute.Dict.from_name("shared", create_if_missing=True)
    a.put("hello", "world")
    b = chute.Dict.from_name("shared")
    c = chute.Dict.from_id(a.object_id)
    assert b.object_id == c.object_id == a.object_id
    assert a.object_id.startswith("di-") and len(a.object_id) == 25
    assert c["hello"] == "world" and c.name == "shared"
    meta = b.info()
    assert meta.name == "shared" and meta.created_by
    assert abs((datetime.now().astimezone() - meta.created_at).total_seconds()) < 60
    assert b.hydrate() is b and b.is_hydrated
    chute.Dict.objects.delete("shared")
    with pytest.raises(NotFoundError):
        a.put("k", 1)
    with pytest.raises(NotFoundError):
        c.get("hello")
    with pytest.raises(NotFoundError):
        [k for k in c.keys()]


def test_ephemeral_is_deleted_on_exit(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        d["k"] = 1
        object_id = d.object_id
        assert (d.info()).name is None and d.name is None
        assert chute.Dict.from_id(object_id).get("k") == 1
    with pytest.raises(NotFoundError):
        chute.Dict.from_id(object_id).len()
    with pytest.raises(InvalidError):
        chute.Dict.ephemeral(environment_name="bad name")


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def test_any_picklable_value(chute_env: str) -> None:
    with chute.Dict.ephemeral() as d:
        values = {"dict": {"a": [1, 2.5, None]}, "set": {1, 2}, "big": 10**40, "bytes": b"\x00\xff"}
        d.update(values)
        assert {k: d.get(k) for k in values} == values
        d.put("fn", lambda x: x * 2)
        assert (d.get("fn"))(21) == 42
        d.put("point", Point(1, 2))
        p = d.get("point")
        assert (p.x, p.y) == (1, 2)
        with chute.Queue.ephemeral() as q:
            d.put("handles", (d, q))  # handles travel by reference
            inner_d, inner_q = d.get("handles")
            assert inner_d.object_id == d.object_id and inner_q.object_id == q.object_id
            assert inner_d["point"].x == 1


def test_bad_keys_and_python_protocols(chute_env: str) -> None:
    with pytest.raises(RuntimeError, match="from_name"):
        chute.Dict()
    with chute.Dict.ephemeral() as d:
        for bad in [[1], {"a": 1}, {1}, (1, [2])]:
            with pytest.raises(InvalidError, match="hashable"):
                d.put(bad, 1)
        with pytest.raises(TypeError):
            len(d)  # type: ignore[arg-type]  # as in Modal: use d.len()
        with pytest.raises(TypeError, match="keys"):
            iter(d)
        assert bool(d)


def test_deserialization_errors_name_key_and_dict(chute_env: str) -> None:
    mod = types.ModuleType("chute_vanishing_dict_module")
    exec("class Thing:\n    def __hash__(self):\n        return 1\n", mod.__dict__)
    sys.modules["chute_vanishing_dict_module"] = mod
    try:
        named = chute.Dict.from_name("named", create_if_missing=True)
        named.put("k", mod.Thing())
        with chute.Dict.ephemeral() as eph:
            eph.put("k", mod.Thing())
            eph.put(mod.Thing(), mod.Thing())
            del sys.modules["chute_vanishing_dict_module"]
            with pytest.raises(DeserializationError) as err:
                named.get("k")
            assert "value for key 'k' from Dict 'named'" in str(err.value)
            assert "chute_vanishing_dict_module" in str(err.value)
            with pytest.raises(DeserializationError, match="for key 'k' from Dict 'named'"):
                [v for v in named.values()]
            with pytest.raises(DeserializationError, match="for key 'k' from Dict 'named'"):
                named.pop("k")
            with pytest.raises(
                DeserializationError, match=f"for key 'k' from ephemeral Dict {eph.object_id}"
            ):
                eph["k"]
            with pytest.raises(DeserializationError, match=f"a key from ephemeral Dict {eph.object_id}"):
                [k for k in eph.keys()]
            with pytest.raises(DeserializationError):
                eph.pop("k")
            assert not eph.contains("k")  # popped even though it could not be decoded
            with pytest.raises(DeserializationError) as err:
                [v for v in eph.values()]
            assert "value from ephemeral Dict" in str(err.value) and "for key" not in str(err.value)
    finally:
        sys.modules.pop("chute_vanishing_dict_module", None)


def test_signed_payloads(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    d = chute.Dict.from_name("signed", create_if_missing=True)
    d.put("unsigned", 1)
    # Each CHUTE_SECRET is another client: close this one's connections before switching.
    chute.Client.from_env().close()
    monkeypatch.setenv("CHUTE_SECRET", "s3cret")
    signed = chute.Dict.from_name("signed")
    # Keys are signed too, so an unsigned key is another key; its value is never unpickled.
    assert signed.get("unsigned") is None
    signed.put(("t", frozenset({"a", "b"})), {"ok": True})
    assert signed.get(("t", frozenset({"b", "a"}))) == {"ok": True}
    with pytest.raises(IntegrityError, match="not signed"):
        [k for k in signed.keys()]
    chute.Client.from_env().close()
    monkeypatch.setenv("CHUTE_SECRET", "other")
    wrong = chute.Dict.from_name("signed")
    assert wrong.get(("t", frozenset({"b", "a"}))) is None
    with pytest.raises(IntegrityError):
        [kv for kv in wrong.items()]
