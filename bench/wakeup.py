"""Cross-process wake-up latency of a blocked ``get()``, and the CPU an idle blocked getter burns.

Wake-up: a spawned consumer says "ready" on a pipe and blocks in ``get()`` on an empty queue;
the parent sleeps a random 2-8 ms (so the consumer is really asleep in its wait, not still
registering), then puts ``time.monotonic_ns()``. The consumer subtracts that stamp from its
own clock on receipt. CLOCK_MONOTONIC is system-wide on Linux, so the two clocks agree. The
latency therefore covers the whole put (serialize, commit, notify) plus the wake-up and the
get that follows it. A raw redis-py row (RPUSH / BLPOP of pickles, no chute) shows what a
wake-up through a Redis server costs at least: the put and the item each cross a socket.

Idle CPU: consumers block in ``get(timeout=T)`` on empty queues, all at once (they are idle,
so they do not disturb each other), and report the user+system CPU time their process used
(``os.times()``, all threads) while blocked.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue as stdlib_queue
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

import chute
from bench._env import Env
from bench._harness import (
    NA,
    Report,
    ResultTable,
    Scale,
    fmt_ns,
    fmt_ratio,
    ratio,
    summarize,
    unavailable_notes,
    verdict,
)
from bench._subjects import ChuteQueue, RawRedis

_CTX = mp.get_context("spawn")
_TIMEOUT = 120.0

# -- the consumer side (module-level, so spawn can pickle it) ----------------------------------


def _chute_getter(url: str, qid: str, aio: bool) -> Callable[[float | None], Any]:
    """A blocking ``get(timeout)`` on queue ``qid``, sync or through ``.aio`` on a private loop."""
    os.environ["CHUTE_URL"] = url  # the child's own environment, as a separate program's
    q = chute.Queue.from_id(qid)
    q.hydrate()
    if not aio:
        q.len()  # opens the connection up front

        def get(timeout: float | None) -> Any:
            return q.get(timeout=timeout)

        return get
    loop = asyncio.new_event_loop()
    loop.run_until_complete(q.len.aio())

    def get_aio(timeout: float | None) -> Any:
        return loop.run_until_complete(q.get.aio(timeout=timeout))

    return get_aio


@dataclass(frozen=True)
class _Raw:
    """A raw redis-py list for the consumer to BLPOP (picklable, for spawn)."""

    url: str
    key: str


def _wakeup_consumer(
    target: tuple[str, str, bool] | _Raw | mp.Queue[Any], rounds: int, conn: Connection
) -> None:
    get: Callable[[float | None], Any]
    if isinstance(target, _Raw):
        raw = RawRedis(target.url, key=target.key, reset=False)
        raw.r.ping()  # connects before the first timed round

        def get(timeout: float | None) -> Any:
            return raw.get_wait(timeout or _TIMEOUT)

    elif isinstance(target, tuple):
        get = _chute_getter(*target)
    else:
        mpq = target

        def get(timeout: float | None) -> Any:
            return mpq.get(timeout=timeout)

    latencies = []
    for _ in range(rounds):
        conn.send("ready")
        sent_ns = get(_TIMEOUT)
        latencies.append(time.monotonic_ns() - sent_ns)
    conn.send(latencies)


def _idle_consumer(target: tuple[str, str, bool] | mp.Queue[Any], seconds: float, conn: Connection) -> None:
    get: Callable[[float | None], Any]
    if isinstance(target, tuple):
        get = _chute_getter(*target)
    else:
        mpq = target

        def get(timeout: float | None) -> Any:
            return mpq.get(timeout=timeout)

    # os.times() counts in clock ticks (10 ms); process_time() reads the same per-process
    # counter with nanosecond resolution, so both are reported.
    before, cpu0, wall0 = os.times(), time.process_time(), time.monotonic()
    try:
        item = get(seconds)
    except stdlib_queue.Empty:
        item = None
    after, cpu1, wall1 = os.times(), time.process_time(), time.monotonic()
    if item is not None:
        raise RuntimeError(f"idle queue returned {item!r}")
    ticks = (after.user - before.user) + (after.system - before.system)
    conn.send(IdleResult(cpu1 - cpu0, ticks, wall1 - wall0))


@dataclass(frozen=True)
class IdleResult:
    cpu_s: float  # time.process_time() delta
    os_times_s: float  # os.times() user+system delta
    wall_s: float


# -- the parent side ---------------------------------------------------------------------------


@dataclass
class WakeSystem:
    name: str
    url: str | None  # chute URL (a Redis URL with raw), or None for multiprocessing.Queue
    aio: bool = False
    unavailable: str | None = None
    raw: bool = False  # redis-py RPUSH / BLPOP on url, no chute: wake-up only (no idle row)


RAW_REDIS = "raw redis-py (RPUSH / BLPOP)"


def _systems(env: Env) -> list[WakeSystem]:
    down = None if env.chute_redis_ok else f"not measured ({env.chute_redis_error})"
    systems = [
        WakeSystem("chute-sqlite", env.sqlite_url("wakeup")),
        WakeSystem("chute-sqlite .aio consumer", env.sqlite_url("wakeup-aio"), aio=True),
    ]
    if env.redis_url is not None:
        systems += [
            WakeSystem("chute-redis", env.redis_url, unavailable=down),
            WakeSystem("chute-redis .aio consumer", env.redis_url, aio=True, unavailable=down),
            WakeSystem(RAW_REDIS, env.redis_url, raw=True),
        ]
    systems.append(WakeSystem("mp.Queue", None))
    return systems


class _Target:
    """The queue a system's consumer blocks on, and how the parent puts into it."""

    def __init__(self, s: WakeSystem) -> None:
        self._raw = RawRedis(s.url, key="bench:wakeup-raw") if s.raw and s.url is not None else None
        self._chute = ChuteQueue(s.url) if s.url is not None and not s.raw else None
        self._mpq: mp.Queue[Any] | None = _CTX.Queue() if s.url is None else None
        self.for_child: tuple[str, str, bool] | _Raw | mp.Queue[Any]
        if self._raw is not None:
            assert s.url is not None
            self.for_child = _Raw(s.url, self._raw.key)
        elif self._chute is not None:
            assert s.url is not None
            self.for_child = (s.url, self._chute.q.object_id, s.aio)
        else:
            assert self._mpq is not None
            self.for_child = self._mpq

    def put(self, v: Any) -> None:
        if self._raw is not None:
            self._raw.put(v)
        elif self._chute is not None:
            self._chute.put(v)
        else:
            assert self._mpq is not None
            self._mpq.put(v)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        if self._chute is not None:
            self._chute.close()
        if self._mpq is not None:
            self._mpq.close()


def _measure_wakeups(s: WakeSystem, rounds: int) -> list[int]:
    target = _Target(s)
    parent, child = _CTX.Pipe()
    proc = _CTX.Process(target=_wakeup_consumer, args=(target.for_child, rounds, child), name="bench-wakeup")
    proc.start()
    try:
        rng = random.Random(1234)
        for _ in range(rounds):
            if not parent.poll(_TIMEOUT) or parent.recv() != "ready":
                raise RuntimeError(f"{s.name}: the consumer stopped answering (exit code {proc.exitcode})")
            time.sleep(rng.uniform(0.002, 0.008))
            target.put(time.monotonic_ns())
        if not parent.poll(_TIMEOUT):
            raise RuntimeError(f"{s.name}: no latencies from the consumer (exit code {proc.exitcode})")
        latencies: list[int] = parent.recv()
        proc.join(_TIMEOUT)
        return latencies
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        target.close()


def _measure_idle(systems: list[WakeSystem], seconds: float) -> dict[str, IdleResult]:
    """CPU used per system while blocked; all consumers block at the same time."""
    running = []
    try:
        for s in systems:
            target = _Target(s)
            parent, child = _CTX.Pipe()
            proc = _CTX.Process(
                target=_idle_consumer, args=(target.for_child, seconds, child), name="bench-idle"
            )
            proc.start()
            running.append((s, target, parent, proc))
        out = {}
        for s, _, parent, proc in running:
            if not parent.poll(seconds + _TIMEOUT):
                raise RuntimeError(f"{s.name}: the idle consumer did not report (exit code {proc.exitcode})")
            out[s.name] = parent.recv()
            proc.join(_TIMEOUT)
        return out
    finally:
        for _, target, _, proc in running:
            if proc.is_alive():
                proc.kill()
                proc.join()
            target.close()


def run(env: Env, scale: Scale) -> Report:
    systems = _systems(env)
    live = [s for s in systems if s.unavailable is None]
    total = scale.wakeup_warmup + scale.wakeup_rounds
    wake = {s.name: _measure_wakeups(s, total)[scale.wakeup_warmup :] for s in live}
    idle = _measure_idle([s for s in live if not s.raw], scale.idle_seconds)

    wt = ResultTable(
        "4. Blocking get() wake-up latency across processes (put → consumer has the item)",
        ["system", "n", "p50", "p90", "p99", "max", "mean", "p50 x mp.Queue", "target p50 ≤ mp.Queue's"],
    )
    it = ResultTable(
        f"5. Idle CPU of a consumer blocked in get(timeout={scale.idle_seconds:g}) on an empty queue",
        ["system", "wall", "CPU (process_time)", "CPU (os.times)", "CPU %"],
    )
    data: dict[str, Any] = {"wakeup": {}, "idle_cpu": {}}
    mp_p50 = summarize(wake["mp.Queue"]).p50 if "mp.Queue" in wake else None
    for s in systems:
        if s.name not in wake:
            wt.add_row(s.name, *[NA] * 8)
            if not s.raw:
                it.add_row(s.name, *[NA] * 4)
            data["wakeup"][s.name] = data["idle_cpu"][s.name] = {"unavailable": s.unavailable}
            continue
        lat = wake[s.name]
        st = summarize(lat)
        p90 = sorted(lat)[int(0.9 * (len(lat) - 1))]
        wt.add_row(
            s.name,
            str(st.n),
            fmt_ns(st.p50),
            fmt_ns(p90),
            fmt_ns(st.p99),
            fmt_ns(st.max),
            fmt_ns(st.mean),
            "—" if s.url is None else fmt_ratio(ratio(st.p50, mp_p50)),
            "" if s.url is None or s.raw else verdict(None if mp_p50 is None else st.p50 <= mp_p50),
        )
        if s.raw:
            data["wakeup"][s.name] = {
                "latency_ns": st.as_dict(),
                "p90_ns": p90,
                "p50_vs_mp": ratio(st.p50, mp_p50),
            }
            continue
        r = idle[s.name]
        it.add_row(
            s.name,
            f"{r.wall_s:.2f} s",
            f"{r.cpu_s * 1000:.1f} ms",
            f"{r.os_times_s * 1000:.0f} ms",
            f"{100 * r.cpu_s / r.wall_s:.3f} %",
        )
        data["wakeup"][s.name] = {
            "latency_ns": st.as_dict(),
            "p90_ns": p90,
            "p50_vs_mp": ratio(st.p50, mp_p50),
        }
        data["idle_cpu"][s.name] = asdict(r)
    wt.notes.append(
        f"{scale.wakeup_rounds} wake-ups per system after {scale.wakeup_warmup} untimed ones; the parent "
        "sleeps 2-8 ms before each put so the consumer is blocked. Latency = consumer's receive time - "
        "the time.monotonic_ns() stamp taken just before the put, so it includes the whole put."
    )
    it.notes.append(
        "CPU = user+system time of the consumer process (all threads) while blocked, measured inside "
        "it; os.times() counts 10 ms clock ticks, so 0 ms there means under one tick."
    )
    for t in (wt, it):
        t.notes.extend(unavailable_notes(s.unavailable for s in systems))
    return Report([wt, it], data)
