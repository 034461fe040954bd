"""Batch throughput: in one process, and from a producer process to a consumer process.

In-process: ``put_many`` of a batch then ``get_many`` of the same batch, timed separately.

Across processes: one spawned producer sends N items, one spawned consumer takes them. Both
start, connect and hydrate, then meet at a barrier, so interpreter start-up is not timed;
the clock runs from the producer's first put to the consumer's last item (CLOCK_MONOTONIC,
which is system-wide on Linux, so the two processes' timestamps are comparable).
"""

from __future__ import annotations

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
        ["system", "put_many", "get_many", "put+get", "baseline", "put_many x", "get_many x", "put+get x"],
    )
    data: dict[str, Any] = {}
    medians: dict[str, list[float]] = {}
    for s in systems:
        if s.name not in results:
            table.add_row(s.name, *[NA] * 7)
            data[s.name] = {"unavailable": s.unavailable}
            continue
        stats = [summarize(x) for x in results[s.name]]
        medians[s.name] = [st.p50 for st in stats]
        base = medians.get(s.baseline) if s.baseline else None
        ratios = [ratio(m, b) for m, b in zip(medians[s.name], base, strict=True)] if base else [None] * 3
        table.add_row(
            s.name,
            *[fmt_rate(m) for m in medians[s.name]],
            s.baseline or "—",
            *[fmt_ratio(r) if base else "—" for r in ratios],
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
    is_target: bool = False  # a chute batch row, held to "≥ mp.Queue per item"
    unavailable: str | None = None


def _chute_pair(url: str, n: int, batch: int) -> Callable[[], float]:
    def once() -> float:
        q = ChuteQueue(url)  # a fresh ephemeral queue per run
        try:
            return _run_pair(_chute_producer, _chute_consumer, (url, q.q.object_id, n, batch))
        finally:
            q.close()

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


def run_cross_process(env: Env, scale: Scale) -> tuple[ResultTable, dict[str, Any]]:
    n, b = scale.xproc_items, scale.batch_size
    systems = [
        PairSystem(MP_ITEM, "put / get each item", _mp_pair(n, 1)),
        PairSystem(MP_LISTS, f"put / get lists of {b:,}", _mp_pair(n, b)),
        PairSystem(
            "chute-sqlite", f"put_many / get_many({b:,})", _chute_pair(env.sqlite_url("xproc"), n, b), True
        ),
        PairSystem("chute-sqlite", "put / get each item", _chute_pair(env.sqlite_url("xproc-item"), n, 1)),
    ]
    if env.redis_url is not None:
        url = env.redis_url
        down = None if env.chute_redis_ok else f"not measured ({env.chute_redis_error})"
        ok = env.chute_redis_ok
        systems += [
            PairSystem(
                "chute-redis",
                f"put_many / get_many({b:,})",
                _chute_pair(url, n, b) if ok else None,
                True,
                down,
            ),
            PairSystem(
                "chute-redis", "put / get each item", _chute_pair(url, n, 1) if ok else None, False, down
            ),
        ]
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
        ["system", "shape", "items/s", "min", "max", f"x {MP_ITEM}", f"x {MP_LISTS}", "target ≥ mp.Queue"],
    )
    med = {key: summarize(r).p50 for key, r in rates.items()}
    mp_item = med.get((MP_ITEM, systems[0].shape))
    mp_lists = med.get((MP_LISTS, systems[1].shape))
    data: dict[str, Any] = {}
    for s in systems:
        key = (s.name, s.shape)
        label = f"{s.name} [{s.shape}]"
        if key not in rates:
            table.add_row(s.name, s.shape, *[NA] * 6)
            data[label] = {"unavailable": s.unavailable}
            continue
        st = summarize(rates[key])
        r_item, r_lists = ratio(st.p50, mp_item), ratio(st.p50, mp_lists)
        is_mp = s.name.startswith("mp.")
        target = verdict(r_item is not None and r_item >= 1.0) if s.is_target else ""
        table.add_row(
            s.name,
            s.shape,
            fmt_rate(st.p50),
            fmt_rate(st.min),
            fmt_rate(st.max),
            "—" if is_mp else fmt_ratio(r_item),
            "—" if is_mp else fmt_ratio(r_lists),
            target,
        )
        data[label] = {
            "items_per_s": st.as_dict(),
            "runs": rates[key],
            "vs_mp_item": r_item,
            "vs_mp_lists": r_lists,
        }
    table.notes.append(
        f"Median of {scale.xproc_reps} run(s); x = chute rate / mp.Queue rate, higher is better. "
        "Spawned processes, timed from the producer's first put to the consumer's last item."
    )
    table.notes.append(
        "chute queues keep their default cap of 5,000 items per partition, so a producer that runs "
        "ahead blocks until the consumer makes room; mp.Queue is unbounded."
    )
    table.notes.extend(unavailable_notes(s.unavailable for s in systems))
    return table, data


def run(env: Env, scale: Scale) -> Report:
    t_in, d_in = run_in_process(env, scale)
    t_x, d_x = run_cross_process(env, scale)
    return Report([t_in, t_x], {"throughput_in_process": d_in, "throughput_cross_process": d_x})
