"""Modal's Function RPCs for lookups and submissions, over chute's job ops (``chute._async.call_ops``).

``Function.from_name``/``Cls.from_name`` (FunctionGet, ClassGet, FunctionBindParams) find
functions deployed with ``chute deploy``; ``spawn``/``remote`` (FunctionMap with one pipelined
input) and ``map``/``spawn_map`` (FunctionMap, FunctionPutInputs, FunctionFinishInputs) submit
chute calls. The arguments the modal client pickled are stored as they are, sealed (signed with
CHUTE_SECRET when set): the worker unpickles them, the server never does. chute's workers retry
failed attempts themselves, so the client is told not to (``sync_client_retries_enabled``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from google.protobuf import empty_pb2
from modal_proto import api_pb2

from chute import _outcome
from chute._async import call_ops, inspection
from chute._jobs import FunctionRef, FunctionSpec
from chute.exception import InvalidError, NotFoundError
from chute.modal_server._functions import (
    SERVICE_SUFFIX,
    Deployed,
    FunctionKey,
    MapState,
    class_id,
    function_data,
    handle_metadata,
    map_input_id,
)
from chute.modal_server._payload import seal
from chute.modal_server._rpc import ServicerBase, _too_large, _unary

if TYPE_CHECKING:
    from grpclib.server import Stream

# How long a looked-up deployment is trusted before it is read again (a redeploy may change
# the result TTL, or remove the function).
FUNCTION_CACHE_SECONDS = 5.0
# Inputs a map client may have submitted and not yet received (Modal's default is 1000).
MAX_INPUTS_OUTSTANDING = 1000
# A map's inputs submitted at once (per FunctionPutInputs request).
SUBMIT_CONCURRENCY = 32
_SYNC = (api_pb2.FUNCTION_CALL_INVOCATION_TYPE_SYNC, api_pb2.FUNCTION_CALL_INVOCATION_TYPE_SYNC_LEGACY)


class FunctionRPCs(ServicerBase):
    """``FunctionGet``, ``FunctionGetById``, ``ClassGet``, ``FunctionBindParams``, ``FunctionMap``,
    ``FunctionPutInputs``, ``FunctionFinishInputs``, ``FunctionGetCurrentStats``, ``BlobCreate``."""

    # -- lookups -----------------------------------------------------------------------------

    async def _deployed(self, key: FunctionKey) -> list[Deployed]:
        """The function ``key`` names, or the methods of the class it names (NotFoundError if none)."""
        records = await inspection.deployed(self._client, key.env, key.app)
        if key.is_class:
            prefix = key.class_name + "."
            found = [Deployed.of(r) for r in records if r.name.startswith(prefix)]
            what = f"Class {key.class_name!r}"
        else:
            found = [Deployed.of(r) for r in records if r.name == key.name]
            what = f"Function {key.name!r}"
            if not found and any(r.name.startswith(key.name + ".") for r in records):
                lookup = f"modal.Cls.from_name({key.app!r}, {key.name!r})"
                raise NotFoundError(f"{what} of app {key.app!r} is a class: use {lookup}")
        if not found:
            names = sorted({r.name.split(".")[0] for r in records})
            raise NotFoundError(
                f"{what} not found in app {key.app!r} of environment {key.env!r}: deploy it with "
                f"`chute deploy <file.py>` (deployed in that app: {names or 'nothing'})"
            )
        return found

    def _max_bytes(self) -> int:
        # The sealed payload adds a header (1 byte, or 33 when signed) to the client's pickle.
        return max(self._settings.limits.max_value_bytes - 33, 0)

    def _function_key(self, app_name: str, tag: str, environment_name: str) -> FunctionKey:
        key = FunctionKey(self._env(environment_name), app_name, tag)
        return FunctionKey.parse(key.id)  # validates the names (NotFoundError for bad ones)

    async def FunctionGet(
        self, stream: Stream[api_pb2.FunctionGetRequest, api_pb2.FunctionGetResponse]
    ) -> None:
        await _unary(stream, "FunctionGet", self._function_get)

    async def _function_get(self, request: api_pb2.FunctionGetRequest) -> api_pb2.FunctionGetResponse:
        key = self._function_key(request.app_name, request.object_tag, request.environment_name)
        functions = await self._deployed(key)
        return api_pb2.FunctionGetResponse(
            function_id=key.id,
            handle_metadata=handle_metadata(key, functions, self._max_bytes()),
            function=function_data(key, functions),
        )

    async def FunctionGetById(
        self, stream: Stream[api_pb2.FunctionGetByIdRequest, api_pb2.FunctionGetByIdResponse]
    ) -> None:
        await _unary(stream, "FunctionGetById", self._function_get_by_id)

    async def _function_get_by_id(
        self, request: api_pb2.FunctionGetByIdRequest
    ) -> api_pb2.FunctionGetByIdResponse:
        key = FunctionKey.parse(request.function_id)
        functions = await self._deployed(key)
        return api_pb2.FunctionGetByIdResponse(
            handle_metadata=handle_metadata(key, functions, self._max_bytes()),
            function=function_data(key, functions),
        )

    async def ClassGet(self, stream: Stream[api_pb2.ClassGetRequest, api_pb2.ClassGetResponse]) -> None:
        await _unary(stream, "ClassGet", self._class_get)

    async def _class_get(self, request: api_pb2.ClassGetRequest) -> api_pb2.ClassGetResponse:
        key = self._function_key(
            request.app_name, request.object_tag + SERVICE_SUFFIX, request.environment_name
        )
        functions = await self._deployed(key)
        meta = handle_metadata(key, functions, self._max_bytes())
        methods = [
            api_pb2.ClassMethod(function_name=name, function_id=key.id, function_handle_metadata=method)
            for name, method in meta.method_handle_metadata.items()
        ]
        return api_pb2.ClassGetResponse(
            class_id=class_id(key.env, key.app, key.class_name),
            handle_metadata=api_pb2.ClassHandleMetadata(
                methods=methods, class_function_id=key.id, class_function_metadata=meta
            ),
        )

    async def FunctionBindParams(
        self, stream: Stream[api_pb2.FunctionBindParamsRequest, api_pb2.FunctionBindParamsResponse]
    ) -> None:
        await _unary(stream, "FunctionBindParams", self._function_bind_params)

    async def _function_bind_params(
        self, request: api_pb2.FunctionBindParamsRequest
    ) -> api_pb2.FunctionBindParamsResponse:
        """A class instance (``Model(name="a")``): its parameters go into the id, pickled as the
        client sent them. Options (``with_options``) are accepted and not applied: a chute
        function runs with the options it was deployed with."""
        key = FunctionKey.parse(request.function_id)
        if key.params is not None:
            raise InvalidError(f"{key.label} is already bound to parameters.")
        if request.serialized_params and not key.is_class:
            raise InvalidError(f"Function {key.label} is not a class: it takes no parameters.")
        bound = key.bound(request.serialized_params) if key.is_class else key
        functions = await self._deployed(key)
        return api_pb2.FunctionBindParamsResponse(
            bound_function_id=bound.id, handle_metadata=handle_metadata(key, functions, self._max_bytes())
        )

    async def FunctionGetCurrentStats(
        self, stream: Stream[api_pb2.FunctionGetCurrentStatsRequest, api_pb2.FunctionStats]
    ) -> None:
        await _unary(stream, "FunctionGetCurrentStats", self._function_get_current_stats)

    async def _function_get_current_stats(
        self, request: api_pb2.FunctionGetCurrentStatsRequest
    ) -> api_pb2.FunctionStats:
        """Backlog = pending calls; runners and running inputs = calls running now (an executor
        runs one call at a time); headroom = ``max_containers`` minus those."""
        key = FunctionKey.parse(request.function_id)
        backlog = running = headroom = 0
        for f in await self._deployed(key):
            stats = await inspection.function_stats(self._client, key.env, key.app, f.name)
            backlog += stats.pending
            running += stats.running
            headroom += max(f.spec.max_containers - stats.running, 0)
        return api_pb2.FunctionStats(
            backlog=backlog, num_total_tasks=running, num_running_inputs=running, input_headroom=headroom
        )

    async def BlobCreate(self, stream: Stream[api_pb2.BlobCreateRequest, api_pb2.BlobCreateResponse]) -> None:
        await _unary(stream, "BlobCreate", self._blob_create)

    async def _blob_create(self, request: api_pb2.BlobCreateRequest) -> api_pb2.BlobCreateResponse:
        # The modal client uploads arguments over the limit the function handle announced.
        limit = self._max_bytes()
        raise _too_large("Function call", request.content_length, limit, "CHUTE_MAX_VALUE_BYTES")

    # -- submissions ---------------------------------------------------------------------------

    async def _function_ref(self, key: FunctionKey, name: str) -> FunctionRef:
        """A checked reference to the deployed chute function ``name``, cached a few seconds."""
        cache_key = (key.env, key.app, name)
        now = time.monotonic()
        hit = self._function_refs.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        ref = FunctionRef(key.app, name, FunctionSpec(), key.env, checked=False, pinned_client=self._client)
        try:
            await call_ops.ensure_deployed(ref)
        except NotFoundError:
            self._function_refs.pop(cache_key, None)
            raise
        if len(self._function_refs) > 10_000:
            self._function_refs.clear()
        self._function_refs[cache_key] = (now + FUNCTION_CACHE_SECONDS, ref)
        return ref

    def _payload(self, key: FunctionKey, item: api_pb2.FunctionPutInputsItem) -> bytes:
        data = item.input
        if data.args_blob_id:
            raise InvalidError("Arguments in blob storage are not supported by chute's modal-server.")
        if data.data_format not in (api_pb2.DATA_FORMAT_UNSPECIFIED, api_pb2.DATA_FORMAT_PICKLE):
            raise InvalidError(
                "chute's workers take pickled arguments: unset MODAL_PAYLOAD_FORMAT (CBOR is not supported)."
            )
        body = _outcome.bind_method_args(key.params, data.args) if key.is_class else data.args
        return seal(body, self._settings.secret)

    async def _submit(
        self, key: FunctionKey, item: api_pb2.FunctionPutInputsItem, call_id: str | None = None
    ) -> api_pb2.FunctionPutInputsResponseItem:
        ref = await self._function_ref(key, key.method(item.input.method_name))
        payload = self._payload(key, item)
        # A map's input has an id derived from the map's: sent twice (a retried request), it
        # is submitted once.
        call = await call_ops.submit_payload(ref, payload, call_id=call_id, idempotency_key=call_id)
        return api_pb2.FunctionPutInputsResponseItem(
            idx=item.idx, input_id=call.id, input_jwt=f"{item.idx}:{call.id}"
        )

    async def FunctionMap(
        self, stream: Stream[api_pb2.FunctionMapRequest, api_pb2.FunctionMapResponse]
    ) -> None:
        await _unary(stream, "FunctionMap", self._function_map)

    async def _function_map(self, request: api_pb2.FunctionMapRequest) -> api_pb2.FunctionMapResponse:
        """``spawn``/``remote``: one pipelined input, which is the call. ``map``/``spawn_map``:
        a map call whose inputs come with FunctionPutInputs."""
        key = FunctionKey.parse(request.function_id)
        reply = api_pb2.FunctionMapResponse(
            sync_client_retries_enabled=False,
            max_inputs_outstanding=MAX_INPUTS_OUTSTANDING,
            retry_policy=api_pb2.FunctionRetryPolicy(retries=0),
        )
        if request.function_call_type == api_pb2.FUNCTION_CALL_TYPE_UNARY:
            if len(request.pipelined_inputs) != 1:
                raise InvalidError("A unary function call takes exactly one pipelined input.")
            item = await self._submit(key, request.pipelined_inputs[0])
            reply.function_call_id = reply.function_call_jwt = item.input_id
            reply.pipelined_inputs.append(item)
            return reply
        await self._deployed(key)  # fail at once for a function that is not deployed
        map_id = _outcome.new_call_id()
        reply.function_call_id = reply.function_call_jwt = map_id
        if request.function_call_invocation_type in _SYNC:
            self._remember_map(map_id, MapState())
        reply.pipelined_inputs.extend(await self._put_inputs(key, map_id, request.pipelined_inputs))
        return reply

    async def _put_inputs(
        self, key: FunctionKey, map_id: str, items: Sequence[api_pb2.FunctionPutInputsItem]
    ) -> list[api_pb2.FunctionPutInputsResponseItem]:
        """Submit a map's inputs, a few at a time (the client waits for this answer before it
        sends more, and a Redis backend answers concurrent submits in one round trip)."""
        for name in {key.method(item.input.method_name) for item in items}:
            await self._function_ref(key, name)  # looked up once, before the concurrent submits
        done: list[api_pb2.FunctionPutInputsResponseItem] = []
        for start in range(0, len(items), SUBMIT_CONCURRENCY):
            chunk = items[start : start + SUBMIT_CONCURRENCY]
            done += await asyncio.gather(
                *(self._submit(key, item, map_input_id(map_id, item.idx)) for item in chunk)
            )
        state = self._maps.get(map_id)
        if state is not None:
            for item in done:
                state.add(item.idx, item.input_id)
        return done

    async def FunctionPutInputs(
        self, stream: Stream[api_pb2.FunctionPutInputsRequest, api_pb2.FunctionPutInputsResponse]
    ) -> None:
        await _unary(stream, "FunctionPutInputs", self._function_put_inputs)

    async def _function_put_inputs(
        self, request: api_pb2.FunctionPutInputsRequest
    ) -> api_pb2.FunctionPutInputsResponse:
        key = FunctionKey.parse(request.function_id)
        map_id = self._call_id(request.function_call_id)
        inputs = await self._put_inputs(key, map_id, request.inputs)
        return api_pb2.FunctionPutInputsResponse(inputs=inputs)

    async def FunctionFinishInputs(
        self, stream: Stream[api_pb2.FunctionFinishInputsRequest, empty_pb2.Empty]
    ) -> None:
        await _unary(stream, "FunctionFinishInputs", self._function_finish_inputs)

    async def _function_finish_inputs(self, request: api_pb2.FunctionFinishInputsRequest) -> empty_pb2.Empty:
        # ``spawn_map``'s last word: nothing to record (the inputs are the calls map_input_id names).
        FunctionKey.parse(request.function_id)
        self._call_id(request.function_call_id)
        return empty_pb2.Empty()
