"""taskiq: ``taskiq worker bench.peers.taskiq_peer:broker --workers N --max-async-tasks M``,
taskiq-redis's RedisStreamBroker (the one its README recommends: acknowledged, XREADGROUP
BLOCK) and RedisAsyncResultBackend."""

from __future__ import annotations

import asyncio
from typing import Any

from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from bench.peers import _submit
from bench.peers._submit import QUEUE, SLEEP_S, gather_bounded

_url = _submit.store_url()
broker = RedisStreamBroker(url=_url, queue_name=QUEUE).with_result_backend(
    RedisAsyncResultBackend(redis_url=_url, result_ex_time=600)  # the README: set an expiry
)


@broker.task(task_name="noop")
async def noop(x: int) -> int:
    return x


@broker.task(task_name="sleep_job")
async def sleep_job(x: int) -> int:
    await asyncio.sleep(SLEEP_S)
    return x


class Driver(_submit.AsyncDriver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        self.run(broker.startup())

    async def _value(self, task: Any) -> Any:
        # wait_result polls is_ready every check_interval (default 0.2 s).
        result = await task.wait_result(check_interval=self.poll_s, timeout=self.timeout)
        result.raise_for_error()
        return result.return_value

    async def _one(self, x: int) -> Any:
        return await self._value(await noop.kiq(x))

    def one(self, x: int) -> Any:
        return self.run(self._one(x))

    def _submit(self, fn: Any, xs: list[int]) -> list[Any]:
        return list(self.run(gather_bounded(fn.kiq(x) for x in xs)))

    def collect(self, handles: Any) -> list[Any]:
        return list(self.run(gather_bounded(self._value(t) for t in handles)))

    def submit(self, xs: list[int]) -> Any:
        return self._submit(noop, xs)

    def sleeps(self, xs: list[int]) -> list[Any]:
        return self.collect(self._submit(sleep_job, xs))

    def close(self) -> None:
        self.run(broker.shutdown())
        super().close()
