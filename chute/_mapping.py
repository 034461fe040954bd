"""``Function.map``/``starmap``/``for_each``/``spawn_map``, each with its ``.aio`` form, as Modal
spells them: ``f.map(xs)`` and ``async for r in f.map.aio(xs)``, ``await f.for_each.aio(xs)``.

Inputs are submitted ``SUBMIT_BATCH`` per round trip and results read ``GET_BATCH`` per round
trip (``chute._async.call_ops``); a function that allows it gets its inputs in chunks, many per
stored call (``chute._chunk``, ``chute._async.map_ops``). ``map``/``starmap`` are lazy, as in
Modal: nothing is submitted until the result is iterated; ``for_each`` and ``spawn_map`` are eager.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from chute._async import call_ops as _call_ops_async
from chute._async import map_ops as _map_ops_async
from chute._jobs import FunctionRef
from chute._sync import call_ops as _call_ops
from chute._sync import map_ops as _map_ops
from chute.exception import InvalidError

ArgLists = list[tuple[tuple[Any, ...], dict[str, Any]]]


def _zip_args(iterables: tuple[Iterable[Any], ...], kwargs: Mapping[str, Any] | None) -> ArgLists:
    extra = dict(kwargs or {})
    return [(args, extra) for args in zip(*iterables, strict=False)]


def _star_args(input_iterator: Iterable[Iterable[Any]], kwargs: Mapping[str, Any] | None) -> ArgLists:
    extra = dict(kwargs or {})
    return [(tuple(args), extra) for args in input_iterator]


def _no_generator(ref: FunctionRef, method: str) -> None:
    if ref.spec.is_generator:
        raise InvalidError(f"A generator function cannot be called with `.{method}(...)`.")


class MapIter:
    """What ``f.map(...)`` returns: iterate it for the results; ``.aio()`` gives the async form."""

    def __init__(self, ref: FunctionRef, arg_lists: ArgLists, order_outputs: bool, return_exceptions: bool):
        self._args = (ref, arg_lists, order_outputs, return_exceptions)
        self._it: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._it = _map_ops.map_inputs(*self._args)
        return next(self._it)

    def aio(self) -> AsyncIterator[Any]:
        return _map_ops_async.map_inputs(*self._args)


class BoundMap:
    """``f.map``: call it (sync iterator) or ``.aio(...)`` it (async iterator)."""

    def __init__(self, ref: FunctionRef) -> None:
        self._ref = ref

    def __call__(
        self,
        *input_iterators: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,  # deprecated in Modal; accepted, no effect
    ) -> MapIter:
        """Run the function on every element of the zipped iterables, in parallel on workers.

        ``kwargs`` go to every call. Yields results in input order (``order_outputs=False``:
        as they finish). A failed call raises its exception unless ``return_exceptions=True``,
        which yields it instead. Shows a progress bar when stderr is a terminal.

        Example:
            ```python
            squares = list(square.map(range(10)))
            async for r in square.map.aio(range(10)): ...
            ```
        """
        _no_generator(self._ref, "map")
        return MapIter(self._ref, _zip_args(input_iterators, kwargs), order_outputs, return_exceptions)

    def aio(
        self,
        *input_iterators: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> AsyncIterator[Any]:
        """``map`` as an async iterator, on the caller's event loop."""
        return self(
            *input_iterators, kwargs=kwargs, order_outputs=order_outputs, return_exceptions=return_exceptions
        ).aio()


class BoundStarmap:
    """``f.starmap``: each element is a tuple of positional arguments."""

    def __init__(self, ref: FunctionRef) -> None:
        self._ref = ref

    def __call__(
        self,
        input_iterator: Iterable[Iterable[Any]],
        *,
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> MapIter:
        """Like ``map``, but each element of ``input_iterator`` holds one call's positional arguments."""
        _no_generator(self._ref, "starmap")
        return MapIter(self._ref, _star_args(input_iterator, kwargs), order_outputs, return_exceptions)

    def aio(
        self,
        input_iterator: Iterable[Iterable[Any]],
        *,
        kwargs: Mapping[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> AsyncIterator[Any]:
        """``starmap`` as an async iterator."""
        return self(
            input_iterator, kwargs=kwargs, order_outputs=order_outputs, return_exceptions=return_exceptions
        ).aio()


class BoundForEach:
    """``f.for_each``: run on every element, wait for all, discard the results."""

    def __init__(self, ref: FunctionRef) -> None:
        self._ref = ref

    def __call__(
        self,
        *input_iterators: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        """Run the function on every element and wait for all of them.

        Raises:
            Exception: the first failure, unless ``ignore_exceptions``.
        """
        _no_generator(self._ref, "for_each")
        _map_ops.for_each(self._ref, _zip_args(input_iterators, kwargs), ignore_exceptions)

    async def aio(
        self,
        *input_iterators: Iterable[Any],
        kwargs: Mapping[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        """``for_each`` on the caller's event loop."""
        await _map_ops_async.for_each(self._ref, _zip_args(input_iterators, kwargs), ignore_exceptions)


class BoundSpawnMap:
    """``f.spawn_map``: submit every call now and return without waiting (as Modal: returns None)."""

    def __init__(self, ref: FunctionRef) -> None:
        self._ref = ref

    def __call__(self, *input_iterators: Iterable[Any], kwargs: Mapping[str, Any] | None = None) -> None:
        """Submit one call per element of the zipped iterables, in batches, and return at once.

        Raises:
            NotFoundError: the function was looked up by name and is not deployed.
            RequestSizeError: one call's arguments serialize to more than the size limit.
        """
        _call_ops.spawn_many(self._ref, _zip_args(input_iterators, kwargs))

    async def aio(self, *input_iterators: Iterable[Any], kwargs: Mapping[str, Any] | None = None) -> None:
        """``spawn_map`` on the caller's event loop."""
        await _call_ops_async.spawn_many(self._ref, _zip_args(input_iterators, kwargs))
