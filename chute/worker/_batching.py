"""``@batched`` inside an executor: group queued inputs into one invocation with lists.

A batch goes out when ``max_batch_size`` inputs are queued, or ``wait_ms`` after its oldest
input arrived, whichever is first, as soon as fewer than ``max_inputs`` batches are running.
Each input's arguments are bound to the function's parameters; the function gets one list
per parameter and must return a list of the batch's length. Output *i* goes to input *i*;
an exception (or a malformed return) fails every input of the batch with it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from chute import _outcome
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.worker._executor import Done, LoopServer


class Batcher:
    def __init__(self, server: LoopServer, max_size: int, wait_s: float, max_running: int) -> None:
        self._server = server
        self._max_size, self._wait, self._max_running = max_size, wait_s, max_running
        self._queue: list[tuple[float, str, bytes]] = []  # (arrival, call id, payload)
        self._running = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # running batches (the loop keeps weak refs only)
        self._signature = inspect.signature(server.signature_target)

    def add(self, call_id: str, payload: bytes) -> None:
        self._queue.append((asyncio.get_running_loop().time(), call_id, payload))
        self._pump()

    def drop(self, call_id: str) -> bool:
        """Forget a queued (not yet running) input; False if it is not queued."""
        before = len(self._queue)
        self._queue = [q for q in self._queue if q[1] != call_id]
        return len(self._queue) < before

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue and self._running < self._max_running:
            due = self._queue[0][0] + self._wait
            if len(self._queue) < self._max_size and loop.time() < due:
                self._timer = loop.call_at(due, self._pump)
                return
            batch, self._queue = self._queue[: self._max_size], self._queue[self._max_size :]
            self._running += 1
            self._spawn([(call_id, payload) for _, call_id, payload in batch])

    def _spawn(self, batch: list[tuple[str, bytes]]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, bytes]]) -> None:
        server = self._server
        server.started([call_id for call_id, _ in batch])
        try:
            done = await self._invoke(batch)
        finally:
            self._running -= 1
            self._pump()
        server.finished(done)

    async def _invoke(self, batch: list[tuple[str, bytes]]) -> list[Done]:
        from chute.worker._executor import failure

        server, settings = self._server, self._server.settings
        done: list[Done] = []
        inputs: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        for call_id, payload in batch:
            try:
                inputs.append((call_id, *server.load_args(call_id, payload)))
            except Exception as exc:  # this input's payload is bad: it fails alone
                done.append(failure(call_id, exc, settings))
        if not inputs:
            return done
        try:
            args, kwargs = self._columns(inputs)
            results = await server.call(*args, **kwargs)
            if not isinstance(results, list) or len(results) != len(inputs):
                got = f"a list of {len(results)}" if isinstance(results, list) else type(results).__name__
                raise InvalidError(
                    f"A @batched function must return a list with one output per input: got {got} "
                    f"for {len(inputs)} inputs."
                )
        except Exception as exc:
            return done + [failure(call_id, exc, settings) for call_id, _, _ in inputs]
        for (call_id, _, _), value in zip(inputs, results, strict=True):
            try:
                done.append((call_id, True, _outcome.pack_value(value, settings), None))
            except Exception as exc:
                done.append(failure(call_id, exc, settings))
        return done

    def _columns(
        self, inputs: list[tuple[str, tuple[Any, ...], dict[str, Any]]]
    ) -> tuple[list[list[Any]], dict[str, list[Any]]]:
        """One list per parameter, in input order (positional ones by position, keyword-only by name)."""
        params = list(self._signature.parameters.values())
        columns: dict[str, list[Any]] = {p.name: [] for p in params}
        for _, args, kwargs in inputs:
            try:
                bound = self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise InvalidError(f"Cannot batch an input of this @batched function: {exc}") from None
            for p in params:
                columns[p.name].append(bound.arguments[p.name])
        positional = [columns[p.name] for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        keyword = {p.name: columns[p.name] for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
        return positional, keyword
