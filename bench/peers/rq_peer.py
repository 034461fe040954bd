"""RQ: ``python -c 'from bench.peers.rq_peer import work; work()'``, its documented custom
worker script (this module is imported once, before the worker forks a work horse per job)."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, Worker

from bench.peers import _submit
from bench.peers._submit import QUEUE


def noop(x: int) -> int:
    return x


def work() -> None:
    conn = Redis.from_url(_submit.store_url())
    Worker([Queue(QUEUE, connection=conn)], connection=conn).work(logging_level="WARNING")


class Driver(_submit.Driver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        self.q = Queue(QUEUE, connection=Redis.from_url(url))

    def _value(self, job: Any) -> Any:
        result = job.latest_result(timeout=int(self.timeout))  # XREAD BLOCK on the result stream
        if result is None or result.type != result.Type.SUCCESSFUL:
            raise RuntimeError(f"rq job {job.id}: {(result and result.exc_string) or 'no result'}")
        return result.return_value

    def one(self, x: int) -> Any:
        return self._value(self.q.enqueue(noop, x))

    def submit(self, xs: list[int]) -> Any:
        return self.q.enqueue_many([Queue.prepare_data(noop, (x,)) for x in xs])

    def collect(self, handles: Any) -> list[Any]:
        return [self._value(job) for job in handles]
