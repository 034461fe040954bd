"""``/dicts``: create, list, delete, get/put/delete a key, items (paginated), len, clear.

Keys are strings over HTTP (``d["k"]`` in Python). Listings show other keys, put there by
Python clients, as their repr() and cannot address them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from chute import _serialize
from chute._async import dict_ops
from chute._client import Client
from chute._ref import ObjectRef
from chute.backends.types import Kind
from chute.dict import Dict
from chute.exception import AlreadyExistsError, InvalidError
from chute.http.common import PICKLE_RESPONSES, RESPONSES, Env, ErrorBody, Name, Ok
from chute.http.payload import json_body, jsonable, key_text, read_body, value_response, wants_pickle

router = APIRouter(prefix="/dicts", tags=["dicts"], responses=RESPONSES)

Key = Annotated[str, Path(description="The key (a str; may contain '/').")]
_MISSING: Any = object()


class DictOut(BaseModel):
    """A named dict and its size."""

    name: str
    id: str
    env: str
    created_at: float
    created_by: str | None
    len: int


class Created(BaseModel):
    """Result of a create: ``created`` is false when it already existed."""

    name: str
    created: bool


class PutBody(BaseModel):
    """The JSON value to store."""

    model_config = ConfigDict(extra="forbid")
    value: Any


class Written(BaseModel):
    """Whether the value was stored (false: ``skip_if_exists`` found the key)."""

    written: bool


class ValueOut(BaseModel):
    """A stored value."""

    value: Any


class ItemOut(BaseModel):
    """One entry. ``key`` is the str key, or repr() of a non-str key (``key_type`` says which);
    ``error`` is set instead of ``value`` when the value cannot be decoded in the server."""

    key: str
    key_type: str
    value: Any = None
    error: str | None = None


class ItemsPage(BaseModel):
    """A page of entries in storage order; pass ``next`` as ``cursor`` for the following page."""

    items: list[ItemOut]
    next: str | None


class LenOut(BaseModel):
    """Number of entries."""

    len: int


def _dict(name: str, env: str) -> Dict:
    return Dict.from_name(name, environment_name=env)


async def describe(d: Dict, env: str) -> DictOut:
    """A hydrated dict as ``DictOut``."""
    meta = await d.info.aio()
    return DictOut(
        name=d.name or "",
        id=d.object_id,
        env=env,
        created_at=meta.created_at.timestamp(),
        created_by=meta.created_by,
        len=await d.len.aio(),
    )


@router.get("", summary="List dicts")
async def list_dicts(
    env: Env,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first.")] = 100,
) -> list[DictOut]:
    """Named dicts of the environment, newest first, with their sizes."""
    handles = await Dict.objects.list.aio(environment_name=env, max_objects=limit)
    return [await describe(d, env) for d in handles]


@router.post("/{name}", summary="Create a dict", status_code=201, responses={200: {"model": Created}})
async def create_dict(name: Name, env: Env, response: Response) -> Created:
    """Create a named dict: 201, or 200 with ``created: false`` if it already existed."""
    try:
        await Dict.objects.create.aio(name, environment_name=env)
    except AlreadyExistsError:
        response.status_code = 200
        return Created(name=name, created=False)
    return Created(name=name, created=True)


@router.get("/{name}", summary="Describe a dict")
async def get_dict(name: Name, env: Env) -> DictOut:
    """The dict's id, creation and size."""
    d = _dict(name, env)
    await d.hydrate.aio()
    return await describe(d, env)


@router.delete("/{name}", summary="Delete a dict")
async def delete_dict(name: Name, env: Env) -> Ok:
    """Delete the dict and all its entries (irreversible)."""
    await Dict.objects.delete.aio(name, environment_name=env)
    return Ok()


@router.get("/{name}/len", summary="Count entries")
async def length(name: Name, env: Env) -> LenOut:
    """The exact number of entries."""
    return LenOut(len=await _dict(name, env).len.aio())


@router.post("/{name}/clear", summary="Clear a dict")
async def clear(name: Name, env: Env) -> Ok:
    """Remove every entry; the dict itself remains."""
    await _dict(name, env).clear.aio()
    return Ok()


@router.get("/{name}/items", summary="Page through entries")
async def items(
    name: Name,
    env: Env,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=4096, description="``next`` of the previous page.")
    ] = None,
) -> ItemsPage:
    """Entries a page at a time. Every key present for the whole scan is seen exactly once."""
    after = _decode_cursor(cursor)
    client = Client.from_env()
    page = await dict_ops.page(ObjectRef.of(Kind.DICT, client, name=name, env=env), after, limit)
    secret = client.settings.secret
    out = []
    for kb, vb in page:
        try:
            key = _serialize.loads(kb, secret, what="a dict key")
            item = ItemOut(key=key_text(key), key_type=type(key).__name__)
        except Exception as exc:
            out.append(ItemOut(key="?", key_type="?", error=f"{type(exc).__name__}: {exc}"))
            continue
        try:
            item.value = jsonable(_serialize.loads(vb, secret, what=f"the value of {item.key!r}"))
        except Exception as exc:
            item.error = f"{type(exc).__name__}: {exc}"
        out.append(item)
    nxt = base64.urlsafe_b64encode(page[-1][0]).decode() if len(page) == limit else None
    return ItemsPage(items=out, next=nxt)


def _decode_cursor(cursor: str | None) -> bytes | None:
    if cursor is None:
        return None
    try:
        return base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidError("Invalid cursor: pass the 'next' value of the previous page.") from None


@router.get(
    "/{name}/keys/{key:path}",
    summary="Get a value",
    responses={**PICKLE_RESPONSES, 200: {"model": ValueOut, "content": {"application/x-python-pickle": {}}}},
    response_model=ValueOut,
)
async def get_key(request: Request, name: Name, key: Key, env: Env) -> Response:
    """The value stored under ``key``; 404 (type KeyError) if absent."""
    pickled = wants_pickle(request)
    value = await _dict(name, env).get.aio(key, _MISSING)
    if value is _MISSING:
        return _key_missing(key)
    return value_response(value, pickled)


@router.put(
    "/{name}/keys/{key:path}",
    summary="Put a value",
    responses=PICKLE_RESPONSES,
    openapi_extra=json_body(PutBody, "The value (or a raw pickle of it, with --allow-pickle)."),
)
async def put_key(
    request: Request,
    name: Name,
    key: Key,
    env: Env,
    skip_if_exists: Annotated[bool, Query(description="Store only if the key is absent.")] = False,
) -> Written:
    """Store a value under ``key``; with ``skip_if_exists`` only if absent (atomic)."""
    body = await read_body(request, PutBody)
    value = body.value if isinstance(body, PutBody) else body
    return Written(written=await _dict(name, env).put.aio(key, value, skip_if_exists=skip_if_exists))


@router.delete(
    "/{name}/keys/{key:path}",
    summary="Pop a value",
    responses={**PICKLE_RESPONSES, 200: {"model": ValueOut, "content": {"application/x-python-pickle": {}}}},
    response_model=ValueOut,
)
async def delete_key(request: Request, name: Name, key: Key, env: Env) -> Response:
    """Remove ``key`` and return its value; 404 (type KeyError) if absent."""
    pickled = wants_pickle(request)
    value = await _dict(name, env).pop.aio(key, _MISSING)
    if value is _MISSING:
        return _key_missing(key)
    return value_response(value, pickled)


def _key_missing(key: str) -> Response:
    body = ErrorBody(detail=f"Key {key!r} not found.", type="KeyError")
    return Response(body.model_dump_json(), status_code=404, media_type="application/json")
