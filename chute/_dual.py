"""``x.method(...)`` runs on the caller's thread; ``await x.method.aio(...)`` on the caller's loop.

Both twins are plain functions (the sync one generated from the async source by
``scripts/unasync.py``), so neither path hops a thread or an event loop. The glue costs one
small object per attribute access (well under a microsecond), and mypy sees the real
signatures of both forms.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class BoundDual(Generic[P, R]):
    __slots__ = ("_aio", "_obj", "_sync")

    def __init__(self, obj: Any, sync: Callable[..., R], aio: Callable[..., Awaitable[R]]) -> None:
        self._obj, self._sync, self._aio = obj, sync, aio

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._sync(self._obj, *args, **kwargs)

    def aio(self, /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        """The same call as a coroutine, run on the caller's event loop."""
        return self._aio(self._obj, *args, **kwargs)


class dual(Generic[P, R]):
    """Descriptor pairing a sync function with its async twin.

    The functions get the instance, or with ``via="_ref"`` the instance's ``_ref`` attribute:
    the state record the ops layer works on, so the ops never see a public class.
    """

    def __init__(
        self,
        sync: Callable[Concatenate[Any, P], R],
        aio: Callable[Concatenate[Any, P], Awaitable[R]],
        doc: str | None = None,
        *,
        via: str | None = None,
    ) -> None:
        self._sync, self._aio, self._via = sync, aio, via
        self.__doc__ = doc or sync.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> dual[P, R]: ...
    @overload
    def __get__(self, obj: object, owner: type[Any]) -> BoundDual[P, R]: ...
    def __get__(self, obj: object | None, owner: type[Any]) -> dual[P, R] | BoundDual[P, R]:
        if obj is None:
            return self
        return BoundDual(obj if self._via is None else getattr(obj, self._via), self._sync, self._aio)


class BoundDualIter(Generic[P, T]):
    __slots__ = ("_aio", "_obj", "_sync")

    def __init__(
        self, obj: Any, sync: Callable[..., Iterator[T]], aio: Callable[..., AsyncIterator[T]]
    ) -> None:
        self._obj, self._sync, self._aio = obj, sync, aio

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._sync(self._obj, *args, **kwargs)

    def aio(self, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        """The same iteration as an async iterator (``async for``)."""
        return self._aio(self._obj, *args, **kwargs)


class dual_iter(Generic[P, T]):
    """Descriptor pairing a generator with its async-generator twin (``via`` as for ``dual``)."""

    def __init__(
        self,
        sync: Callable[Concatenate[Any, P], Iterator[T]],
        aio: Callable[Concatenate[Any, P], AsyncIterator[T]],
        doc: str | None = None,
        *,
        via: str | None = None,
    ) -> None:
        self._sync, self._aio, self._via = sync, aio, via
        self.__doc__ = doc or sync.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> dual_iter[P, T]: ...
    @overload
    def __get__(self, obj: object, owner: type[Any]) -> BoundDualIter[P, T]: ...
    def __get__(self, obj: object | None, owner: type[Any]) -> dual_iter[P, T] | BoundDualIter[P, T]:
        if obj is None:
            return self
        return BoundDualIter(obj if self._via is None else getattr(obj, self._via), self._sync, self._aio)


class static_dual(Generic[P, R]):
    """A sync function and its async twin that need no instance (``FunctionCall.gather``)."""

    def __init__(self, sync: Callable[P, R], aio: Callable[P, Awaitable[R]], doc: str | None = None) -> None:
        self._sync, self._aio = sync, aio
        self.__doc__ = doc or sync.__doc__

    def __get__(self, obj: object | None, owner: type[Any]) -> static_dual[P, R]:
        return self

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._sync(*args, **kwargs)

    def aio(self, /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        """The same call as a coroutine, run on the caller's event loop."""
        return self._aio(*args, **kwargs)
