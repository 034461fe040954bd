"""The submitter of the ``jobs`` benchmark: one system's client side, in that system's own venv.

    <venv>/bin/python -m bench.peers._submit '<json>'

``bench/jobs.py`` starts it after the system's workers; the JSON argument names the system
(``peer``: the module ``bench.peers.<peer>_peer``), the row (``jobs``, ``async``, or ``latency``:
round trips on request, see ``latency_server``), where the
store is (``url``) and the counts. It prints one JSON object on stdout: the timings, or
``{"error": ...}``. Anything the libraries print goes to stderr (the system's log), so stdout
carries nothing but that answer. This module imports neither chute nor any peer library.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Iterable
from typing import Any

URL_ENV = "BENCH_JOBS_URL"  # where the workers and the submitter find their store
ROW_ENV = "BENCH_JOBS_ROW"  # "jobs" (no-op, 2 at a time) or "async" (sleep(0.1), 100 at once)
QUEUE = "bench"  # queue / huey / saq name
SLEEP_S = 0.1  # the async row's job: asyncio.sleep(SLEEP_S)
# Poll interval for the systems that poll (their defaults are 0.1-10 s): workers and result waits.
POLL_S = 0.01


def store_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"{URL_ENV} is not set")
    return url


def row() -> str:
    return os.environ.get(ROW_ENV, "jobs")


class Driver:
    """One system's client side: a round trip, a batch split into enqueue and wait, and the
    async row's batch of sleeps. ``poll_s`` and ``timeout`` come from the parent."""

    fused = False  # True when the batch API enqueues and waits in one call (no enqueue timing)

    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        self.url, self.poll_s, self.timeout = url, poll_s, timeout

    def ready(self) -> None:
        """Wait until the workers may be sent jobs (most systems queue them until then)."""

    def one(self, x: int) -> Any:
        raise NotImplementedError

    def submit(self, xs: list[int]) -> Any:
        return xs

    def collect(self, handles: Any) -> list[Any]:
        raise NotImplementedError

    def map(self, xs: list[int]) -> list[Any]:
        """The ``map`` row: the system's batch API, submit and wait."""
        return self.collect(self.submit(xs))

    def sleeps(self, xs: list[int]) -> list[Any]:
        """The async row: run ``sleep_job(x)`` for each x (100 at once on the worker)."""
        raise NotImplementedError(f"{type(self).__name__} has no async row")

    def close(self) -> None:
        pass


class AsyncDriver(Driver):
    """Runs an asyncio client on a private loop; each call is one ``run_until_complete``."""

    def __init__(self, url: str, poll_s: float, timeout: float) -> None:
        super().__init__(url, poll_s, timeout)
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.close()


async def gather_bounded(coros: Iterable[Awaitable[Any]], limit: int = 32) -> list[Any]:
    """``asyncio.gather`` with at most ``limit`` awaiting at once: what streaq's own benchmark
    does for arq, saq, taskiq and streaq ("control the number of simultaneous connections")."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))


def check(got: list[Any], xs: Iterable[int], what: str) -> None:
    want = list(xs)
    if len(got) != len(want):
        raise RuntimeError(f"{what}: {len(got)} results for {len(want)} jobs")
    for g, w in zip(got, want, strict=True):
        if g != w:
            raise RuntimeError(f"{what}: job {w} returned {g!r}")


def _batch(driver: Driver, xs: list[int]) -> tuple[float, float]:
    """Seconds to enqueue ``xs`` (NaN when the API fuses enqueue and wait), and in total."""
    clock = time.perf_counter
    t0 = clock()
    handles = driver.submit(xs)
    t1 = clock()
    got = driver.collect(handles)
    t2 = clock()
    check(got, xs, "batch")
    return (float("nan") if driver.fused else t1 - t0), t2 - t0


def _timed(fn: Any, xs: list[int], what: str) -> float:
    gc.collect()
    t0 = time.perf_counter()
    got = fn(xs)
    seconds = time.perf_counter() - t0
    check(got, xs, what)
    return seconds


def jobs_row(driver: Driver, a: dict[str, Any]) -> dict[str, Any]:
    """Round trips, a batch of ``batch_jobs``, then a ``map`` of ``map_jobs`` (same workers)."""
    driver.ready()
    for i in range(a["warmup"]):
        check([driver.one(i)], [i], "warm-up job")
    _batch(driver, list(range(a["warmup_batch"])))
    gc.collect()
    clock = time.perf_counter_ns
    latencies = []
    stop = time.monotonic() + a["latency_budget"]
    for i in range(a["latency_jobs"]):
        if time.monotonic() > stop:
            break
        t0 = clock()
        got = driver.one(i)
        latencies.append(clock() - t0)
        check([got], [i], "round trip")
    gc.collect()
    enqueue_s, total_s = _batch(driver, list(range(a["batch_jobs"])))
    # A system that would need more than map_budget seconds for map_jobs at its batch rate maps
    # fewer (what fits, in thousands): RQ forking per job would take minutes for 10,000.
    fits = int(a["batch_jobs"] / total_s * a["map_budget"]) // 1000 * 1000
    map_n = min(a["map_jobs"], max(1000, fits))
    map_s = _timed(driver.map, list(range(map_n)), "map")
    out = {"latency_ns": latencies, "enqueue_s": enqueue_s, "total_s": total_s}
    return {**out, "map_n": map_n, "map_s": map_s}


def latency_server(driver: Driver, a: dict[str, Any], out: Any) -> None:
    """Round trips on request, so that bench/jobs.py can interleave the systems: after the
    warm-up, prints ``"ready"``; then each line on stdin (a count) gets that many sequential round
    trips, answered with their latencies (ns) as one JSON line. Ends at end of input."""
    driver.ready()
    for i in range(a["warmup"]):
        check([driver.one(i)], [i], "warm-up job")
    out.write(json.dumps("ready") + "\n")
    out.flush()
    clock = time.perf_counter_ns
    for line in sys.stdin:
        latencies = []
        for i in range(int(line)):
            t0 = clock()
            got = driver.one(i)
            latencies.append(clock() - t0)
            check([got], [i], "round trip")
        out.write(json.dumps(latencies) + "\n")
        out.flush()


def async_row(driver: Driver, a: dict[str, Any]) -> dict[str, Any]:
    """An untimed wave of sleeps (brings the worker up), then ``async_calls`` of them."""
    driver.ready()
    check(driver.sleeps(list(range(a["async_warmup"]))), range(a["async_warmup"]), "warm-up sleeps")
    return {"async_s": _timed(driver.sleeps, list(range(a["async_calls"])), "sleeps")}


def main(argv: list[str]) -> int:
    a = json.loads(argv[0])
    out = os.fdopen(os.dup(1), "w")  # the answer's channel; fd 1 now goes to the log with fd 2
    os.dup2(2, 1)
    os.environ[URL_ENV], os.environ[ROW_ENV] = a["url"], a["row"]
    try:
        module = importlib.import_module(f"bench.peers.{a['peer']}_peer")
        driver: Driver = module.Driver(a["url"], a["poll_s"], a["timeout"])
        try:
            if a["row"] == "latency":
                latency_server(driver, a, out)
                return 0
            result = (jobs_row if a["row"] == "jobs" else async_row)(driver, a)
        finally:
            driver.close()
    except BaseException as exc:
        traceback.print_exc()
        reason = " ".join("".join(traceback.format_exception_only(exc)).split())  # one line
        result = {"error": reason[:300]}
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
