"""``chute.Queue``: Modal's distributed, partitioned FIFO queue, plus multiprocessing.Queue's methods."""

from __future__ import annotations

from typing import Any, ClassVar

from chute import _validate
from chute._async import queue_ops as aops
from chute._client import Client
from chute._dual import dual, dual_iter
from chute._feeder import Feeder
from chute._handle import EphemeralContext, Handle, ObjectManager, _rebuild
from chute._readahead import ReadAhead
from chute._ref import ObjectRef
from chute._sync import objects as sync_objects
from chute._sync import queue_ops as ops
from chute.backends.types import Kind
from chute.exception import InvalidError


class Queue(Handle):
    """Distributed FIFO queue with independent partitions, shared by processes and machines.

    Items are any cloudpickle-able object. Partitions (``partition="key"``) are independent
    FIFOs; each expires ``partition_ttl`` seconds (default 24 h) after its last put. Limits
    (defaults are Modal's, configurable with ``CHUTE_MAX_*``): 5,000 items per partition,
    1 MiB per item, 100,000 partitions, partition keys of 1-64 bytes.

    Unlike Modal's, chute's queues are durable: on the embedded SQLite backend, an
    acknowledged ``put`` survives crashes and restarts.

    Example:
        ```python
        import chute

        with chute.Queue.ephemeral() as q:
            q.put("some value")
            q.put(123)
            assert q.get() == "some value"

        q = chute.Queue.from_name("my-persisted-queue", create_if_missing=True)
        q.put(42)
        assert q.get() == 42
        ```

    ``chute.Queue(maxsize=0)`` creates an ephemeral queue owned by this process, like
    ``multiprocessing.Queue()``: pass it to ``multiprocessing.Process`` workers, and it is
    deleted when this process exits (or, after a crash, once its heartbeat lapses). Such a
    queue follows multiprocessing's conventions where they differ from Modal's:
    ``get(block=False)`` raises ``queue.Empty`` instead of returning ``None``, and
    ``maxsize`` caps each partition.

    ``chute.Queue(write_behind=True)`` also takes ``multiprocessing.Queue``'s delivery contract:
    ``put`` returns once the item is buffered in this process, and a feeder thread writes the
    buffer in batches; ``close()`` + ``join_thread()``, interpreter exit and the end of a
    ``multiprocessing`` child flush it, ``cancel_join_thread()`` gives that up. A crash loses
    what was still buffered (see the README's Guarantees). Its gets read ahead: one backend
    round trip takes up to 64 items of the partition (256 under a backlog), the rest are kept in
    this process for the next gets, counted by ``qsize()`` and given back to the head of the
    partition on ``close()``, garbage collection and exit (a crashed consumer loses them).
    Handles passed to other processes write behind and read ahead too. The default
    (``write_behind=False``) acknowledges each put once stored and takes one item per get.
    """

    _kind: ClassVar[Kind] = Kind.QUEUE
    objects: ClassVar[ObjectManager]

    def __init__(self, maxsize: int = 0, *, write_behind: bool = False) -> None:
        """A queue owned by this process, like ``multiprocessing.Queue(maxsize)``.

        Raises:
            InvalidError: ``maxsize`` is not an int >= 0, or ``write_behind`` not a bool.

        Example:
            ```python
            q = chute.Queue(maxsize=100, write_behind=True)
            q.put("item")  # buffered; a feeder thread stores it
            q.close()
            q.join_thread()  # every buffered item is stored now
            ```
        """
        _validate.check_count(maxsize, "maxsize (0 = the partition limit)", minimum=0)
        if not isinstance(write_behind, bool):
            raise InvalidError(f"write_behind must be True or False, got {write_behind!r}.")
        self._ref = ObjectRef.of(Kind.QUEUE, mp_style=True)
        sync_objects.create_ephemeral(self._ref, maxsize or None)
        if write_behind:
            self._ref.feeder = Feeder(self._ref)
            self._ref.reader = ReadAhead(self._ref)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        rebuild, args = super().__reduce__()
        if self._ref.feeder is None:
            return rebuild, args
        return _rebuild_write_behind, args  # the receiving process writes behind too

    # -- constructors --------------------------------------------------------------------

    @classmethod
    def from_name(
        cls, name: str, *, environment_name: str | None = None, create_if_missing: bool = False
    ) -> Queue:
        """Reference a named queue, created on first use if ``create_if_missing``.

        Lazy: nothing is looked up until the first operation, which raises ``NotFoundError``
        if the queue does not exist.

        Raises:
            InvalidError: the name is not 1-64 characters of ``[A-Za-z0-9._-]``.

        Example:
            ```python
            q = chute.Queue.from_name("my-queue", create_if_missing=True)
            q.put(123)
            ```
        """
        _validate.check_name(name, "Queue")
        env = _validate.check_env(environment_name) if environment_name else None
        return cls._new(name=name, env=env, create_if_missing=create_if_missing)

    @classmethod
    def from_id(cls, queue_id: str) -> Queue:
        """Reference a queue by its ``object_id`` (``qu-…``), e.g. one passed from another process.

        Raises:
            InvalidError: not a queue id.
        """
        return cls._new(object_id=_validate.check_object_id(queue_id, "qu", "Queue"))

    @classmethod
    def ephemeral(
        cls, client: Client | None = None, environment_name: str | None = None
    ) -> EphemeralContext[Queue]:
        """An anonymous queue that lives for the ``with`` / ``async with`` block.

        It is deleted when the block exits, or, if the process dies inside it, once its
        heartbeat lapses (``CHUTE_EPHEMERAL_TTL``, default 60 s).

        Example:
            ```python
            with chute.Queue.ephemeral() as q:
                q.put(123)
            async with chute.Queue.ephemeral() as q:
                await q.put.aio(123)
            ```
        """
        env = _validate.check_env(environment_name) if environment_name else None
        return EphemeralContext(cls._new(client, env=env))

    @staticmethod
    def validate_partition_key(partition: str | None) -> bytes:
        """``None`` → ``b""`` (default partition); otherwise the UTF-8 key, 1-64 bytes.

        Raises:
            InvalidError: empty or longer than 64 bytes.
        """
        return _validate.partition_key(partition)

    # -- Modal API -----------------------------------------------------------------------

    put = dual(ops.queue_put, aops.queue_put, via="_ref")
    put_many = dual(ops.queue_put_many, aops.queue_put_many, via="_ref")
    get = dual(ops.queue_get, aops.queue_get, via="_ref")
    get_many = dual(ops.queue_get_many, aops.queue_get_many, via="_ref")
    len = dual(ops.queue_len, aops.queue_len, via="_ref")
    clear = dual(ops.queue_clear, aops.queue_clear, via="_ref")
    iterate = dual_iter(ops.queue_iterate, aops.queue_iterate, via="_ref")
    partitions = dual(ops.queue_partitions, aops.queue_partitions, via="_ref")

    # -- multiprocessing.Queue API -------------------------------------------------------

    qsize = dual(ops.queue_qsize, aops.queue_qsize, via="_ref")
    empty = dual(ops.queue_empty, aops.queue_empty, via="_ref")
    full = dual(ops.queue_full, aops.queue_full, via="_ref")
    put_nowait = dual(ops.queue_put_nowait, aops.queue_put_nowait, via="_ref")
    get_nowait = dual(ops.queue_get_nowait, aops.queue_get_nowait, via="_ref")

    def close(self) -> None:
        """multiprocessing's ``close``: this handle accepts no more puts (others are unaffected).

        With ``write_behind``, the feeder thread exits once it has written what is buffered,
        and items this handle read ahead and did not return are given back to the head of
        their partitions (later gets on this handle still work, without reading ahead).
        """
        self._ref.closed = True
        if self._ref.feeder is not None:
            self._ref.feeder.close()
        if self._ref.reader is not None:
            self._ref.reader.close()

    def join_thread(self) -> None:
        """multiprocessing's ``join_thread``: with ``write_behind``, wait until every buffered
        item is written (call ``close()`` first). Without it, nothing is buffered: no-op.

        Raises:
            ValueError: ``write_behind`` and ``close()`` was not called.
        """
        if self._ref.feeder is not None:
            self._ref.feeder.join_thread()

    def cancel_join_thread(self) -> None:
        """multiprocessing's ``cancel_join_thread``: with ``write_behind``, do not wait for the
        feeder at exit, so items still buffered then may be lost. Without it: no-op."""
        if self._ref.feeder is not None:
            self._ref.feeder.cancel_join_thread()


def _rebuild_write_behind(*args: Any) -> Queue:
    q = _rebuild(*args)
    assert isinstance(q, Queue)
    q._ref.feeder = Feeder(q._ref)
    q._ref.reader = ReadAhead(q._ref)
    return q


Queue.objects = ObjectManager(Queue)
