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
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.util import Finalize

from chute import _platform
from chute._ref import ObjectRef
from chute.config import DEFAULT_PARTITION_TTL
from chute.exception import NotFoundError

# Items one backend round trip takes for a get. Measured (bench/RESULTS.md, "Not done here"):
# draining 5,000 ints by get(), consumer CPU per get falls from 143 to 31 / 23 / 21 µs on SQLite
# (97 to 17 / 11 / 11 µs on Redis) at 1 -> 16 / 64 / 256: flat past 64. A larger batch makes a
# consumer hold more items that other consumers of the partition cannot have meanwhile, so a
# get takes READ_AHEAD; while each take comes back full (a backlog) the next takes twice as
# many, up to READ_AHEAD_MAX, and one that comes back short starts again at READ_AHEAD. Under a
# backlog that halves the transactions of a stream against a write-behind producer (each one
# contends with the producer's feeder for SQLite's write lock): 57-66k -> 71-83k items/s.
READ_AHEAD = 64
READ_AHEAD_MAX = 256


@dataclass
class _State:
    """What the exit/GC hook shares with the handle (never the handle itself)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    bufs: dict[bytes, deque[bytes]] = field(default_factory=dict)  # partition -> unread items
    ahead: dict[bytes, int] = field(default_factory=dict)  # partition -> next take (if not READ_AHEAD)
    closed: bool = False  # close() was called: give back, read ahead no more


class ReadAhead:
    """A handle's per-partition read-ahead buffers, in one process."""

    def __init__(self, ref: ObjectRef) -> None:
        self._ref = ref
        self._reset()

    def _reset(self) -> None:
        self._forks = _platform.forks
        self._state = _State()
        self._hook: Finalize | None = None

    def _mine(self) -> _State:
        if self._forks != _platform.forks:
            # Forked: what the parent read ahead is the parent's to deliver or give back.
            self._reset()
        return self._state

    def want(self, part: bytes, n: int) -> int:
        """How many items a get of ``n`` from ``part`` asks the backend for."""
        st = self._mine()
        return n if st.closed else max(n, st.ahead.get(part, READ_AHEAD))

    def take(self, part: bytes, n: int) -> list[bytes]:
        """Up to ``n`` buffered items of ``part``, oldest first (``[]`` if none)."""
        st = self._mine()
        buf = st.bufs.get(part)
        if not buf:  # unlocked peek: the common miss costs no lock
            return []
        with st.lock:  # also against a give-back (close, GC) taking the same items
            if n == 1:  # a get: the common case, kept short
                return [buf.popleft()] if buf else []
            return [buf.popleft() for _ in range(min(n, len(buf)))]

    def keep(self, part: bytes, items: list[bytes], n: int, asked: int) -> list[bytes]:
        """The first ``n`` of ``items`` (just taken from the backend, ``asked`` for); buffers
        the rest."""
        st = self._mine()
        if len(items) >= asked > n:
            st.ahead[part] = min(asked * 2, READ_AHEAD_MAX)
        elif part in st.ahead:
            del st.ahead[part]
        if len(items) <= n:
            return items
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
