"""streaq: ``streaq run bench.peers.streaq_peer:worker --workers N``, Redis streams (coredis),
``concurrency=1`` per process for the no-op rows, ``concurrency=100`` for the async row."""

from __future__ import annotations

import asyncio
from typing import Any

from streaq import Worker

from bench.peers import _submit
from bench.peers._submit import QUEUE, SLEEP_S, gather_bounded

worker: Worker[Any] = Worker(
    redis_url=_submit.store_url(),
    queue_name=QUEUE,
    concurrency=100 if _submit.row() == "async" else 1,
)


@worker.task
async def noop(x: int) -> int:
    return x


@worker.task
async def sleep_job(x: int) -> int:
    await asyncio.sleep(SLEEP_S)
    return x


class Driver(_submit.AsyncDriver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        # The worker's context (its Redis connection and Lua library) stays open in one task for
        # the whole run: anyio's context manager must be left in the task that entered it.
        self.opened, self.done = asyncio.Event(), asyncio.Event()
        self.holder = self.loop.create_task(self._hold())
        self.run(self.opened.wait())

    async def _hold(self) -> None:
        async with worker:
            self.opened.set()
            await self.done.wait()

    async def _value(self, task: Any) -> Any:
        # result_by_id: GET the result, else wait for its pub/sub message.
        return (await task.result(timeout=self.timeout)).result

    async def _one(self, x: int) -> Any:
        return await self._value(await noop.enqueue(x))

    def one(self, x: int) -> Any:
        return self.run(self._one(x))

    def _submit(self, fn: Any, xs: list[int]) -> list[Any]:
        tasks = [fn.enqueue(x) for x in xs]
        self.run(worker.enqueue_many(tasks))  # one pipeline
        return tasks

    def submit(self, xs: list[int]) -> Any:
        return self._submit(noop, xs)

    def collect(self, handles: Any) -> list[Any]:
        return list(self.run(gather_bounded(self._value(t) for t in handles)))

    def sleeps(self, xs: list[int]) -> list[Any]:
        return self.collect(self._submit(sleep_job, xs))

    def close(self) -> None:
        self.done.set()
        self.run(self.holder)
        super().close()
