"""arq: ``arq bench.peers.arq_peer.Settings``, one process per worker (arq has no --workers):
two with ``max_jobs=1`` for the no-op rows, one with ``max_jobs=100`` for the async row."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from bench.peers import _submit
from bench.peers._submit import POLL_S, SLEEP_S


async def noop(ctx: dict[str, Any], x: int) -> int:
    return x


async def sleep_job(ctx: dict[str, Any], x: int) -> int:
    await asyncio.sleep(SLEEP_S)
    return x


class Settings:
    functions = [noop, sleep_job]
    redis_settings = RedisSettings.from_dsn(_submit.store_url())
    max_jobs = 100 if _submit.row() == "async" else 1
    poll_delay = POLL_S  # default 0.5 s


class Driver(_submit.AsyncDriver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        self.pool = self.run(create_pool(RedisSettings.from_dsn(url)))

    async def _result(self, job: Any) -> Any:
        return await job.result(timeout=self.timeout, poll_delay=self.poll_s)

    async def _one(self, x: int) -> Any:
        return await self._result(await self.pool.enqueue_job("noop", x))

    async def _submit(self, fn: str, xs: list[int]) -> list[Any]:
        return [await self.pool.enqueue_job(fn, x) for x in xs]  # arq has no batch enqueue

    async def _collect(self, jobs: list[Any]) -> list[Any]:
        return [await self._result(job) for job in jobs]

    def one(self, x: int) -> Any:
        return self.run(self._one(x))

    def submit(self, xs: list[int]) -> Any:
        return self.run(self._submit("noop", xs))

    def collect(self, handles: Any) -> list[Any]:
        return list(self.run(self._collect(handles)))

    def sleeps(self, xs: list[int]) -> list[Any]:
        return list(self.run(self._collect(self.run(self._submit("sleep_job", xs)))))

    def close(self) -> None:
        self.run(self.pool.aclose())
        super().close()
