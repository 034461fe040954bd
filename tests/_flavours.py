"""The few test helpers that differ between the async and the sync flavour, as ``async_*``/``sync_*``
pairs: the async sources in tests/_async/ call ``async_x(...)`` and scripts/unasync.py renames the
call to ``sync_x(...)`` in the generated twin (its ``async_name -> sync_name`` rule)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from chute.backends import open_async_backend, open_backend
from chute.backends._async.base import AsyncBackend
from chute.backends._sync.base import Backend
from chute.config import Settings

T = TypeVar("T")


def async_open_backend(url: str, **overrides: Any) -> AsyncBackend:
    return open_async_backend(Settings.from_env(url=url, **overrides))


def sync_open_backend(url: str, **overrides: Any) -> Backend:
    return open_backend(Settings.from_env(url=url, **overrides))


async def async_race(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls at once (concurrent coroutines on this loop); results in call order."""
    return list(await asyncio.gather(*(call() for call in calls)))


def sync_race(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the calls at once, one thread each, released together; results in call order.

    An exception in any call is re-raised here (after every thread ended)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


async def async_results(results: Any) -> list[Any]:
    """Every result of ``Function.map``/``starmap``, consumed as an async iterator."""
    return [r async for r in results.aio()]


def sync_results(results: Any) -> list[Any]:
    """Every result of ``Function.map``/``starmap``, consumed as an iterator."""
    return list(results)
