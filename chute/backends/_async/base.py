"""The storage interface: bytes in, bytes out.

Serialization, validation and Modal's semantics live above this line (``chute._async.queue_ops``);
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

from chute.backends.types import (
    CallRecord,
    CallState,
    FunctionRecord,
    FunctionStats,
    Kind,
    ObjectInfo,
    PartitionInfo,
    PutStatus,
)
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
        """Delete ephemeral objects whose heartbeat expired, expired partitions' data, and
        call records whose result expired more than ``CALL_TOMBSTONE`` seconds ago (until
        then ``job_get`` reports them EXPIRED rather than unknown).

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

    # -- jobs (function calls) ----------------------------------------------------------------
    #
    # A call is stored once and moves PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED
    # (RUNNING -> PENDING again for a retry or a lost worker). Workers *lease* calls rather
    # than removing them: a worker that dies stops renewing its lease, and the next claim of
    # that function puts the call back (at-least-once execution). ``attempt`` (the value of
    # ``attempts`` right after a claim) is the fencing token: every write by a worker names
    # the attempt it holds and is refused once the call moved on without it.

    @abstractmethod
    async def job_deploy(self, env: str, app: str, functions: Sequence[tuple[str, bytes]]) -> None:
        """Register (or replace) the app's functions with their JSON specs, atomically."""

    @abstractmethod
    async def job_functions(self, env: str, app: str | None = None) -> list[FunctionRecord]:
        """Deployed functions of ``env`` (of one app if given), sorted by (app, name)."""

    @abstractmethod
    async def job_stats(self, env: str, app: str, function: str) -> FunctionStats:
        """Counts of the function's calls by state (expired ones are not counted)."""

    @abstractmethod
    async def job_submit(
        self,
        env: str,
        app: str,
        function: str,
        call_id: str,
        payload: bytes,
        *,
        result_ttl: float,
        idempotency_key: str | None = None,
    ) -> str:
        """Store a PENDING call and wake a worker waiting on the function.

        Returns ``call_id``, or, when ``idempotency_key`` was already used for this function
        (within ``result_ttl``), the id of the call submitted with it, storing nothing new.
        """

    @abstractmethod
    async def job_claim(
        self,
        env: str,
        app: str,
        function: str,
        worker: str,
        *,
        n: int,
        lease: float,
        max_running: int | None,
        max_lost: int,
    ) -> list[CallRecord]:
        """Lease up to ``n`` ready calls of the function to ``worker``, oldest first.

        First, running calls whose lease expired go back to PENDING with ``lost + 1`` (or
        become FAILED with a "worker lost" error once ``lost`` would exceed ``max_lost``).
        Then up to ``n`` PENDING calls whose backoff has passed become RUNNING with
        ``attempts + 1`` and a lease until now + ``lease``, never taking the function's
        RUNNING count above ``max_running`` (None = no cap). The records returned carry
        ``payload``. Atomic: two claimers never get the same attempt.
        """

    @abstractmethod
    async def job_wait_for_work(self, env: str, app: str, functions: Sequence[str], *, wait: float) -> None:
        """Sleep up to ``wait`` s, returning early when one of the functions got a call.

        Spurious early returns are allowed; callers keep ``wait`` bounded and loop.
        """

    @abstractmethod
    async def job_heartbeat(self, call_id: str, attempt: int, lease: float) -> bool:
        """Extend the lease of a RUNNING call's ``attempt`` to now + ``lease``.

        False when the worker no longer holds it (cancelled, lost and re-claimed, finished):
        the worker must then stop the attempt.
        """

    @abstractmethod
    async def job_finish(
        self, call_id: str, attempt: int, state: CallState, result: bytes, *, error: str | None = None
    ) -> bool:
        """Fenced: end a RUNNING call's ``attempt`` with SUCCEEDED or FAILED and its serialized
        outcome; the result expires after the call's ``result_ttl``. A FAILED finish counts
        one more failure. False (nothing written) when the attempt is not the current one.
        Wakes ``job_wait`` callers.

        Raises:
            ValueError: ``state`` is neither SUCCEEDED nor FAILED.
        """

    @abstractmethod
    async def job_retry(self, call_id: str, attempt: int, *, delay: float, error: str) -> bool:
        """Fenced: the attempt failed with ``error``; count the failure and make the call
        PENDING again, claimable after ``delay`` seconds. False when the attempt is not current.
        """

    @abstractmethod
    async def job_release(self, call_id: str, attempt: int) -> bool:
        """Fenced: give the attempt back without counting a failure (graceful shutdown);
        the call is PENDING and claimable at once, and ``attempts`` is decremented.
        """

    @abstractmethod
    async def job_cancel(self, call_id: str, *, result: bytes) -> bool:
        """Make a PENDING or RUNNING call CANCELLED with ``result`` as its outcome.

        False when the call is unknown or already terminal. A running attempt notices at
        its next heartbeat (which returns False). Wakes ``job_wait`` callers.
        """

    @abstractmethod
    async def job_get(self, call_id: str) -> CallRecord | None:
        """The call (without ``payload``), or None if unknown or collected.

        A terminal call whose ``expires_at`` passed is returned as EXPIRED with no result.
        """

    @abstractmethod
    async def job_wait(self, call_id: str, *, wait: float) -> None:
        """Sleep up to ``wait`` s, returning early once the call may have become terminal."""

    @abstractmethod
    async def job_list(
        self,
        env: str,
        *,
        app: str | None = None,
        function: str | None = None,
        state: CallState | None = None,
        limit: int = 100,
    ) -> list[CallRecord]:
        """Most recent calls first (by ``created_at``), without payloads or results."""

    @abstractmethod
    async def worker_beat(self, env: str, worker_id: str, info: bytes, *, ttl: float) -> None:
        """Record that ``worker_id`` is alive until now + ``ttl``, with its JSON ``info``."""

    @abstractmethod
    async def worker_gone(self, env: str, worker_id: str) -> None:
        """Forget ``worker_id`` (it stopped cleanly)."""

    @abstractmethod
    async def worker_list(self, env: str) -> list[tuple[str, bytes]]:
        """``(worker_id, info)`` of the workers whose last beat has not expired, sorted by id."""

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
