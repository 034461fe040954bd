"""The storage interface: bytes in, bytes out.

Serialization, validation and Modal's semantics live above this line (``chute._ops_async``);
a backend only stores opaque payloads. Every method is atomic on its own. Times (TTLs,
heartbeats, ``created_at``) come from the backend's clock: the local clock for SQLite (all
its clients share one machine), ``TIME`` inside Lua for Redis, so TTLs stay right when
clients' clocks disagree.

Adding a backend means writing one ``*_async.py`` module that subclasses ``AsyncBackend``,
registering its scheme in ``chute.backends.open_backend``, and running ``scripts/unasync.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from chute.backends.types import Kind, ObjectInfo, PartitionInfo, PutStatus
from chute.config import Settings


class AsyncBackend(ABC):
    """A storage backend. Subclasses must implement every abstract method."""

    settings: Settings

    # -- named-object registry -------------------------------------------------------------

    @abstractmethod
    async def create_object(
        self,
        kind: Kind,
        env: str,
        name: str | None,
        *,
        object_id: str,
        ephemeral_ttl: float | None = None,
        max_items: int | None = None,
        created_by: str | None = None,
    ) -> tuple[ObjectInfo, bool]:
        """Create an object with ``object_id``, or return the existing one with that name.

        Returns ``(info, created)``. ``name=None`` always creates (ephemeral objects are
        anonymous). With ``ephemeral_ttl`` the object is deleted by ``collect_garbage`` once
        that many seconds pass without a ``heartbeat``. Atomic: two racing creators of one
        name get the same object, and exactly one sees ``created=True``.
        """

    @abstractmethod
    async def lookup_object(self, kind: Kind, env: str, name: str) -> ObjectInfo | None:
        """The object called ``name`` in ``env``, or None."""

    @abstractmethod
    async def get_object(self, object_id: str) -> ObjectInfo | None:
        """The object with this id, or None (never existed, deleted, or garbage-collected)."""

    @abstractmethod
    async def list_objects(
        self, kind: Kind, env: str, *, limit: int | None = None, created_before: float | None = None
    ) -> list[ObjectInfo]:
        """Named (non-ephemeral) objects of ``kind`` in ``env``, newest first."""

    @abstractmethod
    async def delete_object(self, object_id: str) -> bool:
        """Delete the object and all its data. Returns False if it did not exist."""

    @abstractmethod
    async def heartbeat(self, object_id: str, ttl: float) -> bool:
        """Push an ephemeral object's expiry to now + ``ttl``. False if it no longer exists."""

    @abstractmethod
    async def collect_garbage(self) -> int:
        """Delete ephemeral objects whose heartbeat expired, and expired partitions' data.

        Returns the number of objects deleted. Safe to call from many processes at once.
        """

    # -- queues ----------------------------------------------------------------------------

    @abstractmethod
    async def queue_put(
        self,
        object_id: str,
        part: bytes,
        items: Sequence[bytes],
        *,
        ttl: float,
        max_items: int,
        max_partitions: int,
    ) -> PutStatus:
        """Append ``items`` to partition ``part`` all-or-nothing, and set its expiry to now + ``ttl``.

        An expired partition counts as empty. Refuses (storing nothing) when the partition
        would hold more than ``max_items``, or when creating it would exceed ``max_partitions``
        live partitions. Wakes getters blocked on the partition.

        Raises:
            NotFoundError: the queue does not exist.
        """

    @abstractmethod
    async def queue_get(self, object_id: str, part: bytes, n: int, *, wait: float) -> list[bytes]:
        """Remove and return up to ``n`` items from the head of ``part``, oldest first.

        When the partition is empty, block natively (no busy polling) for up to ``wait``
        seconds until at least one item arrives; ``wait=0`` does not block. Returns ``[]``
        on timeout. Callers keep ``wait`` bounded (tens of seconds) and loop.

        Raises:
            NotFoundError: the queue does not exist.
        """

    @abstractmethod
    async def queue_wait(self, object_id: str, part: bytes, *, wait: float, for_space: bool) -> None:
        """Sleep up to ``wait`` seconds, returning early when ``part`` may have changed.

        ``for_space=False`` waits for a put (used by ``iterate``), ``True`` for a get (used by
        a ``put`` blocked on a full partition). Spurious early returns are allowed.
        """

    @abstractmethod
    async def queue_len(self, object_id: str, part: bytes | None) -> int:
        """Items in ``part`` (0 if missing or expired), or in all partitions when ``part`` is None.

        Raises:
            NotFoundError: the queue does not exist.
        """

    @abstractmethod
    async def queue_clear(self, object_id: str, part: bytes | None) -> None:
        """Empty ``part``, or every partition when ``part`` is None. The queue survives.

        Raises:
            NotFoundError: the queue does not exist.
        """

    @abstractmethod
    async def queue_scan(
        self, object_id: str, part: bytes, after: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """Without removing anything, up to ``limit`` ``(seq, item)`` pairs of ``part`` with
        ``seq > after``, in FIFO order. ``seq`` grows strictly within a queue and is never reused.

        Raises:
            NotFoundError: the queue does not exist.
        """

    @abstractmethod
    async def queue_partitions(self, object_id: str) -> list[PartitionInfo]:
        """Live (unexpired) partitions with their lengths, sorted by key.

        Raises:
            NotFoundError: the queue does not exist.
        """

    # -- key/value (Dict) -------------------------------------------------------------------

    @abstractmethod
    async def kv_get(self, object_id: str, key: bytes) -> bytes | None:
        """The value stored under ``key``, or None. Raises NotFoundError if the dict is gone."""

    @abstractmethod
    async def kv_contains(self, object_id: str, key: bytes) -> bool:
        """Whether ``key`` is present. Raises NotFoundError if the dict is gone."""

    @abstractmethod
    async def kv_put(self, object_id: str, items: Sequence[tuple[bytes, bytes]], *, only_new: bool) -> bool:
        """Store all pairs atomically. With ``only_new`` (one pair only), store only if the key
        is absent and return whether it was stored. Raises NotFoundError if the dict is gone."""

    @abstractmethod
    async def kv_pop(self, object_id: str, key: bytes) -> bytes | None:
        """Remove ``key`` and return its value, or None if absent."""

    @abstractmethod
    async def kv_len(self, object_id: str) -> int:
        """Number of keys. Raises NotFoundError if the dict is gone."""

    @abstractmethod
    async def kv_scan(self, object_id: str, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` pairs with key > ``after`` (bytewise order); None starts at the beginning.

        Paging with the last key returned sees every key present for the whole scan exactly once.
        """

    @abstractmethod
    async def kv_clear(self, object_id: str) -> None:
        """Remove every key; the dict survives."""

    # -- lifecycle --------------------------------------------------------------------------

    @abstractmethod
    async def now(self) -> float:
        """The backend's clock, in Unix seconds."""

    @abstractmethod
    async def ping(self) -> None:
        """Round-trip to the storage. Raises BackendUnavailableError if it is unreachable."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections. The backend must not be used afterwards."""
