"""Read-ahead gets: ``multiprocessing.Queue``'s consumer side, for ``chute.Queue(write_behind=True)``.

A ``multiprocessing.Queue`` consumer reads from a pipe that already holds what the feeder
wrote; a chute consumer would pay one backend round trip per ``get``. So a write-behind
handle reads ahead: a get that goes to the backend takes up to ``READ_AHEAD`` items of its
partition in that one round trip (blocking for the first exactly as before, then taking what
else is there without waiting), returns what was asked and keeps the rest in a buffer of this
handle in this process, per partition. Later gets of that partition (``get``, ``get_nowait``,
``get_many``, their ``.aio`` twins) are served from the buffer first, in FIFO order.
``iterate`` does not consume and reads the backend only.

- ``qsize()``, ``len()``, ``empty()``, ``full()`` count this handle's buffered items too;
  other processes' buffers are not counted (``multiprocessing.Queue.qsize`` is approximate too).
- ``clear()`` drops the buffer of the partition it clears (all of them with ``all=True``).
- Unread items are given back to the head of their partition, in order, ahead of later items:
  on ``close()``, when the handle is garbage collected, at interpreter exit and at the end of
  a ``multiprocessing`` child (``multiprocessing.util.Finalize``, as the feeder). Giving back
  ignores the partition's cap: the partition may briefly hold more than ``maxsize``.
- A consumer that crashes (``kill -9``, ``os._exit``) loses the items it had read ahead and not
  returned, as a crashed producer loses what its feeder had not written.
- FIFO holds for one consumer's gets in sequence. Threads sharing one handle each get
  distinct items, but two gets that overlap in time may buffer their batches out of order.
- After ``close()`` the handle no longer reads ahead (nothing would give the items back).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.util import Finalize

from chute._ref import ObjectRef
from chute.config import DEFAULT_PARTITION_TTL
from chute.exception import NotFoundError

# Items one backend round trip takes for a get. Measured (bench/RESULTS.md, "Not done here"):
# draining 5,000 ints by get(), consumer CPU per get falls from 143 to 31 / 23 / 21 µs on SQLite
# (97 to 17 / 11 / 11 µs on Redis) at 1 -> 16 / 64 / 256: flat past 64. A larger batch only makes
# a consumer hold more items that other consumers of the partition cannot have meanwhile.
READ_AHEAD = 64


@dataclass
class _State:
    """What the exit/GC hook shares with the handle (never the handle itself)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    bufs: dict[bytes, deque[bytes]] = field(default_factory=dict)  # partition -> unread items
    closed: bool = False  # close() was called: give back, read ahead no more


class ReadAhead:
    """A handle's per-partition read-ahead buffers, in one process."""

    def __init__(self, ref: ObjectRef) -> None:
        self._ref = ref
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._state = _State()
        self._hook: Finalize | None = None

    def _mine(self) -> _State:
        if self._pid != os.getpid():
            # Forked: what the parent read ahead is the parent's to deliver or give back.
            self._reset()
        return self._state

    def want(self, n: int) -> int:
        """How many items a get of ``n`` asks the backend for."""
        return n if self._mine().closed else max(n, READ_AHEAD)

    def take(self, part: bytes, n: int) -> list[bytes]:
        """Up to ``n`` buffered items of ``part``, oldest first (``[]`` if none)."""
        st = self._mine()
        buf = st.bufs.get(part)
        if not buf:  # unlocked peek: the common miss costs no lock
            return []
        with st.lock:
            return [buf.popleft() for _ in range(min(n, len(buf)))]

    def keep(self, part: bytes, items: list[bytes], n: int) -> list[bytes]:
        """The first ``n`` of ``items`` (just taken from the backend); buffers the rest."""
        if len(items) <= n:
            return items
        st = self._mine()
        if self._hook is None:
            self._arm(st)
        with st.lock:
            st.bufs.setdefault(part, deque()).extend(items[n:])
        return items[:n]

    def size(self, part: bytes | None) -> int:
        """Buffered items of ``part``, or of all partitions with ``None``."""
        st = self._mine()
        with st.lock:
            if part is None:
                return sum(map(len, st.bufs.values()))
            return len(st.bufs.get(part, ()))

    def drop(self, part: bytes | None) -> None:
        """Forget the buffered items of ``part`` (all with ``None``): ``clear()``."""
        st = self._mine()
        with st.lock:  # emptied in place: a get that already holds the deque finds it empty
            for key, buf in st.bufs.items():
                if part is None or key == part:
                    buf.clear()

    def close(self) -> None:
        """Give every buffered item back, and read ahead no more."""
        st = self._mine()
        st.closed = True
        if self._hook is not None:
            self._hook()  # runs _give_back once, and unregisters it

    def _arm(self, st: _State) -> None:
        # Opened now, not at exit: importing a backend module during shutdown can fail.
        self._ref.client.sync_backend()
        owner = dataclasses.replace(self._ref, feeder=None, reader=None, closed=False)
        # On garbage collection or at exit (priority 10, with the feeders' close): give back.
        self._hook = Finalize(self, _give_back, (st, owner), exitpriority=10)


def _give_back(st: _State, ref: ObjectRef) -> None:
    with st.lock:
        bufs = {part: list(buf) for part, buf in st.bufs.items() if buf}
        for buf in st.bufs.values():
            buf.clear()
    if not bufs:
        return
    assert ref.info is not None  # a get filled it in before anything was buffered
    backend = ref.client.sync_backend()
    for part, items in bufs.items():
        try:
            backend.queue_give_back(ref.info.id, part, items, ttl=DEFAULT_PARTITION_TTL)
        except NotFoundError:
            return  # the queue is gone, and its items with it
        except Exception as exc:  # at exit or in a GC hook: report, never raise
            print(
                f"chute: read-ahead lost {len(items)} unread items of {ref.describe()}: {exc}",
                file=sys.stderr,
            )
