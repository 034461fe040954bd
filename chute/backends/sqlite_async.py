"""Embedded backend: one SQLite file (WAL) shared by every process of the machine.

Durability: each operation is one transaction. With the default ``synchronous=NORMAL`` an
acknowledged write survives a crash or ``kill -9`` of any process; a power loss may drop the
last few transactions. ``sqlite:///path.db?synchronous=full`` fsyncs every commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from chute.backends import _sqlite_sql as sql
from chute.backends._sqlite_conn import AsyncSQLiteConn, AsyncWaiter, notify
from chute.backends.base_async import AsyncBackend
from chute.backends.types import Kind, ObjectInfo, PartitionInfo, PutStatus
from chute.config import Settings

# A waiter re-checks the partition at least this often even without a wake-up datagram:
# a safety net for a writer killed between its commit and its sendto.
_RECHECK = 1.0


class AsyncSQLiteBackend(AsyncBackend):
    """Queues, dicts and the object registry in one SQLite database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn = AsyncSQLiteConn(settings)

    async def _wake(self, waiters: sql.Waiters) -> None:
        stale = notify(waiters)
        if stale:
            await self._conn.write(sql.remove_waiters, stale)

    # -- objects ---------------------------------------------------------------------------

    async def create_object(
        self,
        kind: Kind,
        env: str,
        name: str | None,
        *,
        object_id: str,
        ephemeral_ttl: float | None = None,
        max_items: int | None = None,
        created_by: str | None = None,
    ) -> tuple[ObjectInfo, bool]:
        now = time.time()
        info = ObjectInfo(
            id=object_id,
            kind=kind,
            env=env,
            name=name,
            created_at=now,
            created_by=created_by,
            ephemeral=ephemeral_ttl is not None,
            max_items=max_items,
        )
        expires_at = None if ephemeral_ttl is None else now + ephemeral_ttl
        return await self._conn.write(sql.create_object, info, expires_at)

    async def lookup_object(self, kind: Kind, env: str, name: str) -> ObjectInfo | None:
        return await self._conn.read(sql.lookup_object, kind, env, name)

    async def get_object(self, object_id: str) -> ObjectInfo | None:
        return await self._conn.read(sql.get_object, object_id)

    async def list_objects(
        self, kind: Kind, env: str, *, limit: int | None = None, created_before: float | None = None
    ) -> list[ObjectInfo]:
        return await self._conn.read(sql.list_objects, kind, env, limit, created_before)

    async def delete_object(self, object_id: str) -> bool:
        deleted, waiters = await self._conn.write(sql.delete_object, object_id)
        await self._wake(waiters)  # blocked getters notice the deletion at once
        return deleted

    async def heartbeat(self, object_id: str, ttl: float) -> bool:
        return await self._conn.write(sql.heartbeat, object_id, time.time() + ttl)

    async def collect_garbage(self) -> int:
        return await self._conn.write(sql.collect_garbage, time.time())

    # -- queues ----------------------------------------------------------------------------

    async def queue_put(
        self,
        object_id: str,
        part: bytes,
        items: Sequence[bytes],
        *,
        ttl: float,
        max_items: int,
        max_partitions: int,
    ) -> PutStatus:
        status, waiters = await self._conn.write(
            sql.queue_put, object_id, part, items, time.time(), ttl, max_items, max_partitions
        )
        if waiters:
            await self._wake(waiters)
        return status

    async def queue_get(self, object_id: str, part: bytes, n: int, *, wait: float) -> list[bytes]:
        items, waiters = await self._conn.write(sql.queue_get, object_id, part, n, time.time())
        if waiters:
            await self._wake(waiters)
        if items or wait <= 0:
            return items
        deadline = time.monotonic() + wait
        waiter = AsyncWaiter()
        try:
            # Register first, then re-check: a put that commits in between is seen by the
            # re-check, and any later put finds our row and wakes us. No lost wake-ups.
            wid = await self._conn.write(sql.add_waiter, object_id, part, False, waiter.addr)
            try:
                while True:
                    items, waiters = await self._conn.write(sql.queue_get, object_id, part, n, time.time())
                    if waiters:
                        await self._wake(waiters)
                    remaining = deadline - time.monotonic()
                    if items or remaining <= 0:
                        return items
                    await waiter.wait(min(remaining, _RECHECK))
            finally:
                await self._conn.write(sql.remove_waiters, [wid])
        finally:
            waiter.close()

    async def queue_wait(self, object_id: str, part: bytes, *, wait: float, for_space: bool) -> None:
        if wait <= 0:
            return
        waiter = AsyncWaiter()
        try:
            wid = await self._conn.write(sql.add_waiter, object_id, part, for_space, waiter.addr)
            try:
                await waiter.wait(min(wait, _RECHECK))
            finally:
                await self._conn.write(sql.remove_waiters, [wid])
        finally:
            waiter.close()

    async def queue_len(self, object_id: str, part: bytes | None) -> int:
        return await self._conn.read(sql.queue_len, object_id, part, time.time())

    async def queue_clear(self, object_id: str, part: bytes | None) -> None:
        waiters = await self._conn.write(sql.queue_clear, object_id, part)
        if waiters:
            await self._wake(waiters)

    async def queue_scan(
        self, object_id: str, part: bytes, after: int, limit: int
    ) -> list[tuple[int, bytes]]:
        return await self._conn.read(sql.queue_scan, object_id, part, after, limit, time.time())

    async def queue_partitions(self, object_id: str) -> list[PartitionInfo]:
        return await self._conn.read(sql.queue_partitions, object_id, time.time())

    # -- key/value -------------------------------------------------------------------------

    async def kv_get(self, object_id: str, key: bytes) -> bytes | None:
        return await self._conn.read(sql.kv_get, object_id, key)

    async def kv_contains(self, object_id: str, key: bytes) -> bool:
        return await self._conn.read(sql.kv_contains, object_id, key)

    async def kv_put(self, object_id: str, items: Sequence[tuple[bytes, bytes]], *, only_new: bool) -> bool:
        return await self._conn.write(sql.kv_put, object_id, items, only_new)

    async def kv_pop(self, object_id: str, key: bytes) -> bytes | None:
        return await self._conn.write(sql.kv_pop, object_id, key)

    async def kv_len(self, object_id: str) -> int:
        return await self._conn.read(sql.kv_len, object_id)

    async def kv_scan(self, object_id: str, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        return await self._conn.read(sql.kv_scan, object_id, after, limit)

    async def kv_clear(self, object_id: str) -> None:
        await self._conn.write(sql.kv_clear, object_id)

    # -- lifecycle -------------------------------------------------------------------------

    async def now(self) -> float:
        return time.time()

    async def ping(self) -> None:
        await self._conn.read(lambda c: c.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        await self._conn.aclose()
