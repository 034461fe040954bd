"""Single-operation latency: ``put(x)`` then ``get()`` of one small value, in one process.

Each iteration times the put and the get separately (``perf_counter_ns`` around each call),
so the queue holds at most one item: this is the per-call overhead, not throughput. Systems
are interleaved within each repetition (and their order rotated) so a slow patch of the
machine is spread over all of them instead of landing on one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench._env import Env
from bench._harness import (
    NA,
    Report,
    ResultTable,
    Scale,
    Stats,
    fmt_ns,
    fmt_ratio,
    ratio,
    settle,
    summarize,
    unavailable_notes,
    verdict,
)
from bench._subjects import (
    AsyncQueue,
    ChuteQueue,
    ChuteQueueAio,
    MPQueue,
    RawRedis,
    RawRedisAio,
    RawSQLite,
    SyncQueue,
)

# An int and a 100-byte str: the small payloads where per-call overhead dominates.
VALUES: dict[str, Any] = {"int 12345": 12345, "str 100 B": "x" * 100}

EMBEDDED_TARGET = 1.3  # chute-sqlite put+get p50 / raw sqlite3 (issue 17)
REDIS_TARGET = 1.2  # chute-redis put+get p50 / raw redis-py


@dataclass
class System:
    name: str
    open_sync: Callable[[], SyncQueue] | None = None
    open_async: Callable[[], Awaitable[AsyncQueue]] | None = None
    baseline: str | None = None  # the row this one is compared with
    target: float | None = None  # max ratio to its baseline we aim for
    unavailable: str | None = None  # why it is not measured


@dataclass
class Series:
    put: list[int] = field(default_factory=list)
    get: list[int] = field(default_factory=list)

    @property
    def both(self) -> list[int]:
        return [p + g for p, g in zip(self.put, self.get, strict=True)]


def _time_sync(q: SyncQueue, value: Any, iters: int, warmup: int, out: Series) -> None:
    for _ in range(warmup):
        q.put(value)
        q.get()
    settle()
    clock = time.perf_counter_ns
    got = None
    for _ in range(iters):
        t0 = clock()
        q.put(value)
        t1 = clock()
        got = q.get()
        t2 = clock()
        out.put.append(t1 - t0)
        out.get.append(t2 - t1)
    if got != value:
        raise RuntimeError(f"{type(q).__name__}: put {value!r}, got {got!r}")


async def _time_async(q: AsyncQueue, value: Any, iters: int, warmup: int, out: Series) -> None:
    for _ in range(warmup):
        await q.put(value)
        await q.get()
    settle()
    clock = time.perf_counter_ns
    got = None
    for _ in range(iters):
        t0 = clock()
        await q.put(value)
        t1 = clock()
        got = await q.get()
        t2 = clock()
        out.put.append(t1 - t0)
        out.get.append(t2 - t1)
    if got != value:
        raise RuntimeError(f"{type(q).__name__}: put {value!r}, got {got!r}")


def _measure(systems: list[System], scale: Scale) -> dict[tuple[str, str], Series]:
    live = [s for s in systems if s.unavailable is None]
    series = {(s.name, v): Series() for s in live for v in VALUES}
    # One loop for every async system, kept across repetitions so their connections persist.
    loop = asyncio.new_event_loop()
    sync_qs: dict[str, SyncQueue] = {}
    async_qs: dict[str, AsyncQueue] = {}
    try:
        for s in live:
            if s.open_sync is not None:
                sync_qs[s.name] = s.open_sync()
            elif s.open_async is not None:
                async_qs[s.name] = loop.run_until_complete(s.open_async())
        for rep in range(scale.latency_reps):
            k = rep % len(live)
            for s in live[k:] + live[:k]:
                for vname, value in VALUES.items():
                    out = series[(s.name, vname)]
                    if s.name in sync_qs:
                        _time_sync(sync_qs[s.name], value, scale.latency_iters, scale.latency_warmup, out)
                    else:
                        coro = _time_async(
                            async_qs[s.name], value, scale.latency_iters, scale.latency_warmup, out
                        )
                        loop.run_until_complete(coro)
    finally:
        for sq in sync_qs.values():
            sq.close()
        for aq in async_qs.values():
            loop.run_until_complete(aq.aclose())
        loop.close()
    return series


def _table(
    title: str, systems: list[System], series: dict[tuple[str, str], Series], mp_name: str | None
) -> tuple[ResultTable, dict[str, Any]]:
    columns = ["system", "value", "put p50", "put p99", "get p50", "get p99", "put+get p50"]
    columns += ["put+get p99", "baseline", "put x", "get x", "put+get x p50", "put+get x p99"]
    if mp_name:
        columns.append(f"put+get x {mp_name}")
    columns.append("target")
    table = ResultTable(title, columns)
    stats: dict[tuple[str, str], dict[str, Stats]] = {
        key: {"put": summarize(s.put), "get": summarize(s.get), "put_get": summarize(s.both)}
        for key, s in series.items()
    }
    data: dict[str, Any] = {}
    for s in systems:
        for vname in VALUES:
            st = stats.get((s.name, vname))
            if st is None:
                table.add_row(s.name, vname, *[NA] * (len(columns) - 2))
                data.setdefault(s.name, {})[vname] = {"unavailable": s.unavailable}
                continue
            base = stats.get((s.baseline, vname)) if s.baseline else None
            mp = stats.get((mp_name, vname)) if mp_name else None

            def r(op: str, q: str, other: dict[str, Stats] | None, st: dict[str, Stats] = st) -> float | None:
                return None if other is None else ratio(getattr(st[op], q), getattr(other[op], q))

            ratios = {
                "put_p50": r("put", "p50", base),
                "get_p50": r("get", "p50", base),
                "put_get_p50": r("put_get", "p50", base),
                "put_get_p99": r("put_get", "p99", base),
            }
            row = [s.name, vname]
            row += [
                fmt_ns(st["put"].p50),
                fmt_ns(st["put"].p99),
                fmt_ns(st["get"].p50),
                fmt_ns(st["get"].p99),
            ]
            row += [fmt_ns(st["put_get"].p50), fmt_ns(st["put_get"].p99), s.baseline or "—"]
            row += [fmt_ratio(ratios[k]) if base else "—" for k in ratios]
            if mp_name:
                mp_ratio = None if mp is None or s.name == mp_name else r("put_get", "p50", mp)
                ratios["put_get_p50_vs_mp"] = mp_ratio
                row.append(fmt_ratio(mp_ratio) if mp_ratio is not None else "—")
            if s.target is not None:
                ok = None if ratios["put_get_p50"] is None else ratios["put_get_p50"] <= s.target
                row.append(f"≤{s.target:g}x: {verdict(ok)}")
            else:
                row.append("")
            table.add_row(*row)
            data.setdefault(s.name, {})[vname] = {
                "baseline": s.baseline,
                "target": s.target,
                **{op: x.as_dict() for op, x in st.items()},
                "ratios": ratios,
            }
    table.notes.append(
        "Latencies per call in one process (median = p50); x = chute time / baseline time, lower is better."
    )
    table.notes.extend(unavailable_notes(s.unavailable for s in systems))
    return table, data


def run_embedded(env: Env, scale: Scale) -> Report:
    """chute-sqlite vs hand-written sqlite3 vs multiprocessing.Queue."""
    path = env.sqlite_path("raw-latency")
    systems = [
        System("raw sqlite3", open_sync=lambda: RawSQLite(path)),
        System(
            "chute-sqlite",
            open_sync=lambda: ChuteQueue(env.sqlite_url("latency")),
            baseline="raw sqlite3",
            target=EMBEDDED_TARGET,
        ),
        System("mp.Queue", open_sync=MPQueue),
        System(
            "chute-sqlite .aio",
            open_async=lambda: ChuteQueueAio(env.sqlite_url("latency-aio")).open(),
            baseline="raw sqlite3",
            target=EMBEDDED_TARGET,
        ),
    ]
    series = _measure(systems, scale)
    table, data = _table("1. Single-op latency, embedded (SQLite)", systems, series, mp_name="mp.Queue")
    table.notes.append(
        "raw sqlite3: BEGIN IMMEDIATE; INSERT / DELETE … RETURNING; COMMIT of pickle.dumps(v), WAL, "
        "synchronous=NORMAL. mp.Queue: put then get in the same process (feeder thread + pipe)."
    )
    table.notes.append("chute-sqlite .aio is compared with the sync raw sqlite3 (there is no async sqlite3).")
    return Report([table], {"latency_embedded": data})


def run_redis(env: Env, scale: Scale) -> Report:
    """chute-redis vs raw redis-py, sync and asyncio, on the same server."""
    url = env.redis_url
    assert url is not None
    down = None if env.chute_redis_ok else f"not measured ({env.chute_redis_error})"
    systems = [
        System("raw redis-py", open_sync=lambda: RawRedis(url)),
        System(
            "chute-redis",
            open_sync=lambda: ChuteQueue(url),
            baseline="raw redis-py",
            target=REDIS_TARGET,
            unavailable=down,
        ),
        System("raw redis.asyncio", open_async=lambda: _open_raw_aio(url)),
        System(
            "chute-redis .aio",
            open_async=lambda: ChuteQueueAio(url).open(),
            baseline="raw redis.asyncio",
            target=REDIS_TARGET,
            unavailable=down,
        ),
    ]
    series = _measure(systems, scale)
    table, data = _table("2. Single-op latency, Redis (Valkey on loopback)", systems, series, mp_name=None)
    table.notes.append("raw: RPUSH / LPOP of pickle.dumps(v) on the same server, one connection.")
    return Report([table], {"latency_redis": data})


async def _open_raw_aio(url: str) -> AsyncQueue:
    return RawRedisAio(url)
