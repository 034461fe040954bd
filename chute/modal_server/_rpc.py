"""What every RPC group of the Modal servicer shares: request plumbing, error mapping, limits,
and ``ServicerBase`` (the chute client, a cache of hydrated references, validation helpers)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
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
from chute._async import objects
from chute._client import Client
from chute._jobs import FunctionRef
from chute._ref import ObjectRef
from chute.backends.types import Kind, ObjectInfo
from chute.config import Settings
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
from chute.modal_server._functions import MapState

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
# Maps in progress kept per server (a client that vanished mid-map leaves one behind).
MAP_CACHE_SIZE = 10_000

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
            f"{name} is not implemented by chute's modal-server, which serves Modal's Queue, Dict and "
            "Function RPCs only (plus the client handshake and environment lookups): see the README's "
            "'Modal wire compatibility'.",
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


class ServicerBase(_Base):
    """State and helpers the RPC groups share: the client, hydrated references, validation."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._refs: OrderedDict[str, ObjectRef] = OrderedDict()
        # (env, app, function) -> (monotonic expiry, checked reference)
        self._function_refs: dict[tuple[str, str, str], tuple[float, FunctionRef]] = {}
        self._maps: OrderedDict[str, MapState] = OrderedDict()

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

    def _remember_map(self, map_id: str, state: MapState) -> MapState:
        self._maps[map_id] = state
        while len(self._maps) > MAP_CACHE_SIZE:
            self._maps.popitem(last=False)
        return state

    @staticmethod
    def _call_id(function_call_id: str) -> str:
        return _validate.check_object_id(function_call_id, "fc", "FunctionCall")

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
