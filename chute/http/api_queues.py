"""``/queues``: create, list, delete, put, get, len, clear, partitions, peek."""

from __future__ import annotations

import contextlib
import queue as stdlib_queue
from collections.abc import AsyncGenerator
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from chute._validate import MAX_TTL
from chute.exception import AlreadyExistsError, InvalidError
from chute.http.common import PICKLE_RESPONSES, RESPONSES, Env, Name, Ok, max_wait, unless_disconnected
from chute.http.payload import json_body, jsonable, pickle_response, read_body, wants_pickle
from chute.queue import Queue

router = APIRouter(prefix="/queues", tags=["queues"], responses=RESPONSES)

Partition = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="Partition key (default partition if omitted)."),
]
Timeout = Annotated[
    float,
    Query(ge=0, le=3600, description="Seconds to wait (0 = do not wait); cut to the server's --max-wait."),
]
PartitionTTL = Annotated[
    float, Query(gt=0, le=MAX_TTL, description="Partition expiry, seconds after this put.")
]


class PutBody(BaseModel):
    """One JSON value to append."""

    model_config = ConfigDict(extra="forbid")
    value: Any


class PutManyBody(BaseModel):
    """JSON values to append, all or nothing."""

    model_config = ConfigDict(extra="forbid")
    values: list[Any]


class PartitionOut(BaseModel):
    """A live partition; ``key`` is null for the default one. ``expires_at`` is Unix seconds."""

    key: str | None
    length: int
    expires_at: float


class QueueOut(BaseModel):
    """A named queue with its partitions."""

    name: str
    id: str
    env: str
    created_at: float
    created_by: str | None
    total: int
    partitions: list[PartitionOut]


class Created(BaseModel):
    """Result of a create: ``created`` is false when it already existed."""

    name: str
    created: bool


class LenOut(BaseModel):
    """Number of items."""

    len: int


class ValueOut(BaseModel):
    """One item."""

    value: Any


class ValuesOut(BaseModel):
    """Several items, oldest first."""

    values: list[Any]


def _queue(name: str, env: str) -> Queue:
    return Queue.from_name(name, environment_name=env)


async def describe(q: Queue, env: str) -> QueueOut:
    """A hydrated queue as ``QueueOut`` (one round trip for the partitions)."""
    meta = await q.info.aio()
    parts = await q.partitions.aio()
    return QueueOut(
        name=q.name or "",
        id=q.object_id,
        env=env,
        created_at=meta.created_at.timestamp(),
        created_by=meta.created_by,
        total=sum(n for _, n, _ in parts),
        partitions=[PartitionOut(key=k, length=n, expires_at=t.timestamp()) for k, n, t in parts],
    )


@router.get("", summary="List queues")
async def list_queues(
    env: Env,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first.")] = 100,
) -> list[QueueOut]:
    """Named queues of the environment, newest first, with their partitions and lengths."""
    handles = await Queue.objects.list.aio(environment_name=env, max_objects=limit)
    return [await describe(q, env) for q in handles]


@router.post("/{name}", summary="Create a queue", status_code=201, responses={200: {"model": Created}})
async def create_queue(name: Name, env: Env, response: Response) -> Created:
    """Create a named queue: 201, or 200 with ``created: false`` if it already existed."""
    try:
        await Queue.objects.create.aio(name, environment_name=env)
    except AlreadyExistsError:
        response.status_code = 200
        return Created(name=name, created=False)
    return Created(name=name, created=True)


@router.get("/{name}", summary="Describe a queue")
async def get_queue(name: Name, env: Env) -> QueueOut:
    """The queue's id, creation, total length and live partitions."""
    q = _queue(name, env)
    await q.hydrate.aio()
    return await describe(q, env)


@router.delete("/{name}", summary="Delete a queue")
async def delete_queue(name: Name, env: Env) -> Ok:
    """Delete the queue and all its items (irreversible)."""
    await Queue.objects.delete.aio(name, environment_name=env)
    return Ok()


@router.post(
    "/{name}/put",
    summary="Put one item",
    responses={**PICKLE_RESPONSES, 409: {"description": "The partition stayed full."}},
    openapi_extra=json_body(PutBody, "The value (or a raw pickle of it, with --allow-pickle)."),
)
async def put(
    request: Request,
    name: Name,
    env: Env,
    partition: Partition = None,
    partition_ttl: PartitionTTL = 24 * 3600,
    timeout: Timeout = 0,
) -> Ok:
    """Append a value; wait up to ``timeout`` s for room when the partition is full (then 409)."""
    body = await read_body(request, PutBody)
    value = body.value if isinstance(body, PutBody) else body
    await _put_many(request, name, env, [value], partition, partition_ttl, timeout)
    return Ok()


@router.post(
    "/{name}/put_many",
    summary="Put several items",
    responses={**PICKLE_RESPONSES, 409: {"description": "The partition stayed full."}},
    openapi_extra=json_body(PutManyBody, "The values (or a raw pickle of a list, with --allow-pickle)."),
)
async def put_many(
    request: Request,
    name: Name,
    env: Env,
    partition: Partition = None,
    partition_ttl: PartitionTTL = 24 * 3600,
    timeout: Timeout = 0,
) -> Ok:
    """Append values all or nothing; wait up to ``timeout`` s for room (then 409)."""
    body = await read_body(request, PutManyBody)
    values = body.values if isinstance(body, PutManyBody) else body
    if not isinstance(values, list):
        raise InvalidError("put_many takes a list of values.")
    await _put_many(request, name, env, values, partition, partition_ttl, timeout)
    return Ok()


async def _put_many(
    request: Request,
    name: str,
    env: str,
    values: list[Any],
    partition: str | None,
    ttl: float,
    timeout: float,
) -> None:
    q = _queue(name, env)
    wait = max_wait(request, timeout)
    await q.put_many.aio(values, wait > 0, wait if wait > 0 else None, partition=partition, partition_ttl=ttl)


@router.post(
    "/{name}/get",
    summary="Get one item",
    responses={
        **PICKLE_RESPONSES,
        200: {"model": ValueOut, "content": {"application/x-python-pickle": {}}},
        204: {"description": "Nothing arrived within the timeout."},
    },
    response_model=ValueOut,
)
async def get(
    request: Request, name: Name, env: Env, partition: Partition = None, timeout: Timeout = 0
) -> Response:
    """Remove and return the oldest item, waiting up to ``timeout`` s; 204 if none came."""
    pickled = wants_pickle(request)
    items = await _get(request, name, env, 1, partition, timeout)
    if isinstance(items, Response):
        return items
    if not items:
        return Response(status_code=204)
    if pickled:
        return pickle_response(items[0])
    return JSONResponse({"value": jsonable(items[0])})


@router.post(
    "/{name}/get_many",
    summary="Get several items",
    responses={**PICKLE_RESPONSES, 200: {"model": ValuesOut, "content": {"application/x-python-pickle": {}}}},
    response_model=ValuesOut,
)
async def get_many(
    request: Request,
    name: Name,
    env: Env,
    n: Annotated[int, Query(ge=1, le=5000, description="Up to this many items.")] = 1,
    partition: Partition = None,
    timeout: Timeout = 0,
) -> Response:
    """Remove and return up to ``n`` items, waiting up to ``timeout`` s for the first one."""
    pickled = wants_pickle(request)
    items = await _get(request, name, env, n, partition, timeout)
    if isinstance(items, Response):
        return items
    if pickled:
        return pickle_response(items)
    return JSONResponse({"values": jsonable(items)})


async def _get(
    request: Request, name: str, env: str, n: int, partition: str | None, timeout: float
) -> list[Any] | Response:
    q = _queue(name, env)
    await q.hydrate.aio()  # a missing queue is a 404 at once, not after the wait
    wait = max_wait(request, timeout)

    async def take() -> list[Any]:
        if wait <= 0:
            return await q.get_many.aio(n, block=False, partition=partition)
        try:
            return await q.get_many.aio(n, timeout=wait, partition=partition)
        except stdlib_queue.Empty:
            return []

    return await unless_disconnected(request, take())


@router.get("/{name}/len", summary="Count items")
async def length(
    name: Name,
    env: Env,
    partition: Partition = None,
    total: Annotated[bool, Query(description="Count every partition.")] = False,
) -> LenOut:
    """Items in the partition (default partition if omitted), or in all with ``total=true``."""
    return LenOut(len=await _queue(name, env).len.aio(partition=partition, total=total))


@router.post("/{name}/clear", summary="Clear items")
async def clear(
    name: Name,
    env: Env,
    partition: Partition = None,
    all: Annotated[bool, Query(description="Clear every partition.")] = False,
) -> Ok:
    """Remove every item of the partition, or of all partitions with ``all=true``."""
    await _queue(name, env).clear.aio(partition=partition, all=all)
    return Ok()


@router.get("/{name}/partitions", summary="List partitions")
async def partitions(name: Name, env: Env) -> list[PartitionOut]:
    """Live partitions with their lengths and expiry times (Unix seconds)."""
    parts = await _queue(name, env).partitions.aio()
    return [PartitionOut(key=k, length=n, expires_at=t.timestamp()) for k, n, t in parts]


@router.get("/{name}/peek", summary="Peek at items")
async def peek(
    name: Name,
    env: Env,
    n: Annotated[int, Query(ge=1, le=1000, description="How many items to show.")] = 10,
    partition: Partition = None,
) -> ValuesOut:
    """The next ``n`` items of the partition, oldest first, without removing them."""
    items: list[Any] = []
    iterator = cast(AsyncGenerator[Any, None], _queue(name, env).iterate.aio(partition=partition))
    async with contextlib.aclosing(iterator) as it:
        async for item in it:
            items.append(item)
            if len(items) >= n:
                break
    return ValuesOut(values=jsonable(items))
