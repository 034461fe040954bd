"""dramatiq: ``dramatiq bench.peers.dramatiq_peer -p 2 -t 1`` (no-op rows) or ``-p 1 -t 100``
(async row: the AsyncIO middleware runs ``async def`` actors on one event loop, each worker
thread awaiting one), Redis broker and the Results middleware's Redis backend."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from bench.peers import _submit
from bench.peers._submit import QUEUE, SLEEP_S

_url = _submit.store_url()
broker = RedisBroker(url=_url)
broker.add_middleware(Results(backend=RedisBackend(url=_url)))
broker.add_middleware(AsyncIO())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, store_results=True, max_retries=0)
def noop(x: int) -> int:
    return x


@dramatiq.actor(queue_name=QUEUE, store_results=True, max_retries=0)
async def sleep_job(x: int) -> int:
    await asyncio.sleep(SLEEP_S)
    return x


class Driver(_submit.Driver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        self.timeout_ms = int(timeout * 1000)

    def one(self, x: int) -> Any:
        return noop.send(x).get_result(block=True, timeout=self.timeout_ms)  # BRPOPLPUSH

    def submit(self, xs: list[int]) -> Any:
        return dramatiq.group(noop.message(x) for x in xs).run()

    def collect(self, handles: Any) -> list[Any]:
        return list(handles.get_results(block=True, timeout=self.timeout_ms))

    def sleeps(self, xs: list[int]) -> list[Any]:
        g = dramatiq.group(sleep_job.message(x) for x in xs).run()
        return list(g.get_results(block=True, timeout=self.timeout_ms))
