"""Modal's FunctionCall RPCs over chute's job ops: outputs, ``from_id`` metadata, cancel.

``FunctionGetOutputs`` serves two clients:

- ``FunctionCall.get(timeout=, index=)`` (and ``.remote()``'s wait, and ``iter`` over a
  ``spawn_map``): the outputs of inputs ``start_idx..end_idx``, waiting up to ``timeout`` for
  one. A pending call gives no output and ``num_unfinished_inputs`` > 0 (the client raises
  ``TimeoutError``); an expired one gives neither (``OutputExpiredError``).
- a running ``map``: the outputs of its inputs as they finish, each delivered once, oldest
  inputs read first, with ``last_entry_id`` counting deliveries so that a lost response is
  sent again.

Outputs are the workers' own pickles (return value, or exception with the remote traceback
as a note), checked against CHUTE_SECRET and never unpickled here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from google.protobuf import empty_pb2
from modal_proto import api_pb2

from chute._async import call_ops
from chute._jobs import CallRef
from chute.backends.types import CallRecord
from chute.exception import InvalidError, NotFoundError
from chute.modal_server._functions import (
    FunctionKey,
    MapState,
    expired_result,
    generic_result,
    map_input_id,
    output_item,
)
from chute.modal_server._rpc import ServicerBase, _seconds, _time_left, _unary

if TYPE_CHECKING:
    from grpclib.server import Stream

# Longest server-side wait of one FunctionGetOutputs (the modal client asks for at most 55 s).
MAX_OUTPUTS_WAIT = 55.0
# Undelivered inputs of a map read per poll, oldest first: calls are claimed oldest first, so
# the ones that finished are among them (the rest are read once these are delivered).
MAP_SCAN = 256
# Output bytes per response beyond the first output (more wait for the next poll).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Inputs one index-range request may ask for (the client asks for at most 49).
MAX_INDEX_RANGE = 1000


class CallRPCs(ServicerBase):
    """``FunctionGetOutputs``, ``FunctionCallFromId``, ``FunctionCallCancel``."""

    async def _read(self, call_id: str) -> CallRecord | None:
        return (await call_ops.wait_any([self._call(call_id)], 0))[0]

    def _call(self, call_id: str) -> CallRef:
        return CallRef(call_id, self._client)

    async def FunctionGetOutputs(
        self, stream: Stream[api_pb2.FunctionGetOutputsRequest, api_pb2.FunctionGetOutputsResponse]
    ) -> None:
        time_left = _time_left(stream)
        await _unary(stream, "FunctionGetOutputs", lambda r: self._function_get_outputs(r, time_left))

    async def _function_get_outputs(
        self, request: api_pb2.FunctionGetOutputsRequest, time_left: float
    ) -> api_pb2.FunctionGetOutputsResponse:
        call_id = self._call_id(request.function_call_id)
        wait = min(_seconds(request.timeout, MAX_OUTPUTS_WAIT), time_left)
        state = self._maps.get(call_id)
        if state is None and request.input_jwts:
            state = self._recover_map(call_id, request.input_jwts)
        if state is not None:
            if request.clear_on_success:  # the map's last request: it has every output it wants
                self._maps.pop(call_id, None)
                return api_pb2.FunctionGetOutputsResponse()
            return await self._map_outputs(state, request.last_entry_id, wait)
        return await self._indexed_outputs(call_id, request, wait)

    # -- FunctionCall.get / iter / remote -------------------------------------------------------

    async def _indexed_outputs(
        self, call_id: str, request: api_pb2.FunctionGetOutputsRequest, wait: float
    ) -> api_pb2.FunctionGetOutputsResponse:
        start, end = request.start_idx, max(request.end_idx, request.start_idx)
        if start < 0 or end - start >= MAX_INDEX_RANGE:
            raise InvalidError(f"Invalid output index range {start}..{end}.")
        own = await self._read(call_id)
        if own is not None:  # spawn/remote: the call is its own (only) input
            if start != 0:
                raise InvalidError(f"Function call {call_id} has one input: index {start} is out of range.")
            inputs = [(0, call_id)]
            records = [own] if own.state.terminal else await self._wait(inputs, wait)
        else:
            inputs = [(i, map_input_id(call_id, i)) for i in range(start, end + 1)]
            records = await self._wait(inputs, wait)
            if all(r is None for r in records):
                if request.clear_on_success:  # a map's goodbye after this server forgot the map
                    return api_pb2.FunctionGetOutputsResponse()
                raise NotFoundError(f"Function call {call_id} not found (never existed, or long expired).")
        outputs, unfinished = [], 0
        secret = self._settings.secret
        for (idx, input_id), record in zip(inputs, records, strict=True):
            if record is None:
                continue
            if not record.state.terminal:
                unfinished += 1
                continue
            result = generic_result(record, secret)
            if result is not None:  # expired: no output, and not unfinished
                outputs.append(output_item(idx, input_id, result))
        return api_pb2.FunctionGetOutputsResponse(
            outputs=outputs, num_unfinished_inputs=unfinished, last_entry_id="0-0"
        )

    async def _wait(self, inputs: list[tuple[int, str]], wait: float) -> list[CallRecord | None]:
        return await call_ops.wait_any([self._call(c) for _, c in inputs], wait)

    # -- map ----------------------------------------------------------------------------------------

    def _recover_map(self, call_id: str, input_jwts: list[str]) -> MapState | None:
        """A map this server does not know (it restarted): the client lists the inputs it waits for."""
        state = MapState()
        for jwt in input_jwts:
            idx_text, _, input_id = jwt.partition(":")
            if not idx_text.isdigit() or map_input_id(call_id, int(idx_text)) != input_id:
                return None  # not this server's map
            state.add(int(idx_text), input_id)
        return self._remember_map(call_id, state)

    async def _map_outputs(
        self, state: MapState, last_entry_id: str, wait: float
    ) -> api_pb2.FunctionGetOutputsResponse:
        try:
            cursor = int(last_entry_id.split("-")[0] or 0)
        except ValueError:
            raise InvalidError(f"Invalid last_entry_id {last_entry_id!r}.") from None
        again = state.ack(cursor)
        if again:  # the previous response was lost on the way: send it again
            records = await self._wait(again, 0)
            outputs = [self._output(idx, c, r) for (idx, c), r in zip(again, records, strict=True)]
            return self._map_response(state, outputs)
        if not state.pending and wait > 0:
            state.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.arrived.wait(), wait)
        window = sorted(state.pending)[:MAP_SCAN]
        records = await self._wait([(i, state.pending[i]) for i in window], wait)
        outputs, size = [], 0
        for idx, record in zip(window, records, strict=True):
            if record is not None and not record.state.terminal:
                continue
            output = self._output(idx, state.deliver(idx), record)
            outputs.append(output)
            size += len(output.result.data)
            if size > MAX_RESPONSE_BYTES:
                break
        return self._map_response(state, outputs)

    def _output(self, idx: int, call_id: str, record: CallRecord | None) -> api_pb2.FunctionGetOutputsItem:
        result = None if record is None else generic_result(record, self._settings.secret)
        return output_item(idx, call_id, result or expired_result(call_id))

    @staticmethod
    def _map_response(
        state: MapState, outputs: list[api_pb2.FunctionGetOutputsItem]
    ) -> api_pb2.FunctionGetOutputsResponse:
        return api_pb2.FunctionGetOutputsResponse(
            outputs=outputs, last_entry_id=str(state.delivered), num_unfinished_inputs=len(state.pending)
        )

    # -- from_id, cancel ----------------------------------------------------------------------------

    async def _count_inputs(self, call_id: str) -> int:
        """How many inputs a map call has: its inputs are ``map_input_id(call_id, 0..n-1)``."""

        async def exists(i: int) -> bool:
            return await self._read(map_input_id(call_id, i)) is not None

        if not await exists(0):
            return 0
        low, high = 0, 1  # input `low` exists; find the first missing one at or below `high`
        while await exists(high):
            low, high = high, high * 2
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if await exists(mid) else (low, mid)
        return high

    async def FunctionCallFromId(
        self, stream: Stream[api_pb2.FunctionCallFromIdRequest, api_pb2.FunctionCallFromIdResponse]
    ) -> None:
        await _unary(stream, "FunctionCallFromId", self._function_call_from_id)

    async def _function_call_from_id(
        self, request: api_pb2.FunctionCallFromIdRequest
    ) -> api_pb2.FunctionCallFromIdResponse:
        call_id = self._call_id(request.function_call_id)
        record = await self._read(call_id)
        num_inputs = 1
        if record is None:
            num_inputs = await self._count_inputs(call_id)
            record = await self._read(map_input_id(call_id, 0)) if num_inputs else None
        if record is None:
            raise NotFoundError(f"Function call {call_id} not found (never existed, or long expired).")
        function_id = FunctionKey(record.env, record.app, record.function).id
        return api_pb2.FunctionCallFromIdResponse(
            function_call_id=call_id,
            num_inputs=num_inputs,
            metadata=api_pb2.FunctionCallHandleMetadata(function_id=function_id),
        )

    async def FunctionCallCancel(
        self, stream: Stream[api_pb2.FunctionCallCancelRequest, empty_pb2.Empty]
    ) -> None:
        await _unary(stream, "FunctionCallCancel", self._function_call_cancel)

    async def _function_call_cancel(self, request: api_pb2.FunctionCallCancelRequest) -> empty_pb2.Empty:
        """Pending inputs never run, running ones are killed within a lease renewal; finished
        ones keep their results. chute always kills the process running a cancelled call."""
        call_id = self._call_id(request.function_call_id)
        if await self._read(call_id) is not None:
            await call_ops.cancel(self._call(call_id))
            return empty_pb2.Empty()
        state = self._maps.get(call_id)
        if state is not None:
            inputs = list(state.pending.values())
        else:
            inputs = [map_input_id(call_id, i) for i in range(await self._count_inputs(call_id))]
            if not inputs:
                raise NotFoundError(f"Function call {call_id} not found (never existed, or long expired).")
        for input_id in inputs:
            with contextlib.suppress(NotFoundError):
                await call_ops.cancel(self._call(input_id))
        return empty_pb2.Empty()
