"""``chute.Dict``: Modal's distributed key-value map, durable on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NoReturn

from chute import _validate
from chute._async import dict_ops as _dict_ops_async
from chute._async import queue_ops as _ops_async
from chute._client import Client
from chute._dual import dual, dual_iter
from chute._object import Handle
from chute._sync import dict_ops as _dict_ops
from chute._sync import queue_ops as _ops
from chute.backends.types import Kind
from chute.queue import _EphemeralContext, _ObjectManager


class Dict(Handle):
    """Distributed dictionary shared by every process and machine that uses the same backend.

    Keys are any hashable, picklable value; values are anything cloudpickle can serialize
    (at most 100 MiB each once serialized, ``CHUTE_MAX_VALUE_BYTES``). Values are copies:
    mutating a fetched value changes nothing until you put it back, and ``d[k] += 1`` is a
    non-atomic get-then-put (use ``put(..., skip_if_exists=True)`` for run-once logic).

    Keys are compared by their serialized bytes, as in Modal, not by ``==``: ``1``, ``1.0``
    and ``True`` are three distinct keys. Strings, bytes, numbers, None, and tuples and
    frozensets of them serialize identically in every process; other objects usually do
    but are not guaranteed to, so prefer primitive keys.

    Differences from Modal: entries never expire (Modal drops them after 7 days unused) and
    survive restarts on every backend; ``len()`` is exact (Modal caps it at 100,000);
    iterating the dict directly raises TypeError (use ``keys()``/``values()``/``items()``).
    Like Modal's, a Dict has no ``__len__`` (use ``d.len()``) and its dunders (``d[k]``,
    ``k in d``, ``d[k] = v``, ``del d[k]``) always block: use the named methods with ``.aio``
    in async code.

    Example:
        ```python
        import chute

        d = chute.Dict.from_name("my-persisted-dict", create_if_missing=True)
        d["key"] = "value"
        assert d["key"] == "value"

        with chute.Dict.ephemeral() as d2:
            d2.update({"a": 1}, b=2)
            assert sorted(d2.items()) == [("a", 1), ("b", 2)]

        async def main() -> None:
            await d.put.aio("hello", 400)
            assert await d.get.aio("hello") == 400
        ```
    """

    _kind: ClassVar[Kind] = Kind.DICT
    objects: ClassVar[_ObjectManager]

    def __init__(self) -> None:
        raise RuntimeError(
            "Dict() is not allowed: use chute.Dict.from_name(name, create_if_missing=True) or "
            "chute.Dict.ephemeral()."
        )

    # -- constructors --------------------------------------------------------------------

    @classmethod
    def from_name(
        cls, name: str, *, environment_name: str | None = None, create_if_missing: bool = False
    ) -> Dict:
        """Reference a named dict, created on first use if ``create_if_missing``.

        Lazy: nothing is looked up until the first operation, which raises ``NotFoundError``
        if the dict does not exist.

        Raises:
            InvalidError: the name is not 1-64 characters of ``[A-Za-z0-9._-]``.

        Example:
            ```python
            d = chute.Dict.from_name("my-dict", create_if_missing=True)
            d["key"] = "value"
            ```
        """
        _validate.check_name(name, "Dict")
        env = _validate.check_env(environment_name) if environment_name else None
        return cls._new(name=name, env=env, create_if_missing=create_if_missing)

    @classmethod
    def from_id(cls, dict_id: str) -> Dict:
        """Reference a dict by its ``object_id`` (``di-…``), e.g. one passed from another process.

        Raises:
            InvalidError: not a dict id.

        Example:
            ```python
            d = chute.Dict.from_id(other.object_id)
            ```
        """
        return cls._new(object_id=_validate.check_object_id(dict_id, "di", "Dict"))

    @classmethod
    def ephemeral(
        cls, *, client: Client | None = None, environment_name: str | None = None
    ) -> _EphemeralContext[Dict]:
        """An anonymous dict that lives for the ``with`` / ``async with`` block.

        It is deleted when the block exits, or, if the process dies inside it, once its
        heartbeat lapses (``CHUTE_EPHEMERAL_TTL``, default 60 s). The handle can be passed to
        other processes (it pickles by reference) while the block is open.

        Raises:
            InvalidError: the environment name is invalid.

        Example:
            ```python
            with chute.Dict.ephemeral() as d:
                d["stop"] = True
            async with chute.Dict.ephemeral() as d:
                await d.put.aio("k", 1)
            ```
        """
        env = _validate.check_env(environment_name) if environment_name else None
        return _EphemeralContext(cls._new(client, env=env))

    @property
    def object_id(self) -> str:
        """The dict's id (``di-…``); looks the dict up if the handle is not hydrated yet.

        Raises:
            NotFoundError: the dict does not exist (and ``create_if_missing`` was not set).
        """
        return (self._info or _ops.hydrate(self)).id

    # -- Modal API -----------------------------------------------------------------------

    hydrate = dual(_ops.hydrate_method, _ops_async.hydrate_method)
    info = dual(_ops.info, _ops_async.info)
    put = dual(_dict_ops.dict_put, _dict_ops_async.dict_put)
    get = dual(_dict_ops.dict_get, _dict_ops_async.dict_get)
    contains = dual(_dict_ops.dict_contains, _dict_ops_async.dict_contains)
    pop = dual(_dict_ops.dict_pop, _dict_ops_async.dict_pop)
    update = dual(_dict_ops.dict_update, _dict_ops_async.dict_update)
    len = dual(_dict_ops.dict_len, _dict_ops_async.dict_len)
    clear = dual(_dict_ops.dict_clear, _dict_ops_async.dict_clear)
    keys = dual_iter(_dict_ops.dict_keys, _dict_ops_async.dict_keys)
    values = dual_iter(_dict_ops.dict_values, _dict_ops_async.dict_values)
    items = dual_iter(_dict_ops.dict_items, _dict_ops_async.dict_items)

    def __getitem__(self, key: Any) -> Any:
        """``d[key]``: the value, or ``KeyError`` if the key is absent (blocking; ``get.aio`` in async code).

        Raises:
            KeyError: the key is absent.
            DeserializationError: the stored value's type cannot be imported here.
        """
        return _dict_ops.dict_getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``d[key] = value``: ``put(key, value)`` without the return value (blocking)."""
        _dict_ops.dict_setitem(self, key, value)

    def __delitem__(self, key: Any) -> None:
        """``del d[key]``: remove the key, or raise ``KeyError`` if it is absent (blocking)."""
        _dict_ops.dict_delitem(self, key)

    def __contains__(self, key: Any) -> bool:
        """``key in d``: ``contains(key)`` (blocking; ``contains.aio`` in async code)."""
        return _dict_ops.dict_contains(self, key)

    def __iter__(self) -> Iterator[NoReturn]:
        raise TypeError("A chute.Dict is not iterable itself: use d.keys(), d.values() or d.items().")


Dict.objects = _ObjectManager(Dict, Kind.DICT)
