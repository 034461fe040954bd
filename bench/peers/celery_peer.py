"""Celery: ``celery -A bench.peers.celery_peer:app worker -c 2 -P prefork``, Redis broker and
Redis result backend."""

from __future__ import annotations

from typing import Any

from celery import Celery, group  # type: ignore[import-untyped]

from bench.peers import _submit
from bench.peers._submit import QUEUE

_url = _submit.store_url()
app = Celery(QUEUE, broker=_url, backend=_url)
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)


@app.task(name="bench.noop")
def noop(x: int) -> int:
    return x


class Driver(_submit.Driver):
    def one(self, x: int) -> Any:
        return noop.delay(x).get(timeout=self.timeout)

    def submit(self, xs: list[int]) -> Any:
        return group(noop.s(x) for x in xs).apply_async()

    def collect(self, handles: Any) -> list[Any]:
        return list(handles.get(timeout=self.timeout))
