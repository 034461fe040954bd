"""``chute.Dict``: Modal's distributed key-value map, durable on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NoReturn

from chute import _validate
from chute._async import dict_ops as aops
from chute._client import Client
from chute._dual import dual, dual_iter
from chute._handle import EphemeralContext, Handle, ObjectManager
from chute._sync import dict_ops as ops
from chute.backends.types import Kind


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
    objects: ClassVar[ObjectManager]

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
    ) -> EphemeralContext[Dict]:
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
        return EphemeralContext(cls._new(client, env=env))

    # -- Modal API -----------------------------------------------------------------------

    put = dual(ops.dict_put, aops.dict_put, via="_ref")
    get = dual(ops.dict_get, aops.dict_get, via="_ref")
    contains = dual(ops.dict_contains, aops.dict_contains, via="_ref")
    pop = dual(ops.dict_pop, aops.dict_pop, via="_ref")
    update = dual(ops.dict_update, aops.dict_update, via="_ref")
    len = dual(ops.dict_len, aops.dict_len, via="_ref")
    clear = dual(ops.dict_clear, aops.dict_clear, via="_ref")
    keys = dual_iter(ops.dict_keys, aops.dict_keys, via="_ref")
    values = dual_iter(ops.dict_values, aops.dict_values, via="_ref")
    items = dual_iter(ops.dict_items, aops.dict_items, via="_ref")

    def __getitem__(self, key: Any) -> Any:
        """``d[key]``: the value, or ``KeyError`` if the key is absent (blocking; ``get.aio`` in async code).

        Raises:
            KeyError: the key is absent.
            DeserializationError: the stored value's type cannot be imported here.
        """
        return ops.dict_getitem(self._ref, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``d[key] = value``: ``put(key, value)`` without the return value (blocking)."""
        ops.dict_setitem(self._ref, key, value)

    def __delitem__(self, key: Any) -> None:
        """``del d[key]``: remove the key, or raise ``KeyError`` if it is absent (blocking)."""
        ops.dict_delitem(self._ref, key)

    def __contains__(self, key: Any) -> bool:
        """``key in d``: ``contains(key)`` (blocking; ``contains.aio`` in async code)."""
        return ops.dict_contains(self._ref, key)

    def __iter__(self) -> Iterator[NoReturn]:
        raise TypeError("A chute.Dict is not iterable itself: use d.keys(), d.values() or d.items().")


Dict.objects = ObjectManager(Dict)
