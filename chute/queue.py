"""``chute.Queue``: Modal's distributed, partitioned FIFO queue, plus multiprocessing.Queue's methods."""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

from chute import _validate
from chute._async import queue_ops as _ops_async
from chute._client import Client
from chute._dual import dual, dual_iter
from chute._object import Handle
from chute._sync import queue_ops as _ops
from chute.backends.types import Kind
from chute.exception import InvalidError

H = TypeVar("H", bound=Handle)


class _ObjectManager:
    """``Queue.objects`` / ``Dict.objects``: create, list and delete named objects."""

    def __init__(self, cls: type[Handle], kind: Kind) -> None:
        self._cls = cls
        self._kind = kind

    def _client(self) -> Client:
        return Client.from_env()

    create = dual(_ops.objects_create, _ops_async.objects_create)
    list = dual(_ops.objects_list, _ops_async.objects_list)
    delete = dual(_ops.objects_delete, _ops_async.objects_delete)


class _EphemeralContext(Generic[H]):
    """``with X.ephemeral() as x`` and ``async with X.ephemeral() as x``."""

    def __init__(self, handle: H, max_items: int | None = None) -> None:
        self._handle = handle
        self._max_items = max_items

    def __enter__(self) -> H:
        _ops.create_ephemeral(self._handle, self._max_items)
        return self._handle

    def __exit__(self, *exc: object) -> None:
        _ops.delete_ephemeral(self._handle)

    async def __aenter__(self) -> H:
        await _ops_async.create_ephemeral(self._handle, self._max_items)
        return self._handle

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await _ops_async.delete_ephemeral(self._handle)


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
    """

    _kind: ClassVar[Kind] = Kind.QUEUE
    objects: ClassVar[_ObjectManager]
    _closed: bool
    _mp_style: bool

    def __init__(self, maxsize: int = 0) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise InvalidError(f"maxsize must be an int >= 0 (0 = the partition limit), got {maxsize!r}.")
        self._init_handle(None)
        self._init_extra()
        self._mp_style = True
        _ops.create_ephemeral(self, maxsize or None)

    def _init_extra(self) -> None:
        self._closed = False
        self._mp_style = False

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild_queue, (super().__reduce__(), self._mp_style))

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
    ) -> _EphemeralContext[Queue]:
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
        return _EphemeralContext(cls._new(client, env=env))

    @staticmethod
    def validate_partition_key(partition: str | None) -> bytes:
        """``None`` → ``b""`` (default partition); otherwise the UTF-8 key, 1-64 bytes.

        Raises:
            InvalidError: empty or longer than 64 bytes.
        """
        return _validate.partition_key(partition)

    @property
    def object_id(self) -> str:
        """The queue's id (``qu-…``); looks the queue up if the handle is not hydrated yet."""
        return (self._info or _ops.hydrate(self)).id

    # -- Modal API -----------------------------------------------------------------------

    hydrate = dual(_ops.hydrate_method, _ops_async.hydrate_method)
    info = dual(_ops.info, _ops_async.info)
    put = dual(_ops.queue_put, _ops_async.queue_put)
    put_many = dual(_ops.queue_put_many, _ops_async.queue_put_many)
    get = dual(_ops.queue_get, _ops_async.queue_get)
    get_many = dual(_ops.queue_get_many, _ops_async.queue_get_many)
    len = dual(_ops.queue_len, _ops_async.queue_len)
    clear = dual(_ops.queue_clear, _ops_async.queue_clear)
    iterate = dual_iter(_ops.queue_iterate, _ops_async.queue_iterate)
    partitions = dual(_ops.queue_partitions, _ops_async.queue_partitions)

    # -- multiprocessing.Queue API -------------------------------------------------------

    qsize = dual(_ops.queue_qsize, _ops_async.queue_qsize)
    empty = dual(_ops.queue_empty, _ops_async.queue_empty)
    full = dual(_ops.queue_full, _ops_async.queue_full)
    put_nowait = dual(_ops.queue_put_nowait, _ops_async.queue_put_nowait)
    get_nowait = dual(_ops.queue_get_nowait, _ops_async.queue_get_nowait)

    def close(self) -> None:
        """multiprocessing's ``close``: this handle accepts no more puts (others are unaffected)."""
        self._closed = True

    def join_thread(self) -> None:
        """multiprocessing compatibility: nothing is buffered in a feeder thread, so no-op."""

    def cancel_join_thread(self) -> None:
        """multiprocessing compatibility: no-op (see ``join_thread``)."""


def _rebuild_queue(reduced: tuple[Any, tuple[Any, ...]], mp_style: bool) -> Queue:
    fn, args = reduced
    q: Queue = fn(*args)
    q._mp_style = mp_style
    return q


Queue.objects = _ObjectManager(Queue, Kind.QUEUE)
