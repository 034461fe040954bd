"""Samples queue depth and job activity every few seconds into ring buffers.

The dashboard's charts and ``/metrics`` read from here. Finished calls are *observed* once
each (their ids are remembered while they appear in the latest listing), which feeds the
throughput chart (binned by ``finished_at``) and the latency histogram (``finished_at -
started_at``). A burst of more than ``CALLS_PER_POLL`` finishes between two polls is
undercounted; the counts are a monitoring aid, not an audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from chute._async import inspection
from chute._client import Client
from chute.backends.types import CallState
from chute.queue import Queue

log = logging.getLogger("chute.http")

CALLS_PER_POLL = 500
THROUGHPUT_BARS = 120
STOP_TIMEOUT = 10.0
MAX_QUEUES = 200
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
FINISHED_STATES = (CallState.SUCCEEDED, CallState.FAILED, CallState.CANCELLED)


@dataclass
class Histogram:
    """A cumulative Prometheus-style histogram (``counts[i]`` = observations <= bucket i)."""

    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, value: float) -> None:
        """Add one observation."""
        self.total += 1
        self.sum += value
        for i, bound in enumerate(LATENCY_BUCKETS):
            if value <= bound:
                self.counts[i] += 1


@dataclass(frozen=True)
class Sample:
    """One tick: total depth of each queue, and the jobs backlog."""

    t: float
    queues: dict[str, int]
    pending: int
    running: int


@dataclass
class EnvHistory:
    """What the sampler keeps for one environment."""

    samples: deque[Sample]
    finished: deque[tuple[float, str]]  # (finished_at, state) of observed calls, last hour
    latency: dict[tuple[str, str], Histogram] = field(default_factory=dict)  # (app, function)
    finished_total: dict[tuple[str, str, str], int] = field(default_factory=dict)  # + state
    seen: dict[str, set[str]] = field(default_factory=dict)  # state -> ids in the last listing
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Sampler:
    """Background sampling of the watched environments (start with ``run`` as a task)."""

    def __init__(self, envs: tuple[str, ...], interval: float, history_seconds: float) -> None:
        self.interval = interval
        self.history_seconds = history_seconds
        slots = max(2, int(history_seconds / interval) + 1)
        # Throughput is binned coarser than the samples: ~120 bars over the window.
        self.throughput_bin = max(interval, history_seconds / THROUGHPUT_BARS)
        self._stop = asyncio.Event()
        self.envs = {env: EnvHistory(deque(maxlen=slots), deque(maxlen=100_000)) for env in envs}

    async def run(self) -> None:
        """Sample until ``stop()``; a failing tick is logged and skipped."""
        while not self._stop.is_set():
            for env in self.envs:
                try:
                    await self.sample(env)
                except Exception as exc:  # a backend blip must not end the sampling
                    log.debug("sampling %s failed: %s", env, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def stop(self, task: asyncio.Task[None]) -> None:
        """End ``task`` (running ``run``): set the stop flag, cancel it, and wait a bounded time.

        The flag matters: redis-py sometimes swallows a cancellation that lands mid-command,
        and the loop would then go on sampling forever.
        """
        self._stop.set()
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves, not just the sampler
        except TimeoutError:
            log.warning("the sampler did not stop within %g s", STOP_TIMEOUT)

    async def sample(self, env: str) -> None:
        """Record one tick for ``env`` and observe newly finished calls."""
        hist = self.envs[env]
        depths: dict[str, int] = {}
        for q in await Queue.objects.list.aio(environment_name=env, max_objects=MAX_QUEUES):
            with contextlib.suppress(Exception):  # deleted meanwhile
                depths[q.name or "?"] = await q.len.aio(total=True)
        pending = running = 0
        with contextlib.suppress(Exception):  # jobs may be unavailable on this backend
            for view in await inspection.functions(Client.from_env(), env):
                pending += view.stats.pending
                running += view.stats.running
            await self.observe_calls(env)
        hist.samples.append(Sample(time.time(), depths, pending, running))

    async def observe_calls(self, env: str) -> None:
        """Count calls that finished since the last look (idempotent, safe to call any time)."""
        hist = self.envs.get(env)
        if hist is None:
            return
        client = Client.from_env()
        async with hist.lock:
            for state in FINISHED_STATES:
                records = await inspection.calls(client, env, state=state, limit=CALLS_PER_POLL)
                before = hist.seen.get(state.value, set())
                for r in records:
                    if r.id in before or r.finished_at is None:
                        continue
                    key = (r.app, r.function, state.value)
                    hist.finished_total[key] = hist.finished_total.get(key, 0) + 1
                    hist.finished.append((r.finished_at, state.value))
                    if r.started_at is not None:
                        h = hist.latency.setdefault((r.app, r.function), Histogram())
                        h.observe(max(0.0, r.finished_at - r.started_at))
                hist.seen[state.value] = {r.id for r in records}

    def series(self, env: str, top: int = 8) -> dict[str, object]:
        """Chart data for the last ``history_seconds``: queue depths (the ``top`` deepest queues
        and the total), jobs backlog, and finished calls per interval by state."""
        hist = self.envs.get(env)
        if hist is None:
            return {}
        samples = list(hist.samples)
        latest = samples[-1].queues if samples else {}
        names = sorted(latest, key=lambda n: -latest[n])[:top]
        now = time.time()
        start = now - self.history_seconds
        width = self.throughput_bin
        bins = int(self.history_seconds / width) + 1
        throughput = {s.value: [0] * bins for s in FINISHED_STATES}
        for finished_at, state in hist.finished:
            i = int((finished_at - start) / width)
            if 0 <= i < bins:
                throughput[state][i] += 1
        return {
            "now": now,
            "window": self.history_seconds,  # the charts' time axes cover [now - window, now]
            "interval": self.interval,
            "t": [s.t for s in samples],
            "queues": {n: [s.queues.get(n, 0) for s in samples] for n in names},
            "total": [sum(s.queues.values()) for s in samples],
            "pending": [s.pending for s in samples],
            "running": [s.running for s in samples],
            "throughput_start": start,
            "throughput_bin": width,
            "throughput": throughput,
        }
