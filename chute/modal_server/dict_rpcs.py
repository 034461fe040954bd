"""Modal's Dict RPCs over chute's dict ops (``chute._async.dict_ops``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2
from modal_proto import api_pb2

from chute._async import dict_ops
from chute._ref import ObjectRef
from chute.backends.types import Kind
from chute.exception import InvalidError
from chute.modal_server._payload import seal, store_key, unseal
from chute.modal_server._rpc import (
    ServicerBase,
    _dict_metadata,
    _request,
    _too_large,
    _unary,
    grpc_errors,
)

if TYPE_CHECKING:
    from grpclib.server import Stream


class DictRPCs(ServicerBase):
    """``Dict*`` RPCs: get-or-create, by id, heartbeat, delete, list, update, get, contains, pop,
    len, clear, contents."""

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
