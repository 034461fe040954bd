"""Modal's Queue RPCs over chute's queue ops (``chute._async.queue_ops``)."""

from __future__ import annotations

import queue as stdlib_queue
from typing import TYPE_CHECKING

from google.protobuf import empty_pb2
from grpclib import GRPCError, Status
from modal_proto import api_pb2

from chute import _validate
from chute._async import queue_ops
from chute._ref import ObjectRef
from chute.backends.types import Kind
from chute.config import DEFAULT_PARTITION_TTL
from chute.exception import InvalidError, NotFoundError
from chute.modal_server._payload import seal, unseal
from chute.modal_server._rpc import (
    MAX_ITEM_POLL,
    MAX_LONG_POLL,
    ServicerBase,
    _queue_metadata,
    _seconds,
    _time_left,
    _too_large,
    _unary,
)

if TYPE_CHECKING:
    from grpclib.server import Stream


class QueueRPCs(ServicerBase):
    """``Queue*`` RPCs: get-or-create, by id, heartbeat, delete, list, put, get, next items, len, clear."""

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
