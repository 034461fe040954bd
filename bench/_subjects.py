"""The systems under test, behind one small interface: chute, and what you would write by hand.

Every queue here offers ``put``/``get`` of one item and ``put_many``/``get_many`` of a batch,
sync or async. The hand-written baselines do the minimum a correct FIFO over the same store
needs (a transaction per operation on SQLite, a list on Redis, ``pickle`` for values), so
the ratio chute / baseline is chute's own overhead: validation, hydration, partition
bookkeeping, the cap and TTL checks, and the wake-up machinery.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sqlite3
import time
from typing import Any, Protocol

import redis
import redis.asyncio

import chute
from bench._env import chute_client

PROTOCOL = pickle.HIGHEST_PROTOCOL  # chute pickles with protocol 5 too


class SyncQueue(Protocol):
    def put(self, v: Any) -> None: ...
    def get(self) -> Any: ...
    def put_many(self, vs: list[Any]) -> None: ...
    def get_many(self, n: int) -> list[Any]: ...
    def close(self) -> None: ...


class AsyncQueue(Protocol):
    async def put(self, v: Any) -> None: ...
    async def get(self) -> Any: ...
    async def aclose(self) -> None: ...


# -- chute ---------------------------------------------------------------------------------------


class ChuteQueue:
    """An ephemeral ``chute.Queue`` on ``url``, used exactly as an application would."""

    def __init__(self, url: str) -> None:
        self._client = chute_client(url)
        self._ctx = chute.Queue.ephemeral(client=self._client)
        self.q = self._ctx.__enter__()

    def put(self, v: Any) -> None:
        self.q.put(v)

    def get(self) -> Any:
        return self.q.get()

    def put_many(self, vs: list[Any]) -> None:
        self.q.put_many(vs)

    def get_many(self, n: int) -> list[Any]:
        return self.q.get_many(n)

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)
        self._client.close()


class ChuteQueueAio:
    """The same through ``.aio``; must be opened and used on one event loop."""

    def __init__(self, url: str) -> None:
        self._client = chute_client(url)
        self._ctx = chute.Queue.ephemeral(client=self._client)
        self.q: chute.Queue | None = None

    async def open(self) -> ChuteQueueAio:
        self.q = await self._ctx.__aenter__()
        return self

    async def put(self, v: Any) -> None:
        assert self.q is not None
        await self.q.put.aio(v)

    async def get(self) -> Any:
        assert self.q is not None
        return await self.q.get.aio()

    async def aclose(self) -> None:
        await self._ctx.__aexit__(None, None, None)
        await self._client.aclose()
        self._client.close()


# -- hand-written SQLite -------------------------------------------------------------------------

_RAW_SCHEMA = """
CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY AUTOINCREMENT, q TEXT NOT NULL, v BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS t_by_q ON t(q, id);
"""
_RAW_PUT = "INSERT INTO t(q, v) VALUES (?, ?)"
_RAW_GET = "DELETE FROM t WHERE id = (SELECT id FROM t WHERE q = ? ORDER BY id LIMIT 1) RETURNING v"
_RAW_GET_MANY = "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE q = ? ORDER BY id LIMIT ?) RETURNING id, v"


class RawSQLite:
    """A FIFO in one table with the file settings chute uses (WAL, synchronous=NORMAL)."""

    def __init__(self, path: str, name: str = "q") -> None:
        # isolation_level=None: explicit BEGIN IMMEDIATE/COMMIT, exactly like chute.
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA busy_timeout = 5000")
        self.conn.executescript(_RAW_SCHEMA)
        self.name = name

    def put(self, v: Any) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        c.execute(_RAW_PUT, (self.name, pickle.dumps(v, PROTOCOL)))
        c.execute("COMMIT")

    def get(self) -> Any:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        row = c.execute(_RAW_GET, (self.name,)).fetchone()
        c.execute("COMMIT")
        return None if row is None else pickle.loads(row[0])

    def put_many(self, vs: list[Any]) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        c.executemany(_RAW_PUT, [(self.name, pickle.dumps(v, PROTOCOL)) for v in vs])
        c.execute("COMMIT")

    def get_many(self, n: int) -> list[Any]:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        rows = c.execute(_RAW_GET_MANY, (self.name, n)).fetchall()
        c.execute("COMMIT")
        rows.sort()  # RETURNING has no defined order; FIFO needs it (chute sorts too)
        return [pickle.loads(v) for _, v in rows]

    def get_wait(self, timeout: float) -> Any:
        """A blocking get the hand-written way: poll every 50 µs (SQLite has no wake-up)."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            row = c.execute(_RAW_GET, (self.name,)).fetchone()
            c.execute("COMMIT")
            if row is not None:
                return pickle.loads(row[0])
            if time.monotonic() > deadline:
                raise TimeoutError("raw sqlite3: nothing arrived")
            time.sleep(0.00005)

    def close(self) -> None:
        self.conn.close()


# -- hand-written Redis --------------------------------------------------------------------------


class RawRedis:
    """A FIFO on one Redis list: RPUSH / LPOP of pickles."""

    def __init__(self, url: str, key: str = "bench:raw", reset: bool = True) -> None:
        self.r = redis.Redis.from_url(url)
        self.key = key
        if reset:
            self.r.delete(key)

    def put(self, v: Any) -> None:
        self.r.rpush(self.key, pickle.dumps(v, PROTOCOL))

    def get(self) -> Any:
        data = self.r.lpop(self.key)
        return None if data is None else pickle.loads(data)  # type: ignore[arg-type]

    def put_many(self, vs: list[Any]) -> None:
        self.r.rpush(self.key, *[pickle.dumps(v, PROTOCOL) for v in vs])

    def get_many(self, n: int) -> list[Any]:
        data: list[bytes] | None = self.r.lpop(self.key, n)  # type: ignore[assignment]
        return [pickle.loads(d) for d in data or []]

    def get_wait(self, timeout: float) -> Any:
        got: Any = self.r.blpop([self.key], timeout=timeout)
        if got is None:
            raise TimeoutError("raw redis-py: nothing arrived")
        return pickle.loads(got[1])

    def close(self) -> None:
        self.r.delete(self.key)
        self.r.close()


class RawRedisAio:
    """The same with ``redis.asyncio``; must be used on one event loop."""

    def __init__(self, url: str, key: str = "bench:raw-aio") -> None:
        self.r = redis.asyncio.Redis.from_url(url)
        self.key = key

    async def put(self, v: Any) -> None:
        await self.r.rpush(self.key, pickle.dumps(v, PROTOCOL))

    async def get(self) -> Any:
        data: bytes | None = await self.r.lpop(self.key)  # type: ignore[assignment]
        return None if data is None else pickle.loads(data)

    async def aclose(self) -> None:
        await self.r.delete(self.key)
        await self.r.aclose()


# -- multiprocessing -----------------------------------------------------------------------------


class MPQueue:
    """``multiprocessing.Queue`` used within one process (feeder thread + pipe)."""

    def __init__(self) -> None:
        self.q: mp.Queue[Any] = mp.get_context("spawn").Queue()

    def put(self, v: Any) -> None:
        self.q.put(v)

    def get(self) -> Any:
        return self.q.get()

    def put_many(self, vs: list[Any]) -> None:
        for v in vs:
            self.q.put(v)

    def get_many(self, n: int) -> list[Any]:
        return [self.q.get() for _ in range(n)]

    def close(self) -> None:
        self.q.close()
        self.q.join_thread()
