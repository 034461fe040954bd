"""saq: ``saq bench.peers.saq_peer.settings --workers N``: two processes with concurrency=1
for the no-op rows, one with concurrency=100 for the async row."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from saq import Queue

from bench.peers import _submit
from bench.peers._submit import QUEUE, SLEEP_S


async def noop(ctx: dict[str, Any], *, x: int) -> int:
    return x


async def sleep_job(ctx: dict[str, Any], *, x: int) -> int:
    await asyncio.sleep(SLEEP_S)
    return x


settings = {
    "queue": Queue.from_url(_submit.store_url(), name=QUEUE),
    "functions": [noop, sleep_job],
    "concurrency": 100 if _submit.row() == "async" else 1,
    # The sweep (every 60 s by default) aborts as "swept" a job it catches between dequeue and
    # being marked active, which happens on a loaded machine: once per run is enough here.
    "timers": {"sweep": 3600},
}


class Driver(_submit.AsyncDriver):
    fused = True  # queue.map enqueues (concurrently) and polls for the results in one call

    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        self.q: Any = Queue.from_url(url, name=QUEUE)  # a RedisQueue
        self.run(self.q.connect())

    def ready(self) -> None:
        # A saq worker sweeps the active list as it starts (under a 60 s lock): a job it has just
        # dequeued but not yet marked active is then aborted as "swept". So no job goes in
        # before that first sweep has run.
        deadline = time.monotonic() + self.timeout
        while not self.run(self.q.redis.exists(self.q.namespace("sweep"))):
            if time.monotonic() > deadline:
                raise RuntimeError("saq workers did not start (no sweep lock)")
            time.sleep(0.05)

    def one(self, x: int) -> Any:
        return self.run(self.q.apply("noop", timeout=self.timeout, poll_interval=self.poll_s, x=x))

    def _map(self, fn: str, xs: list[int]) -> list[Any]:
        kwargs = [{"x": x} for x in xs]
        # map's timeout is for the whole batch (and each job's): the parent's system timeout
        # bounds the run anyway, so the batch gets ten times one job's.
        wait = 10 * self.timeout
        return list(self.run(self.q.map(fn, kwargs, timeout=wait, poll_interval=self.poll_s)))

    def collect(self, handles: Any) -> list[Any]:
        return self._map("noop", handles)

    def sleeps(self, xs: list[int]) -> list[Any]:
        return self._map("sleep_job", xs)

    def close(self) -> None:
        self.run(self.q.disconnect())
        super().close()
