"""The gRPC servicer: Modal's Queue and Dict RPCs over chute's backend and ops layer.

Each RPC reads the request, runs Modal's semantics with chute's own helpers (validation,
handles and hydration, ``queue_len``/``queue_clear``/``dict_len``/``dict_clear``, limits and
error messages) and the async backend, and maps chute's exceptions to gRPC statuses the
``modal`` client turns back into the same exceptions (NOT_FOUND → ``NotFoundError``, …).
Every other RPC of Modal's API answers UNIMPLEMENTED, naming itself.

Payloads are never unpickled here: see ``chute.modal_server._payload``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import queue as stdlib_queue
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf import empty_pb2
from grpclib import GRPCError, Status
from grpclib.exceptions import StreamTerminatedError
from modal_proto import api_pb2
from modal_proto.api_grpc import ModalClientBase

from chute import _validate
from chute._async import dict_ops, objects, queue_ops
from chute._client import Client, created_by
from chute._ref import ObjectRef
from chute.backends.types import Kind, ObjectInfo
from chute.config import DEFAULT_PARTITION_TTL, Settings
from chute.exception import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    DeserializationError,
    IntegrityError,
    InvalidError,
    NotFoundError,
    RequestSizeError,
)
from chute.modal_server._payload import seal, store_key, unseal

if TYPE_CHECKING:
    from grpclib.server import Stream

log = logging.getLogger("chute.modal_server")

Req = TypeVar("Req")
Resp = TypeVar("Resp")

# Longest server-side wait of one QueueGet (the modal client asks for at most 50 s and loops).
MAX_LONG_POLL = 50.0
# Longest wait of one QueueNextItems (the modal client asks for at most 30 s).
MAX_ITEM_POLL = 30.0
# The modal client heartbeats its ephemeral objects every 300 s; keep them 3 beats, like chute.
EPHEMERAL_TTL = 900.0
# Hydrated handles kept per server (object metadata never changes, so only deletion matters,
# and every backend operation raises NotFoundError on a deleted object).
HANDLE_CACHE_SIZE = 10_000

_OBJECT_CREATION_TYPES = {
    api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED,
    api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING,
    api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS,
    api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS,
    api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL,
}

# Most specific first: ConflictError is an InvalidError, RequestSizeError is not.
_STATUS_OF: list[tuple[type[Exception], Status]] = [
    (NotFoundError, Status.NOT_FOUND),
    (AlreadyExistsError, Status.ALREADY_EXISTS),
    (ConflictError, Status.FAILED_PRECONDITION),
    (InvalidError, Status.INVALID_ARGUMENT),
    (RequestSizeError, Status.INVALID_ARGUMENT),
    (IntegrityError, Status.DATA_LOSS),
    (DeserializationError, Status.DATA_LOSS),
    (BackendUnavailableError, Status.UNAVAILABLE),
]


@contextlib.contextmanager
def grpc_errors(rpc: str) -> Iterator[None]:
    """Raise chute's errors as the gRPC status the modal client maps back to the same kind."""
    try:
        yield
    except (GRPCError, StreamTerminatedError):
        raise
    except Exception as exc:
        for cls, status in _STATUS_OF:
            if isinstance(exc, cls):
                raise GRPCError(status, str(exc)) from exc
        log.exception("%s failed", rpc)
        raise GRPCError(
            Status.INTERNAL, f"{rpc} failed on the chute server: {type(exc).__name__}: {exc}"
        ) from exc


async def _request(stream: Stream[Req, Any]) -> Req:
    request = await stream.recv_message()
    if request is None:
        raise GRPCError(Status.INVALID_ARGUMENT, "The request message is missing.")
    return request


async def _unary(stream: Stream[Req, Resp], rpc: str, handler: Callable[[Req], Awaitable[Resp]]) -> None:
    request = await _request(stream)
    with grpc_errors(rpc):
        reply = await handler(request)
    await stream.send_message(reply)


def _too_large(what: str, size: int, limit: int, setting: str) -> RequestSizeError:
    # The modal client turns an error whose text has "status = '413'" into RequestSizeError.
    return RequestSizeError(
        f"{what} request is too large (status = '413'): {size:,} bytes, over the {limit:,}-byte limit "
        f"({setting} on the chute server)."
    )


def _time_left(stream: Stream[Any, Any]) -> float:
    """Seconds before the client's deadline (if it set one), less a margin to answer in time."""
    deadline = stream.deadline
    return math.inf if deadline is None else max(deadline.time_remaining() - 0.5, 0.0)


def _seconds(value: float, cap: float) -> float:
    """A client-given wait, clamped to ``[0, cap]`` (NaN counts as 0)."""
    return min(value, cap) if value > 0 else 0.0


def _environment_id(env: str) -> str:
    return "en-" + hashlib.sha256(env.encode()).hexdigest()[:22]


def _creation_info(info: ObjectInfo) -> api_pb2.CreationInfo:
    return api_pb2.CreationInfo(created_at=info.created_at, created_by=info.created_by or "")


def _queue_metadata(info: ObjectInfo) -> api_pb2.QueueMetadata:
    return api_pb2.QueueMetadata(name=info.name or "", creation_info=_creation_info(info))


def _dict_metadata(info: ObjectInfo) -> api_pb2.DictMetadata:
    return api_pb2.DictMetadata(name=info.name or "", creation_info=_creation_info(info))


def _unimplemented(name: str) -> Callable[[Any, Stream[Any, Any]], Awaitable[None]]:
    async def method(self: Any, stream: Stream[Any, Any]) -> None:
        raise GRPCError(
            Status.UNIMPLEMENTED,
            f"{name} is not implemented by chute's modal-server, which serves Modal's Queue and Dict "
            "RPCs only (plus the client handshake and environment lookups).",
        )

    method.__name__ = method.__qualname__ = name
    return method


def _unimplemented_base() -> type[ModalClientBase]:
    """``ModalClientBase`` with every RPC answering UNIMPLEMENTED (subclasses override some)."""
    methods = {name: _unimplemented(name) for name in sorted(ModalClientBase.__abstractmethods__)}
    return type("UnimplementedModalClient", (ModalClientBase,), methods)


if TYPE_CHECKING:
    _Base = ModalClientBase
else:
    _Base = _unimplemented_base()


class ChuteModalServicer(_Base):
    """Modal's ``ModalClient`` gRPC service for Queue and Dict, backed by a chute ``Client``.

    Create it with ``create_servicer`` (mypy sees the generated base's RPCs as abstract).
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._refs: OrderedDict[str, ObjectRef] = OrderedDict()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _settings(self) -> Settings:
        return self._client.settings

    def _env(self, name: str) -> str:
        """Modal's ``""`` (the workspace default) is chute's default environment."""
        return _validate.check_env(name) if name else self._settings.env

    def _remember(self, ref: ObjectRef) -> ObjectRef:
        assert ref.info is not None
        self._refs[ref.info.id] = ref
        self._refs.move_to_end(ref.info.id)
        while len(self._refs) > HANDLE_CACHE_SIZE:
            self._refs.popitem(last=False)
        return ref

    def _forget(self, object_id: str) -> None:
        self._refs.pop(object_id, None)

    async def _lookup(self, kind: Kind, object_id: str) -> ObjectRef:
        """A freshly hydrated reference (NotFoundError if the id is unknown or of another kind)."""
        _validate.check_object_id(object_id, kind.prefix, kind.value.capitalize())
        ref = ObjectRef.of(kind, self._client, object_id=object_id)
        await objects.hydrate(ref)
        return self._remember(ref)

    async def _ref(self, kind: Kind, object_id: str) -> ObjectRef:
        """A hydrated reference, cached: data operations fail with NotFoundError once it is deleted."""
        ref = self._refs.get(object_id)
        if ref is not None and ref.kind is kind:
            self._refs.move_to_end(object_id)
            return ref
        return await self._lookup(kind, object_id)

    def _partition_name(self, raw: bytes) -> str | None:
        """The partition as chute's ops take it: None for the default one, else its UTF-8 name."""
        if not raw:
            return None
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidError("Queue partition key must be UTF-8 text.") from None
        _validate.partition_key(name, self._settings.limits.max_partition_key_bytes)
        return name

    def _partition(self, raw: bytes) -> bytes:
        """The partition key as the backend stores it (``b""`` is the default partition)."""
        name = self._partition_name(raw)
        return (
            b""
            if name is None
            else _validate.partition_key(name, self._settings.limits.max_partition_key_bytes)
        )

    async def _get_or_create(
        self, kind: Kind, name: str, environment_name: str, creation_type: int
    ) -> tuple[ObjectInfo, bool]:
        """Modal's ``*GetOrCreate``: ``(info, created)`` per the object creation type."""
        label = kind.value.capitalize()
        env = self._env(environment_name)
        client = self._client
        if creation_type not in _OBJECT_CREATION_TYPES:
            raise InvalidError(
                f"Object creation type {creation_type} is not supported by chute's modal-server "
                "(objects owned by an App need Modal itself)."
            )
        if creation_type == api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL:
            if name:
                raise InvalidError(f"An ephemeral {label} has no name (got {name!r}).")
            ref = ObjectRef.of(kind, client, env=env)
            ttl = max(EPHEMERAL_TTL, self._settings.ephemeral_ttl)
            return await objects.create_ephemeral(ref, ttl=ttl, remote_heartbeat=True), True
        _validate.check_name(name, label)
        if creation_type == api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED:
            found = await objects.lookup(client, kind, env, name)
            if found is None:
                raise NotFoundError(
                    f"{label} {name!r} not found in environment {env!r}. Create it with "
                    "create_if_missing=True or objects.create()."
                )
            return found, False
        if creation_type == api_pb2.OBJECT_CREATION_TYPE_CREATE_OVERWRITE_IF_EXISTS:
            old = await objects.lookup(client, kind, env, name)
            if old is not None:
                await objects.delete_by_id(client, old.id)
                self._forget(old.id)
        fail_if_exists = creation_type == api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS
        return await objects.create(
            client, kind, name, allow_existing=not fail_if_exists, environment_name=env
        )

    async def _heartbeat(self, kind: Kind, object_id: str) -> empty_pb2.Empty:
        _validate.check_object_id(object_id, kind.prefix, kind.value.capitalize())
        client = self._client
        ttl = max(EPHEMERAL_TTL, self._settings.ephemeral_ttl)
        # False for named objects (they have no expiry) as well as for deleted ones.
        if (
            not await objects.heartbeat(client, object_id, ttl)
            and await objects.get_by_id(client, object_id) is None
        ):
            raise NotFoundError(f"{kind.value.capitalize()} with id {object_id} not found.")
        return empty_pb2.Empty()

    async def _delete(self, kind: Kind, object_id: str) -> empty_pb2.Empty:
        _validate.check_object_id(object_id, kind.prefix, kind.value.capitalize())
        self._forget(object_id)
        if not await objects.delete_by_id(self._client, object_id):
            raise NotFoundError(f"{kind.value.capitalize()} with id {object_id} not found.")
        return empty_pb2.Empty()

    async def _list(
        self, kind: Kind, request: api_pb2.QueueListRequest | api_pb2.DictListRequest
    ) -> list[ObjectInfo]:
        env = self._env(request.environment_name)
        page = request.pagination
        limit = page.max_objects if page.max_objects > 0 else None
        before = datetime.fromtimestamp(page.created_before) if page.created_before > 0 else None
        return await objects.list_named(
            self._client, kind, max_objects=limit, created_before=before, environment_name=env
        )

    # -- client handshake and environments --------------------------------------------------

    async def ClientHello(self, stream: Stream[empty_pb2.Empty, api_pb2.ClientHelloResponse]) -> None:
        # The token was checked when the request arrived (chute.modal_server._auth).
        await _unary(stream, "ClientHello", self._client_hello)

    async def _client_hello(self, request: empty_pb2.Empty) -> api_pb2.ClientHelloResponse:
        return api_pb2.ClientHelloResponse()

    async def WorkspaceNameLookup(
        self, stream: Stream[empty_pb2.Empty, api_pb2.WorkspaceNameLookupResponse]
    ) -> None:
        await _unary(stream, "WorkspaceNameLookup", self._workspace_name_lookup)

    async def _workspace_name_lookup(self, request: empty_pb2.Empty) -> api_pb2.WorkspaceNameLookupResponse:
        return api_pb2.WorkspaceNameLookupResponse(workspace_name="chute", username=created_by())

    async def EnvironmentGetOrCreate(
        self, stream: Stream[api_pb2.EnvironmentGetOrCreateRequest, api_pb2.EnvironmentGetOrCreateResponse]
    ) -> None:
        await _unary(stream, "EnvironmentGetOrCreate", self._environment_get_or_create)

    async def _environment_get_or_create(
        self, request: api_pb2.EnvironmentGetOrCreateRequest
    ) -> api_pb2.EnvironmentGetOrCreateResponse:
        # chute's environments are namespaces that exist as soon as they are named.
        env = self._env(request.deployment_name)
        return api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=_environment_id(env), metadata=api_pb2.EnvironmentMetadata(name=env)
        )

    async def EnvironmentList(self, stream: Stream[empty_pb2.Empty, api_pb2.EnvironmentListResponse]) -> None:
        await _unary(stream, "EnvironmentList", self._environment_list)

    async def _environment_list(self, request: empty_pb2.Empty) -> api_pb2.EnvironmentListResponse:
        # Environments are implicit in chute: only the server's default one is listed.
        env = self._settings.env
        item = api_pb2.EnvironmentListItem(name=env, default=True, environment_id=_environment_id(env))
        return api_pb2.EnvironmentListResponse(items=[item])

    # -- Queue ------------------------------------------------------------------------------

    async def QueueGetOrCreate(
        self, stream: Stream[api_pb2.QueueGetOrCreateRequest, api_pb2.QueueGetOrCreateResponse]
    ) -> None:
        await _unary(stream, "QueueGetOrCreate", self._queue_get_or_create)

    async def _queue_get_or_create(
        self, request: api_pb2.QueueGetOrCreateRequest
    ) -> api_pb2.QueueGetOrCreateResponse:
        info, _ = await self._get_or_create(
            Kind.QUEUE, request.deployment_name, request.environment_name, request.object_creation_type
        )
        self._remember(ObjectRef.of_info(self._client, info))
        return api_pb2.QueueGetOrCreateResponse(queue_id=info.id, metadata=_queue_metadata(info))

    async def QueueGetById(
        self, stream: Stream[api_pb2.QueueGetByIdRequest, api_pb2.QueueGetByIdResponse]
    ) -> None:
        await _unary(stream, "QueueGetById", self._queue_get_by_id)

    async def _queue_get_by_id(self, request: api_pb2.QueueGetByIdRequest) -> api_pb2.QueueGetByIdResponse:
        ref = await self._lookup(Kind.QUEUE, request.queue_id)
        assert ref.info is not None
        return api_pb2.QueueGetByIdResponse(queue_id=ref.info.id, metadata=_queue_metadata(ref.info))

    async def QueueHeartbeat(self, stream: Stream[api_pb2.QueueHeartbeatRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "QueueHeartbeat", lambda r: self._heartbeat(Kind.QUEUE, r.queue_id))

    async def QueueDelete(self, stream: Stream[api_pb2.QueueDeleteRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "QueueDelete", lambda r: self._delete(Kind.QUEUE, r.queue_id))

    async def QueueList(self, stream: Stream[api_pb2.QueueListRequest, api_pb2.QueueListResponse]) -> None:
        await _unary(stream, "QueueList", self._queue_list)

    async def _queue_list(self, request: api_pb2.QueueListRequest) -> api_pb2.QueueListResponse:
        queues = []
        for info in await self._list(Kind.QUEUE, request):
            try:
                parts = await queue_ops.partition_infos(ObjectRef.of_info(self._client, info))
            except NotFoundError:  # deleted meanwhile
                continue
            queues.append(
                api_pb2.QueueListResponse.QueueInfo(
                    name=info.name or "",
                    created_at=info.created_at,
                    num_partitions=len(parts),
                    total_size=sum(p.length for p in parts),
                    queue_id=info.id,
                    metadata=_queue_metadata(info),
                )
            )
        return api_pb2.QueueListResponse(queues=queues, environment_name=self._env(request.environment_name))

    async def QueuePut(self, stream: Stream[api_pb2.QueuePutRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "QueuePut", self._queue_put)

    async def _queue_put(self, request: api_pb2.QueuePutRequest) -> empty_pb2.Empty:
        """All or nothing; a full partition answers RESOURCE_EXHAUSTED at once (the modal client
        retries with backoff when blocking, and raises ``queue.Full`` otherwise)."""
        ref = await self._ref(Kind.QUEUE, request.queue_id)
        settings = self._settings
        part = self._partition(request.partition_key)
        ttl = _validate.check_ttl(request.partition_ttl_seconds or DEFAULT_PARTITION_TTL)
        method = "Queue.put" if len(request.values) == 1 else "Queue.put_many"
        limit = settings.limits.max_item_bytes
        items = []
        for value in request.values:
            data = seal(value, settings.secret)
            if len(data) > limit:
                raise _too_large(method, len(data), limit, "CHUTE_MAX_ITEM_BYTES")
            items.append(data)
        if not items:
            return empty_pb2.Empty()
        cap = await queue_ops.capacity(ref)
        if len(items) > cap:
            raise InvalidError(
                f"{method} of {len(items)} items can never fit: a partition holds at most {cap} items."
            )
        try:
            await queue_ops.put_bytes(ref, items, part=part, ttl=ttl, block=False, method=method)
        except stdlib_queue.Full as exc:
            raise GRPCError(Status.RESOURCE_EXHAUSTED, str(exc)) from None
        return empty_pb2.Empty()

    async def QueueGet(self, stream: Stream[api_pb2.QueueGetRequest, api_pb2.QueueGetResponse]) -> None:
        time_left = _time_left(stream)
        await _unary(stream, "QueueGet", lambda r: self._queue_get(r, time_left))

    async def _queue_get(
        self, request: api_pb2.QueueGetRequest, time_left: float
    ) -> api_pb2.QueueGetResponse:
        """Remove up to ``n_values`` items, long-polling up to ``timeout`` (≤ 50 s) for the first
        one with the backend's native blocking, in bounded chunks."""
        ref = await self._ref(Kind.QUEUE, request.queue_id)
        part = self._partition(request.partition_key)
        n = _validate.check_count(request.n_values, "n_values")
        wait = min(_seconds(request.timeout, MAX_LONG_POLL), time_left)
        try:
            items = await queue_ops.get_bytes(ref, n, part=part, block=wait > 0, timeout=wait)
        except stdlib_queue.Empty:
            items = []
        what = f"an item of {ref.describe()}"
        secret = self._settings.secret
        return api_pb2.QueueGetResponse(values=[unseal(data, secret, what) for data in items])

    async def QueueNextItems(
        self, stream: Stream[api_pb2.QueueNextItemsRequest, api_pb2.QueueNextItemsResponse]
    ) -> None:
        time_left = _time_left(stream)
        await _unary(stream, "QueueNextItems", lambda r: self._queue_next_items(r, time_left))

    async def _queue_next_items(
        self, request: api_pb2.QueueNextItemsRequest, time_left: float
    ) -> api_pb2.QueueNextItemsResponse:
        """Items after ``last_entry_id`` without removing them (``iterate``), waiting up to
        ``item_poll_timeout`` for one to arrive. Entry ids are the backend's item sequence numbers."""
        ref = await self._ref(Kind.QUEUE, request.queue_id)
        part = self._partition(request.partition_key)
        try:
            after = int(request.last_entry_id) if request.last_entry_id else 0
        except ValueError:
            raise InvalidError(f"Invalid last_entry_id {request.last_entry_id!r}.") from None
        poll = min(_seconds(request.item_poll_timeout, MAX_ITEM_POLL), time_left)
        batch = await queue_ops.next_batch(ref, part=part, after=after, poll=poll)
        what = f"an item of {ref.describe()}"
        secret = self._settings.secret
        return api_pb2.QueueNextItemsResponse(
            items=[
                api_pb2.QueueItem(value=unseal(data, secret, what), entry_id=str(seq)) for seq, data in batch
            ]
        )

    async def QueueLen(self, stream: Stream[api_pb2.QueueLenRequest, api_pb2.QueueLenResponse]) -> None:
        await _unary(stream, "QueueLen", self._queue_len)

    async def _queue_len(self, request: api_pb2.QueueLenRequest) -> api_pb2.QueueLenResponse:
        ref = await self._ref(Kind.QUEUE, request.queue_id)
        partition = self._partition_name(request.partition_key)
        n = await queue_ops.queue_len(ref, partition=partition, total=request.total)
        return api_pb2.QueueLenResponse(len=n)

    async def QueueClear(self, stream: Stream[api_pb2.QueueClearRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "QueueClear", self._queue_clear)

    async def _queue_clear(self, request: api_pb2.QueueClearRequest) -> empty_pb2.Empty:
        ref = await self._ref(Kind.QUEUE, request.queue_id)
        partition = self._partition_name(request.partition_key)
        await queue_ops.queue_clear(ref, partition=partition, all=request.all_partitions)
        return empty_pb2.Empty()

    # -- Dict -------------------------------------------------------------------------------

    async def DictGetOrCreate(
        self, stream: Stream[api_pb2.DictGetOrCreateRequest, api_pb2.DictGetOrCreateResponse]
    ) -> None:
        await _unary(stream, "DictGetOrCreate", self._dict_get_or_create)

    async def _dict_get_or_create(
        self, request: api_pb2.DictGetOrCreateRequest
    ) -> api_pb2.DictGetOrCreateResponse:
        info, created = await self._get_or_create(
            Kind.DICT, request.deployment_name, request.environment_name, request.object_creation_type
        )
        ref = self._remember(ObjectRef.of_info(self._client, info))
        if created and request.data:  # initial contents, written only by the request that created it
            await dict_ops.put_entries(ref, self._dict_pairs(request.data, "Dict"))
        return api_pb2.DictGetOrCreateResponse(dict_id=info.id, metadata=_dict_metadata(info))

    async def DictGetById(
        self, stream: Stream[api_pb2.DictGetByIdRequest, api_pb2.DictGetByIdResponse]
    ) -> None:
        await _unary(stream, "DictGetById", self._dict_get_by_id)

    async def _dict_get_by_id(self, request: api_pb2.DictGetByIdRequest) -> api_pb2.DictGetByIdResponse:
        ref = await self._lookup(Kind.DICT, request.dict_id)
        assert ref.info is not None
        return api_pb2.DictGetByIdResponse(dict_id=ref.info.id, metadata=_dict_metadata(ref.info))

    async def DictHeartbeat(self, stream: Stream[api_pb2.DictHeartbeatRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "DictHeartbeat", lambda r: self._heartbeat(Kind.DICT, r.dict_id))

    async def DictDelete(self, stream: Stream[api_pb2.DictDeleteRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "DictDelete", lambda r: self._delete(Kind.DICT, r.dict_id))

    async def DictList(self, stream: Stream[api_pb2.DictListRequest, api_pb2.DictListResponse]) -> None:
        await _unary(stream, "DictList", self._dict_list)

    async def _dict_list(self, request: api_pb2.DictListRequest) -> api_pb2.DictListResponse:
        dicts = [
            api_pb2.DictListResponse.DictInfo(
                name=info.name or "",
                created_at=info.created_at,
                dict_id=info.id,
                metadata=_dict_metadata(info),
            )
            for info in await self._list(Kind.DICT, request)
        ]
        return api_pb2.DictListResponse(dicts=dicts, environment_name=self._env(request.environment_name))

    def _key(self, raw: bytes, method: str) -> bytes:
        kb = store_key(raw, self._settings.secret)
        limit = self._settings.limits.max_value_bytes
        if len(kb) > limit:
            raise _too_large(f"{method} (a key)", len(kb), limit, "CHUTE_MAX_VALUE_BYTES")
        return kb

    def _dict_pairs(self, entries: Any, method: str) -> list[tuple[bytes, bytes]]:
        """Stored (key, value) pairs of ``DictEntry`` messages; a later duplicate key wins."""
        settings = self._settings
        limit = settings.limits.max_update_entries
        if len(entries) > limit:
            raise InvalidError(
                f"{method} got {len(entries):,} entries, over the {limit:,}-entry limit per call: "
                f"split the update into calls of at most {limit:,} entries."
            )
        pairs: dict[bytes, bytes] = {}
        max_bytes = settings.limits.max_value_bytes
        for entry in entries:
            value = seal(entry.value, settings.secret)
            if len(value) > max_bytes:
                raise _too_large(method, len(value), max_bytes, "CHUTE_MAX_VALUE_BYTES")
            pairs[self._key(entry.key, method)] = value
        return list(pairs.items())

    async def DictUpdate(self, stream: Stream[api_pb2.DictUpdateRequest, api_pb2.DictUpdateResponse]) -> None:
        await _unary(stream, "DictUpdate", self._dict_update)

    async def _dict_update(self, request: api_pb2.DictUpdateRequest) -> api_pb2.DictUpdateResponse:
        """``put`` (one entry, maybe ``if_not_exists``) and ``update`` (many), all or nothing."""
        ref = await self._ref(Kind.DICT, request.dict_id)
        pairs = self._dict_pairs(request.updates, "Dict.put" if len(request.updates) == 1 else "Dict.update")
        if request.if_not_exists and len(pairs) != 1:
            raise InvalidError("if_not_exists (put's skip_if_exists) takes exactly one entry.")
        if not pairs:
            return api_pb2.DictUpdateResponse(created=False)
        created = await dict_ops.put_entries(ref, pairs, only_new=request.if_not_exists)
        return api_pb2.DictUpdateResponse(created=bool(created))

    async def DictGet(self, stream: Stream[api_pb2.DictGetRequest, api_pb2.DictGetResponse]) -> None:
        await _unary(stream, "DictGet", self._dict_get)

    async def _dict_get(self, request: api_pb2.DictGetRequest) -> api_pb2.DictGetResponse:
        ref = await self._ref(Kind.DICT, request.dict_id)
        data = await dict_ops.get_bytes(ref, self._key(request.key, "Dict.get"))
        if data is None:
            return api_pb2.DictGetResponse(found=False)
        value = unseal(data, self._settings.secret, f"a value of {ref.describe()}")
        return api_pb2.DictGetResponse(found=True, value=value)

    async def DictContains(
        self, stream: Stream[api_pb2.DictContainsRequest, api_pb2.DictContainsResponse]
    ) -> None:
        await _unary(stream, "DictContains", self._dict_contains)

    async def _dict_contains(self, request: api_pb2.DictContainsRequest) -> api_pb2.DictContainsResponse:
        ref = await self._ref(Kind.DICT, request.dict_id)
        found = await dict_ops.contains_bytes(ref, self._key(request.key, "Dict.contains"))
        return api_pb2.DictContainsResponse(found=found)

    async def DictPop(self, stream: Stream[api_pb2.DictPopRequest, api_pb2.DictPopResponse]) -> None:
        await _unary(stream, "DictPop", self._dict_pop)

    async def _dict_pop(self, request: api_pb2.DictPopRequest) -> api_pb2.DictPopResponse:
        ref = await self._ref(Kind.DICT, request.dict_id)
        data = await dict_ops.pop_bytes(ref, self._key(request.key, "Dict.pop"))
        if data is None:
            return api_pb2.DictPopResponse(found=False)
        value = unseal(data, self._settings.secret, f"a value of {ref.describe()}")
        return api_pb2.DictPopResponse(found=True, value=value)

    async def DictLen(self, stream: Stream[api_pb2.DictLenRequest, api_pb2.DictLenResponse]) -> None:
        await _unary(stream, "DictLen", self._dict_len)

    async def _dict_len(self, request: api_pb2.DictLenRequest) -> api_pb2.DictLenResponse:
        ref = await self._ref(Kind.DICT, request.dict_id)
        return api_pb2.DictLenResponse(len=await dict_ops.count(ref))

    async def DictClear(self, stream: Stream[api_pb2.DictClearRequest, empty_pb2.Empty]) -> None:
        await _unary(stream, "DictClear", self._dict_clear)

    async def _dict_clear(self, request: api_pb2.DictClearRequest) -> empty_pb2.Empty:
        ref = await self._ref(Kind.DICT, request.dict_id)
        await dict_ops.clear(ref)
        return empty_pb2.Empty()

    async def DictContents(self, stream: Stream[api_pb2.DictContentsRequest, api_pb2.DictEntry]) -> None:
        """Every entry, a page of the backend's ordered scan at a time (unordered for Modal)."""
        request = await _request(stream)
        secret = self._settings.secret
        after: bytes | None = None
        while True:
            with grpc_errors("DictContents"):
                ref = await self._ref(Kind.DICT, request.dict_id)
                page = await dict_ops.page(ref, after)
                where = ref.describe()
                entries = []
                for kb, vb in page:
                    entry = api_pb2.DictEntry()
                    if request.keys or request.values:  # the client names the key in value errors
                        entry.key = unseal(kb, secret, f"a key of {where}")
                    if request.values:
                        entry.value = unseal(vb, secret, f"a value of {where}")
                    entries.append(entry)
            for entry in entries:
                await stream.send_message(entry)
            if not page:
                return
            after = page[-1][0]


def create_servicer(client: Client) -> ChuteModalServicer:
    """The servicer for ``client``'s backend (chute's settings: secret, limits, environment)."""
    return ChuteModalServicer(client)  # type: ignore[abstract]
