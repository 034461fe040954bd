"""Redis client set-up shared by both flavours of the Redis backend (not twinned): what the
clients need from the URL, the keyword arguments of chute's redis-py clients, and ``Slots``,
which bound how many commands one client has in flight so that a burst of concurrent callers
waits for a connection instead of failing.

Connection limits (the README's Redis section says the same): a backend (one per process for
blocking calls, one per event loop for ``.aio`` calls) keeps at most ``max_connections`` (URL
option, default 100) short commands in flight, and as many blocking gets and waits, so it opens
at most that many connections of each kind to a standalone server, or to each master of a
Cluster (plus a few for the Cluster client's own topology queries). Callers beyond the limit
wait their turn; a blocking get that finds every blocking connection busy for a whole 1 s chunk
pops without blocking instead, so it returns about when its timeout ends.
"""

from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chute._url import BackendURL
from chute.config import Settings

DEFAULT_MAX_CONNECTIONS = 100
# Connections a redis-py pool may open beyond max_connections: the Cluster client's own
# CLUSTER SLOTS / COMMAND queries share the node pools and must not find them exhausted.
POOL_HEADROOM = 4


@dataclass(frozen=True)
class RedisOptions:
    """What the clients of one backend need from its URL (validated by ``chute._url``)."""

    url: str  # for redis-py: scheme without "+cluster", chute's options removed
    cluster: bool
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    wait_replicas: int = 0

    @classmethod
    def of(cls, url: BackendURL) -> RedisOptions:
        return cls(
            url=url.client_url,
            cluster=url.cluster,
            max_connections=int(url.options.get("max_connections", DEFAULT_MAX_CONNECTIONS)),
            wait_replicas=int(url.options.get("wait_replicas", 0)),
        )


def client_kwargs(settings: Settings, socket_timeout: float, max_connections: int) -> dict[str, Any]:
    """Keyword arguments of every redis-py client chute makes (standalone or Cluster), but the
    flavour's own ``retry``."""
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": settings.timeout,
        "health_check_interval": 30,
        "decode_responses": False,
        "max_connections": max_connections + POOL_HEADROOM,
    }


def cluster_kwargs() -> dict[str, Any]:
    """What a Cluster client needs on top of ``client_kwargs``."""
    # redis-py's default (5) closes every connection of the client, in use or not, on each
    # fifth MOVED reply: concurrent callers routed before the slot map was loaded (or after a
    # failover) then fail with "Connection closed by server". 0 patches the slot map instead.
    return {"reinitialize_steps": 0}


def node_url(url: str, host: str, port: int) -> str:
    """``url`` (a redis-py URL of a Cluster) pointing at one node: same scheme, credentials and
    query, another host and port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def wait_ms(settings: Settings) -> int:
    """WAIT's timeout for ``?wait_replicas``: half of CHUTE_TIMEOUT, so that the reply comes
    well before the socket timeout of the connection it waits on."""
    return max(1, math.floor(settings.timeout * 500))


class AsyncSlots:
    """At most ``n`` commands of one async client in flight; more wait their turn (FIFO)."""

    def __init__(self, n: int) -> None:
        self._sem = asyncio.Semaphore(n)

    async def __aenter__(self) -> None:
        await self._sem.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()

    async def acquire(self, timeout: float) -> bool:
        """Take a slot within ``timeout`` seconds; False if none came free."""
        try:
            async with asyncio.timeout(timeout):
                await self._sem.acquire()
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        self._sem.release()


class Slots:
    """At most ``n`` commands of one sync client in flight (all threads); more wait."""

    def __init__(self, n: int) -> None:
        self._sem = threading.BoundedSemaphore(n)

    def __enter__(self) -> None:
        self._sem.acquire()

    def __exit__(self, *exc: object) -> None:
        self._sem.release()

    def acquire(self, timeout: float) -> bool:
        """Take a slot within ``timeout`` seconds; False if none came free."""
        return self._sem.acquire(timeout=max(timeout, 0.0))

    def release(self) -> None:
        self._sem.release()
