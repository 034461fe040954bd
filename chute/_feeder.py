"""Write-behind puts: ``multiprocessing.Queue``'s own contract, for ``chute.Queue(write_behind=True)``.

``put`` serializes the item on the caller's thread (so a bad item still raises there), appends
it to a buffer in this process and returns. A feeder thread, started by the first put, writes
the buffer to the backend in batches: each batch is one acknowledged ``put_many`` (one SQLite
transaction, one Redis script), in put order. While puts stream in, it lets a batch grow for up
to a millisecond before writing it (``_LINGER``): fewer, larger transactions and consumer
wake-ups. As with ``multiprocessing.Queue``:

- ``close()``: this handle takes no more puts; the feeder exits once the buffer is written.
- ``join_thread()`` (after ``close()``): waits until it has.
- At interpreter exit, and at the end of a ``multiprocessing`` child, buffered items are
  written before the process ends (``multiprocessing.util.Finalize``, as multiprocessing does),
  unless ``cancel_join_thread()`` was called: then they may be lost.
- A process that crashes (``kill -9``, ``os._exit``, a power loss) loses what it had buffered
  and not yet written. Items already written are as durable as any acknowledged put, and
  what reaches the queue is always a prefix of what this handle put: a crash never leaves a
  gap.

The buffer holds at most the queue's capacity (its ``maxsize``, else the partition limit), so
a ``put`` that finds it full blocks (or raises ``queue.Full``) like a full ``multiprocessing``
queue; a full partition makes the feeder wait for room, which backs the buffer up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue as stdlib_queue
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.util import Finalize

from chute import _platform
from chute._dual import BoundDual
from chute._ref import ObjectRef
from chute._sync import queue_ops
from chute.exception import BackendUnavailableError, NotFoundError

# A feeder writes at most this many bytes per batch (and at least one item): one transaction
# or script per batch, so a backlog of large items does not become one huge write.
_BATCH_BYTES = 8 << 20
# Backoff while the backend is unreachable (the items stay buffered and are retried).
_RETRY_MIN, _RETRY_MAX = 0.05, 2.0
# While puts stream in (items arrived while the last batch was being written), the feeder waits
# up to _LINGER seconds, or until _LINGER_ITEMS are buffered, before it writes the next batch:
# each batch costs one transaction (SQLite) or script (Redis) and wakes the blocked consumers
# once, so a few large batches cost far less than many small ones. A put after a quiet spell
# (nothing left to write) is written at once; close() and a put that finds the buffer full end
# the wait at once.
_LINGER = 0.001
_LINGER_ITEMS = 256


@dataclass
class _State:
    """What the feeder thread shares with the handle (never the handle itself, so a handle
    that is garbage collected closes its feeder, as multiprocessing's does)."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    buf: deque[tuple[bytes, float, bytes]] = field(default_factory=deque)  # (partition, ttl, item)
    closed: bool = False  # no more puts; the feeder exits once `buf` is empty
    lingering: bool = False  # the feeder waits for more items before it writes (see _LINGER)
    error: BaseException | None = None  # why buffered items were dropped (the queue is gone)


class Feeder:
    """A handle's write-behind buffer and the thread that writes it, in one process."""

    def __init__(self, ref: ObjectRef) -> None:
        self._ref = ref
        self._reset()
        self.put: BoundDual[..., None] = BoundDual(self, Feeder._put, Feeder._aput)

    def _reset(self) -> None:
        self._forks = _platform.forks
        self._state = _State()
        self._thread: threading.Thread | None = None
        self._joincancelled = False
        self._jointhread: Finalize | None = None

    def _mine(self) -> _State:
        if self._forks != _platform.forks:
            # Forked: what the parent buffered is the parent's to write.
            self._reset()
        return self._state

    # -- put ---------------------------------------------------------------------------------

    def _room(self, st: _State, n: int, cap: int, method: str) -> bool:
        if st.error is not None:
            raise st.error
        if st.closed or self._ref.closed:
            raise ValueError(f"{self._ref.describe()} is closed")
        if n > cap:
            raise stdlib_queue.Full(
                f"Queue.{method} of {n} items can never fit: a partition holds at most {cap} items."
            )
        return len(st.buf) + n <= cap

    def _append(self, st: _State, part: bytes, ttl: float, items: list[bytes]) -> None:
        if len(items) == 1:
            st.buf.append((part, ttl, items[0]))
        else:
            st.buf.extend((part, ttl, item) for item in items)
        if self._thread is None:
            self._start()
        if not st.lingering or len(st.buf) >= _LINGER_ITEMS:
            st.cond.notify_all()

    def _full(self, cap: int) -> stdlib_queue.Full:
        return stdlib_queue.Full(
            f"{self._ref.describe()}: this process's write-behind buffer is full ({cap} items not yet "
            "written): pass a timeout to wait, or let the feeder catch up."
        )

    def _put(
        self,
        items: list[bytes],
        part: bytes,
        ttl: float,
        block: bool,
        timeout: float | None,
        cap: int,
        method: str,
    ) -> None:
        st = self._mine()
        deadline = None if timeout is None else time.monotonic() + timeout
        with st.cond:
            while not self._room(st, len(items), cap, method):
                remaining = None if deadline is None else deadline - time.monotonic()
                if not block or (remaining is not None and remaining <= 0):
                    raise self._full(cap)
                st.cond.notify_all()  # a lingering feeder writes now
                st.cond.wait(remaining)
            self._append(st, part, ttl, items)

    async def _aput(
        self,
        items: list[bytes],
        part: bytes,
        ttl: float,
        block: bool,
        timeout: float | None,
        cap: int,
        method: str,
    ) -> None:
        st = self._mine()
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while True:
            with st.cond:  # held for microseconds: never across an await
                if self._room(st, len(items), cap, method):
                    self._append(st, part, ttl, items)
                    return
            remaining = None if deadline is None else deadline - time.monotonic()
            if not block or (remaining is not None and remaining <= 0):
                raise self._full(cap)
            # The feeder frees room from its own thread: poll it, without blocking the loop.
            with st.cond:
                st.cond.notify_all()  # a lingering feeder writes now
            await asyncio.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * 2, 0.02)

    # -- the thread ---------------------------------------------------------------------------

    def _start(self) -> None:
        st = self._state
        # Open the backend here, not in the thread: if the first write happens at interpreter
        # exit, importing a backend module then can fail (concurrent.futures refuses new
        # atexit hooks during shutdown).
        self._ref.client.sync_backend()
        writer = dataclasses.replace(self._ref, feeder=None, reader=None, closed=False)
        self._thread = thread = threading.Thread(
            target=_feed,
            args=(st, writer),
            name=f"chute-feeder-{self._ref.id or self._ref.name}",
            daemon=True,
        )
        thread.start()
        # As multiprocessing.Queue: on garbage collection or at exit, tell the feeder to finish
        # (priority 10: first); at exit, wait for it (-5: after the other finalizers), unless
        # cancel_join_thread() was called.
        Finalize(self, _finalize_close, (st,), exitpriority=10)
        if not self._joincancelled:
            self._jointhread = Finalize(thread, _finalize_join, (weakref.ref(thread),), exitpriority=-5)

    # -- multiprocessing.Queue's lifecycle -------------------------------------------------------

    def close(self) -> None:
        st = self._mine()
        with st.cond:
            st.closed = True
            st.cond.notify_all()

    def join_thread(self) -> None:
        st = self._mine()
        if not st.closed:
            raise ValueError(f"{self._ref.describe()}: call close() before join_thread()")
        if self._thread is not None:
            self._thread.join()

    def cancel_join_thread(self) -> None:
        self._mine()
        self._joincancelled = True
        if self._jointhread is not None:
            self._jointhread.cancel()
            self._jointhread = None


def _finalize_close(st: _State) -> None:
    with st.cond:
        st.closed = True
        st.cond.notify_all()


def _finalize_join(thread_ref: weakref.ref[threading.Thread]) -> None:
    thread = thread_ref()
    if thread is not None and thread.is_alive():
        thread.join()


def _next_batch(st: _State, cap: int) -> tuple[bytes, float, list[bytes]]:
    """The longest run at the head of the buffer with one partition and TTL, within ``cap``
    items and ``_BATCH_BYTES`` (items stay buffered until written, so a flush waits for them)."""
    it = iter(st.buf)
    part, ttl, first = next(it)
    items, size = [first], len(first)
    for p, t, item in it:
        if p != part or t != ttl or len(items) >= cap or size + len(item) > _BATCH_BYTES:
            break
        items.append(item)
        size += len(item)
    return part, ttl, items


def _write(ref: ObjectRef, items: list[bytes], part: bytes, ttl: float) -> None:
    """Write ``items`` at once if the partition has room for all of them; else only the first,
    waiting for room (and shortens ``items`` to what was written). A put is all or nothing: a
    batch waiting for more room than a nearly full partition will ever have while this process
    keeps it full would block the feeder for good."""
    try:
        queue_ops.put_bytes(ref, items, part=part, ttl=ttl, block=False, timeout=None, method="put")
    except stdlib_queue.Full:
        del items[1:]
        queue_ops.put_bytes(ref, items, part=part, ttl=ttl, block=True, timeout=None, method="put")


def _linger(st: _State) -> None:
    """Wait (holding ``st.cond``) up to ``_LINGER`` for more items, unless closed or enough."""
    deadline = time.monotonic() + _LINGER
    st.lingering = True
    try:
        while not st.closed and len(st.buf) < _LINGER_ITEMS:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            st.cond.wait(remaining)
    finally:
        st.lingering = False


def _feed(st: _State, ref: ObjectRef) -> None:
    """The feeder thread: writes the buffer in batches until closed and empty."""
    delay = _RETRY_MIN
    cap = 0
    streaming = False  # items arrived while the last batch was being written
    while True:
        with st.cond:
            while not st.buf and not st.closed:
                st.cond.wait()
            if not st.buf:
                return
            if streaming:
                _linger(st)
        try:
            cap = cap or queue_ops.capacity(ref)
            with st.cond:
                part, ttl, items = _next_batch(st, cap)
            _write(ref, items, part, ttl)
        except BackendUnavailableError as exc:
            print(f"chute: write-behind feeder retrying in {delay:g} s: {exc}", file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
            continue
        except Exception as exc:  # NotFoundError (deleted queue) and anything unexpected
            with st.cond:
                dropped = len(st.buf)
                st.buf.clear()
                st.error = exc if isinstance(exc, NotFoundError) else None
                st.cond.notify_all()
            print(f"chute: write-behind feeder dropped {dropped} buffered items: {exc}", file=sys.stderr)
            continue
        delay = _RETRY_MIN
        with st.cond:
            for _ in items:
                st.buf.popleft()
            streaming = bool(st.buf)
            st.cond.notify_all()
