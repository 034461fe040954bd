"""Group commit: concurrent calls of one process share one transaction or one pipeline.

A call that finds nothing in flight runs alone, at once (no added latency). Calls that arrive
while one is in flight queue up; when it ends, the first of them is promoted to leader and runs
every queued call as one batch (one SQLite transaction, one Redis pipeline), then hands over to
the next leader the same way. So N threads or tasks putting at once cost about two commits or
round trips instead of N, and the lock they would otherwise fight over is taken once per batch.

``Batcher`` serves the threads of a process (the sync backends), ``AsyncBatcher`` the tasks of
one event loop (the async backends); ``scripts/unasync.py`` turns the one name into the other.
Both take ``run(requests) -> results``: one result per request, in order, where an exception
instance means that request (only) failed; an exception raised by ``run`` fails the whole batch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from chute.exception import BackendUnavailableError

R = TypeVar("R")
T = TypeVar("T")

_LEAD: Any = object()  # what a waiting call receives when it is promoted to leader


def _unwrap(result: Any) -> Any:
    if isinstance(result, BaseException):
        raise result
    return result


class _Slot:
    """A queued call of the thread flavour: its request, then its result."""

    __slots__ = ("_ready", "req", "result")

    def __init__(self, req: Any) -> None:
        self.req = req
        self.result: Any = None
        self._ready = threading.Lock()
        self._ready.acquire()  # released once `result` is set (a Lock is cheaper than an Event)

    def wait(self) -> Any:
        self._ready.acquire()
        return self.result

    def set(self, result: Any) -> None:
        self.result = result
        self._ready.release()


def _unknown_outcome() -> BackendUnavailableError:
    return BackendUnavailableError(
        "A put grouped with one that was interrupted in flight was interrupted too: it may or may not "
        "have been stored."
    )


class Batcher(Generic[R, T]):
    """Group commit for the threads of one process (``cancel_safe`` as for ``AsyncBatcher``)."""

    def __init__(
        self, run: Callable[[Sequence[R]], Sequence[T | BaseException]], *, cancel_safe: bool
    ) -> None:
        self._run = run
        self._cancel_safe = cancel_safe
        self._mu = threading.Lock()
        self._busy = False
        self._pending: list[_Slot] = []

    def submit(self, req: R) -> T:
        slot: _Slot | None = None
        with self._mu:
            if self._busy:
                slot = _Slot(req)
                self._pending.append(slot)
            else:
                self._busy = True
        if slot is None:  # alone: the common case, kept short
            try:
                result: Any = self._run((req,))[0]
            finally:
                self._hand_over()
            if isinstance(result, BaseException):
                raise result
            return result  # type: ignore[no-any-return]
        got = slot.wait()
        if got is not _LEAD:
            return _unwrap(got)  # type: ignore[no-any-return]
        return self._lead(slot)

    def _lead(self, mine: _Slot) -> T:
        with self._mu:
            batch, self._pending = self._pending, []
        try:
            try:
                results: Sequence[Any] = self._run([s.req for s in batch])
            except Exception as exc:
                results = [exc] * len(batch)
            except BaseException:  # KeyboardInterrupt and the like, in the leading thread
                others = [s for s in batch if s is not mine]
                if self._cancel_safe:
                    with self._mu:
                        self._pending[:0] = others  # nothing was written: they run next
                else:
                    for slot in others:
                        slot.set(_unknown_outcome())
                raise
            for slot, result in zip(batch, results, strict=True):
                if slot is not mine:
                    slot.set(result)
        finally:
            self._hand_over()
        return _unwrap(results[batch.index(mine)])  # type: ignore[no-any-return]

    def _hand_over(self) -> None:
        with self._mu:
            if self._pending:
                self._pending[0].set(_LEAD)  # stays busy: the promoted call leads next
            else:
                self._busy = False


class AsyncBatcher(Generic[R, T]):
    """Group commit for the tasks of one event loop.

    ``cancel_safe``: ``run`` writes nothing when it is cancelled (SQLite: it can only be
    cancelled while it waits for the write lock), so a cancelled leader's followers simply run
    in the next batch. Otherwise (a Redis pipeline cancelled in flight may have been executed)
    they fail with ``BackendUnavailableError``, as any put whose outcome is unknown does.
    """

    def __init__(
        self, run: Callable[[Sequence[R]], Awaitable[Sequence[T | BaseException]]], *, cancel_safe: bool
    ) -> None:
        self._run = run
        self._cancel_safe = cancel_safe
        self._busy = False
        self._pending: list[tuple[R, asyncio.Future[Any]]] = []

    async def submit(self, req: R) -> T:
        if not self._busy:
            self._busy = True
            try:
                return _unwrap((await self._run([req]))[0])  # type: ignore[no-any-return]
            finally:
                self._hand_over()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((req, fut))
        try:
            got = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result() is _LEAD:
                self._hand_over()  # promoted, but cancelled before it could lead
            raise
        if got is not _LEAD:
            return _unwrap(got)  # type: ignore[no-any-return]
        return await self._lead(fut)

    async def _lead(self, mine: asyncio.Future[Any]) -> T:
        # Callers cancelled while they waited are left out: nothing of theirs has run yet.
        batch = [(r, f) for r, f in self._pending if f is mine or not f.done()]
        self._pending = []
        own: Any = None
        try:
            try:
                results: Sequence[Any] = await self._run([r for r, _ in batch])
            except asyncio.CancelledError:
                others = [(r, f) for r, f in batch if f is not mine]
                if self._cancel_safe:
                    self._pending[:0] = others  # nothing was written: they run next
                else:
                    for _, f in others:
                        if not f.done():
                            f.set_result(_unknown_outcome())
                raise
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, f), result in zip(batch, results, strict=True):
                if f is mine:
                    own = result
                elif not f.done():  # a cancelled caller: its put may have been stored
                    f.set_result(result)
        finally:
            self._hand_over()
        return _unwrap(own)  # type: ignore[no-any-return]

    def _hand_over(self) -> None:
        while self._pending:
            _, fut = self._pending[0]
            if not fut.done():
                fut.set_result(_LEAD)  # stays busy: the promoted call leads next
                return
            self._pending.pop(0)  # its caller was cancelled before its turn: nothing to run
        self._busy = False
