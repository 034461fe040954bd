"""Batch throughput: in one process, and from a producer process to a consumer process.

In-process: ``put_many`` of a batch then ``get_many`` of the same batch, timed separately.

Across processes: one spawned producer sends N items, one spawned consumer takes them. Both
start, connect and hydrate, then meet at a barrier, so interpreter start-up is not timed;
the clock runs from the producer's first put to the consumer's last item (CLOCK_MONOTONIC,
which is system-wide on Linux, so the two processes' timestamps are comparable).
"""

from __future__ import annotations

import inspect
import multiprocessing as mp
import os
import queue as stdlib_queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

import chute
from bench._env import Env
from bench._harness import (
    NA,
    Report,
    ResultTable,
    Scale,
    fmt_rate,
    fmt_ratio,
    ratio,
    settle,
    summarize,
    unavailable_notes,
    verdict,
)
from bench._subjects import ChuteQueue, RawRedis, RawSQLite, SyncQueue

_CTX = mp.get_context("spawn")
IN_PROCESS_TARGET = 0.8  # chute put+get items/s over the raw client's, in one process (issue 17)
_CHILD_TIMEOUT = 120.0  # a stuck run fails loudly instead of hanging the suite
_GET_TIMEOUT = 60.0

# -- in one process ------------------------------------------------------------------------------


@dataclass
class BatchSystem:
    name: str
    open: Callable[[], SyncQueue] | None
    baseline: str | None = None
    unavailable: str | None = None


def _time_batches(q: SyncQueue, scale: Scale) -> tuple[list[float], list[float], list[float]]:
    """Items/s of put_many, of get_many, and of the two together, one sample per round."""
    items = list(range(scale.batch_size))
    for _ in range(scale.batch_warmup):
        q.put_many(items)
        q.get_many(len(items))
    settle()
    puts, gets, rounds = [], [], []
    clock = time.perf_counter
    got: list[Any] = []
    for _ in range(scale.batch_rounds):
        t0 = clock()
        q.put_many(items)
        t1 = clock()
        got = q.get_many(len(items))
        t2 = clock()
        puts.append(len(items) / (t1 - t0))
        gets.append(len(items) / (t2 - t1))
        rounds.append(len(items) / (t2 - t0))
    if got != items:
        raise RuntimeError(f"{type(q).__name__}: get_many returned {len(got)} items, not the batch put")
    return puts, gets, rounds


def run_in_process(env: Env, scale: Scale) -> tuple[ResultTable, dict[str, Any]]:
    systems = [
        BatchSystem("raw sqlite3", lambda: RawSQLite(env.sqlite_path("raw-batch"))),
        BatchSystem("chute-sqlite", lambda: ChuteQueue(env.sqlite_url("batch")), baseline="raw sqlite3"),
    ]
    if env.redis_url is not None:
        url = env.redis_url
        down = None if env.chute_redis_ok else f"not measured ({env.chute_redis_error})"
        systems += [
            BatchSystem("raw redis-py", lambda: RawRedis(url, key="bench:batch")),
            BatchSystem("chute-redis", lambda: ChuteQueue(url), baseline="raw redis-py", unavailable=down),
        ]
    results: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for s in systems:
        if s.unavailable is None and s.open is not None:
            q = s.open()
            try:
                results[s.name] = _time_batches(q, scale)
            finally:
                q.close()

    n = scale.batch_size
    table = ResultTable(
        f"3a. Batch throughput in one process: put_many({n:,}) then get_many({n:,})",
        [
            "system",
            "put_many",
            "get_many",
            "put+get",
            "baseline",
            "put_many x",
            "get_many x",
            "put+get x",
            "target",
        ],
    )
    data: dict[str, Any] = {}
    medians: dict[str, list[float]] = {}
    for s in systems:
        if s.name not in results:
            table.add_row(s.name, *[NA] * 8)
            data[s.name] = {"unavailable": s.unavailable}
            continue
        stats = [summarize(x) for x in results[s.name]]
        medians[s.name] = [st.p50 for st in stats]
        base = medians.get(s.baseline) if s.baseline else None
        ratios = [ratio(m, b) for m, b in zip(medians[s.name], base, strict=True)] if base else [None] * 3
        target = ""
        if base:
            met = ratios[2] is not None and ratios[2] >= IN_PROCESS_TARGET
            target = f"≥{IN_PROCESS_TARGET:g}x: {verdict(met)}"
        table.add_row(
            s.name,
            *[fmt_rate(m) for m in medians[s.name]],
            s.baseline or "—",
            *[fmt_ratio(r) if base else "—" for r in ratios],
            target,
        )
        data[s.name] = {
            "baseline": s.baseline,
            "put_many_items_per_s": stats[0].as_dict(),
            "get_many_items_per_s": stats[1].as_dict(),
            "put_get_items_per_s": stats[2].as_dict(),
            "ratios": dict(zip(["put_many", "get_many", "put_get"], ratios, strict=True)),
        }
    table.notes.append(
        f"Items/s, median of {scale.batch_rounds} rounds of {n:,} ints; x = chute rate / baseline rate, "
        "higher is better."
    )
    table.notes.append(
        "raw sqlite3: executemany INSERT / DELETE … IN (… LIMIT n) RETURNING; raw redis-py: RPUSH of n "
        "values / LPOP key n."
    )
    table.notes.extend(unavailable_notes(s.unavailable for s in systems))
    return table, data


# -- across processes: the children --------------------------------------------------------------
# Module-level functions, so spawn can pickle them by reference.


def _chute_queue(url: str, qid: str) -> chute.Queue:
    # The child's own CHUTE_URL, as a separately started program would have it.
    os.environ["CHUTE_URL"] = url
    q = chute.Queue.from_id(qid)
    q.hydrate()
    q.len()  # opens the connection before the clock starts
    return q


def _chute_producer(url: str, qid: str, n: int, batch: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    q = _chute_queue(url, qid)
    barrier.wait(_CHILD_TIMEOUT)
    t0 = time.monotonic_ns()
    if batch == 1:
        for i in range(n):
            q.put(i)
    else:
        for start in range(0, n, batch):
            q.put_many(list(range(start, min(n, start + batch))))
    out.put(("producer", t0))


def _chute_consumer(url: str, qid: str, n: int, batch: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    q = _chute_queue(url, qid)
    barrier.wait(_CHILD_TIMEOUT)
    expected = 0
    while expected < n:
        items = [q.get(timeout=_GET_TIMEOUT)] if batch == 1 else q.get_many(batch, timeout=_GET_TIMEOUT)
        for item in items:
            if item != expected:
                raise RuntimeError(f"out of order: expected {expected}, got {item!r}")
            expected += 1
    out.put(("consumer", time.monotonic_ns()))


def _mp_producer(q: mp.Queue[Any], n: int, batch: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    barrier.wait(_CHILD_TIMEOUT)
    t0 = time.monotonic_ns()
    if batch == 1:
        for i in range(n):
            q.put(i)
    else:
        for start in range(0, n, batch):
            q.put(list(range(start, min(n, start + batch))))
    out.put(("producer", t0))
    # Process exit joins the feeder thread, so everything put is flushed to the pipe.


def _mp_consumer(q: mp.Queue[Any], n: int, batch: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    barrier.wait(_CHILD_TIMEOUT)
    expected = 0
    while expected < n:
        got = q.get(timeout=_GET_TIMEOUT)
        for item in [got] if batch == 1 else got:
            if item != expected:
                raise RuntimeError(f"out of order: expected {expected}, got {item!r}")
            expected += 1
    out.put(("consumer", time.monotonic_ns()))


def _wb_producer(q: chute.Queue, n: int, batch: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    q.len()  # connects before the clock starts
    barrier.wait(_CHILD_TIMEOUT)
    t0 = time.monotonic_ns()
    for i in range(n):
        q.put(i)
    out.put(("producer", t0))
    q.close()
    q.join_thread()  # what process exit would do


def _wb_consumer(q: chute.Queue, n: int, batch: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    q.len()
    barrier.wait(_CHILD_TIMEOUT)
    for expected in range(n):
        item = q.get(timeout=_GET_TIMEOUT)
        if item != expected:
            raise RuntimeError(f"out of order: expected {expected}, got {item!r}")
    out.put(("consumer", time.monotonic_ns()))


def _raw_queue(kind: str, where: str) -> RawSQLite | RawRedis:
    return RawSQLite(where) if kind == "sqlite" else RawRedis(where, key="bench:xproc", reset=False)


def _raw_producer(kind: str, where: str, n: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    q = _raw_queue(kind, where)
    barrier.wait(_CHILD_TIMEOUT)
    t0 = time.monotonic_ns()
    for i in range(n):
        q.put(i)
    out.put(("producer", t0))


def _raw_consumer(kind: str, where: str, n: int, barrier: Barrier, out: mp.Queue[Any]) -> None:
    q = _raw_queue(kind, where)
    barrier.wait(_CHILD_TIMEOUT)
    for expected in range(n):
        item = q.get_wait(_GET_TIMEOUT)
        if item != expected:
            raise RuntimeError(f"out of order: expected {expected}, got {item!r}")
    out.put(("consumer", time.monotonic_ns()))


# -- across processes: the parent ----------------------------------------------------------------


def _run_pair(producer: Callable[..., None], consumer: Callable[..., None], args: tuple[Any, ...]) -> float:
    """Start producer and consumer with ``args``; return end-to-end seconds."""
    barrier = _CTX.Barrier(2)
    out: mp.Queue[Any] = _CTX.Queue()
    procs = [
        _CTX.Process(target=producer, args=(*args, barrier, out), name="bench-producer"),
        _CTX.Process(target=consumer, args=(*args, barrier, out), name="bench-consumer"),
    ]
    for p in procs:
        p.start()
    try:
        stamps: dict[str, int] = {}
        deadline = time.monotonic() + _CHILD_TIMEOUT
        while len(stamps) < 2:
            try:
                role, ns = out.get(timeout=0.5)
                stamps[role] = ns
            except stdlib_queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    codes = [(p.name, p.exitcode) for p in procs]
                    raise RuntimeError(f"cross-process run failed: {codes}") from None
        for p in procs:
            p.join(_CHILD_TIMEOUT)
        return (stamps["consumer"] - stamps["producer"]) / 1e9
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()


@dataclass
class PairSystem:
    name: str
    shape: str
    run_once: Callable[[], float] | None  # seconds for one run; None when unavailable
    target: float | None = None  # the least "x mp.Queue" (per item) issue 17 asks of this row
    unavailable: str | None = None
    raw: str | None = None  # the hand-written row on the same store, its ceiling


def _chute_pair(url: str, n: int, batch: int) -> Callable[[], float]:
    def once() -> float:
        q = ChuteQueue(url)  # a fresh ephemeral queue per run
        try:
            return _run_pair(_chute_producer, _chute_consumer, (url, q.q.object_id, n, batch))
        finally:
            q.close()

    return once


def _wb_pair(url: str, n: int) -> Callable[[], float] | None:
    """Write-behind, used as a multiprocessing program would: the parent makes the queue and
    hands it to its children (who find the backend through the CHUTE_URL they inherit)."""
    if "write_behind" not in inspect.signature(chute.Queue).parameters:
        return None  # a chute without write-behind (a "before" run)

    def once() -> float:
        saved = os.environ.get("CHUTE_URL")
        os.environ["CHUTE_URL"] = url
        try:
            q = chute.Queue(write_behind=True)  # type: ignore[call-arg, unused-ignore]
            return _run_pair(_wb_producer, _wb_consumer, (q, n, 1))
        finally:
            if saved is None:
                del os.environ["CHUTE_URL"]
            else:
                os.environ["CHUTE_URL"] = saved

    return once


def _raw_pair(kind: str, where: str, n: int) -> Callable[[], float]:
    def once() -> float:
        _raw_queue(kind, where).close()  # creates the table / empties the list
        return _run_pair(_raw_producer, _raw_consumer, (kind, where, n))

    return once


def _mp_pair(n: int, batch: int) -> Callable[[], float]:
    def once() -> float:
        q: mp.Queue[Any] = _CTX.Queue()
        try:
            return _run_pair(_mp_producer, _mp_consumer, (q, n, batch))
        finally:
            q.close()

    return once


MP_ITEM = "mp.Queue"
MP_LISTS = "mp.Queue lists"


ITEM = "put / get each item"
WB = "write-behind put / get each item"
RAW_SQLITE = "raw sqlite3"
RAW_REDIS = "raw redis-py"
PER_ITEM_TARGET, WB_TARGET, BATCH_TARGET = 0.3, 1.0, 2.0


def _systems(env: Env, n: int, b: int) -> list[PairSystem]:
    batch = f"put_many / get_many({b:,})"
    systems = [
        PairSystem(MP_ITEM, ITEM, _mp_pair(n, 1)),
        PairSystem(MP_LISTS, f"put / get lists of {b:,}", _mp_pair(n, b)),
        PairSystem(RAW_SQLITE, f"{ITEM} (polling get)", _raw_pair("sqlite", env.sqlite_path("xproc-raw"), n)),
        PairSystem("chute-sqlite", batch, _chute_pair(env.sqlite_url("xproc"), n, b), BATCH_TARGET),
        PairSystem(
            "chute-sqlite",
            ITEM,
            _chute_pair(env.sqlite_url("xproc-item"), n, 1),
            PER_ITEM_TARGET,
            raw=RAW_SQLITE,
        ),
    ]
    wb = _wb_pair(env.sqlite_url("xproc-wb"), n)
    systems.append(
        PairSystem("chute-sqlite", WB, wb, WB_TARGET, None if wb else "this chute has no write-behind")
    )
    if env.redis_url is not None:
        url = env.redis_url
        down = None if env.chute_redis_ok else f"not measured ({env.chute_redis_error})"
        ok = env.chute_redis_ok
        wb = _wb_pair(url, n) if ok else None
        systems += [
            PairSystem(RAW_REDIS, f"{ITEM} (RPUSH / BLPOP)", _raw_pair("redis", url, n)),
            PairSystem("chute-redis", batch, _chute_pair(url, n, b) if ok else None, BATCH_TARGET, down),
            PairSystem(
                "chute-redis", ITEM, _chute_pair(url, n, 1) if ok else None, PER_ITEM_TARGET, down, RAW_REDIS
            ),
            PairSystem(
                "chute-redis", WB, wb, WB_TARGET, down or (None if wb else "this chute has no write-behind")
            ),
        ]
    return systems


def run_cross_process(env: Env, scale: Scale) -> tuple[ResultTable, dict[str, Any]]:
    n, b = scale.xproc_items, scale.batch_size
    systems = _systems(env, n, b)
    rates: dict[tuple[str, str], list[float]] = {}
    for rep in range(scale.xproc_reps):
        # Rotate the order per repetition so no system always runs first (cold page cache etc.).
        k = rep % len(systems)
        for s in systems[k:] + systems[:k]:
            if s.run_once is not None:
                settle()
                rates.setdefault((s.name, s.shape), []).append(n / s.run_once())

    table = ResultTable(
        f"3b. Throughput across processes: 1 producer → 1 consumer, {n:,} ints end to end",
        ["system", "shape", "items/s", "min", "max", f"x {MP_ITEM}", f"x {MP_LISTS}", "x raw", "target"],
    )
    med = {key: summarize(r).p50 for key, r in rates.items()}
    mp_item = med.get((MP_ITEM, systems[0].shape))
    mp_lists = med.get((MP_LISTS, systems[1].shape))
    raw = {s.name: med.get((s.name, s.shape)) for s in systems if s.name in (RAW_SQLITE, RAW_REDIS)}
    data: dict[str, Any] = {}
    for s in systems:
        key = (s.name, s.shape)
        label = f"{s.name} [{s.shape}]"
        if key not in rates:
            table.add_row(s.name, s.shape, *[NA] * 7)
            data[label] = {"unavailable": s.unavailable}
            continue
        st = summarize(rates[key])
        r_item, r_lists = ratio(st.p50, mp_item), ratio(st.p50, mp_lists)
        r_raw = ratio(st.p50, raw.get(s.raw)) if s.raw else None
        is_mp = s.name.startswith("mp.")
        target = ""
        if s.target is not None:
            target = f"≥{s.target:g}x: {verdict(r_item is not None and r_item >= s.target)}"
        table.add_row(
            s.name,
            s.shape,
            fmt_rate(st.p50),
            fmt_rate(st.min),
            fmt_rate(st.max),
            "—" if is_mp else fmt_ratio(r_item),
            "—" if is_mp else fmt_ratio(r_lists),
            fmt_ratio(r_raw) if s.raw else "—",
            target,
        )
        data[label] = {
            "items_per_s": st.as_dict(),
            "runs": rates[key],
            "vs_mp_item": r_item,
            "vs_mp_lists": r_lists,
            "vs_raw": r_raw,
            "target_vs_mp_item": s.target,
        }
    table.notes.append(
        f"Median of {scale.xproc_reps} run(s); x = rate / mp.Queue's (per item) or / the hand-written "
        "queue on the same store (x raw), higher is better. Spawned processes, timed from the producer's "
        "first put to the consumer's last item. Targets (issue 17) are against mp.Queue per item."
    )
    table.notes.append(
        "chute queues keep their default cap of 5,000 items per partition, so a producer that runs "
        "ahead blocks until the consumer makes room; mp.Queue is unbounded. Write-behind: the parent makes "
        "chute.Queue(write_behind=True) and passes it to both children; the producer's put returns once "
        "buffered, its feeder thread writes batches, close() + join_thread() flush at the end."
    )
    table.notes.append(
        "raw sqlite3: BEGIN IMMEDIATE / INSERT / COMMIT per put, DELETE … RETURNING per get, polling "
        "an empty table every 50 µs (no wake-ups, no caps, no TTLs); raw redis-py: RPUSH / BLPOP of "
        "pickles. They are the ceiling of an acknowledged, item-at-a-time queue on that store."
    )
    table.notes.extend(unavailable_notes(s.unavailable for s in systems))
    return table, data


def run(env: Env, scale: Scale) -> Report:
    t_in, d_in = run_in_process(env, scale)
    t_x, d_x = run_cross_process(env, scale)
    return Report([t_in, t_x], {"throughput_in_process": d_in, "throughput_cross_process": d_x})
