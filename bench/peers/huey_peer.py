"""huey: ``huey_consumer bench.peers.huey_peer.huey -w 2 -k process`` on Redis or SQLite."""

from __future__ import annotations

from typing import Any

from huey import RedisHuey, SqliteHuey  # type: ignore[import-untyped]

from bench.peers import _submit
from bench.peers._submit import QUEUE

_url = _submit.store_url()
if _url.startswith("redis"):
    # notify_result: result waits block on BLPOP (huey's own option) instead of polling.
    huey = RedisHuey(QUEUE, url=_url, notify_result=True)
else:
    huey = SqliteHuey(QUEUE, filename=_url.removeprefix("sqlite://"))


@huey.task(name="noop")
def noop(x: int) -> int:
    return x


class Driver(_submit.Driver):
    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        # On SQLite a result wait polls: every poll_s (RedisHuey's notify_result blocks instead).
        self.wait = {"blocking": True, "timeout": timeout, "backoff": 1.0, "max_delay": poll_s}

    def one(self, x: int) -> Any:
        return noop(x).get(**self.wait)

    def submit(self, xs: list[int]) -> Any:
        return noop.map(xs)

    def collect(self, handles: Any) -> list[Any]:
        return list(handles.get(**self.wait))
