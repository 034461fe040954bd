"""Jobs, chute only: the rows issue 11 sets targets for that have no peer column here.

1. ``map`` of 10,000 no-op inputs (``noop``: 2 executors, as in the ``jobs`` group), inputs/s
   from the first submit to the last result; supervisor and executor RSS idle and at the
   peak of the map.
2. 1,000 ``asyncio.sleep(0.1)`` calls of an ``@chute.concurrent(max_inputs=100)`` function
   on one executor (``max_containers=1``): seconds from ``map`` to the last result
   (the floor is 1.0 s: ten waves of 100).
3. A worker serving 4 busy functions with the default ``--max-executors``: peak RSS of the
   supervisor plus all its executors, and the peak executor count.

Run alone: ``.venv/bin/python bench/jobs_chute.py [--quick] [--backend sqlite|redis]``, or
as the ``jobs-chute`` group of ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench._env import Env, bench_env  # noqa: E402
from bench._harness import NA, Report, ResultTable, Scale, unavailable_notes  # noqa: E402

APP_FILE = ROOT / "bench" / "_jobs_app.py"
MB = 1024 * 1024


@dataclass
class Memory:
    supervisor_mb: float = 0.0
    executor_mb: float = 0.0  # the largest executor
    total_mb: float = 0.0  # supervisor + all executors
    executors: int = 0


def _sample(pid: int) -> Memory:
    m = Memory()
    try:
        sup = psutil.Process(pid)
        m.supervisor_mb = sup.memory_info().rss / MB
        m.total_mb = m.supervisor_mb
        for child in sup.children():
            try:
                rss = child.memory_info().rss / MB
            except psutil.Error:
                continue
            m.executors += 1
            m.executor_mb = max(m.executor_mb, rss)
            m.total_mb += rss
    except psutil.Error:
        pass
    return m


class PeakMemory:
    """Samples a worker's tree every 20 ms in a thread; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, Memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            m = _sample(self.pid)
            p = self.peak
            p.supervisor_mb = max(p.supervisor_mb, m.supervisor_mb)
            p.executor_mb = max(p.executor_mb, m.executor_mb)
            p.total_mb = max(p.total_mb, m.total_mb)
            p.executors = max(p.executors, m.executors)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class ChuteRows:
    map_n: int
    map_inputs_per_s: float
    idle: Memory
    during_map: Memory
    async_n: int
    async_seconds: float
    four_functions: Memory
    four_functions_seconds: float


def _worker(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHUTE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", str(APP_FILE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def measure(url: str, n_map: int, n_async: int) -> ChuteRows:
    os.environ["CHUTE_URL"] = url
    from bench import _jobs_app as ja

    worker = _worker(url)
    try:
        deadline = time.monotonic() + 60
        while True:  # the worker deploys the app, then the first calls warm the executors
            try:
                ja.noop.remote(0)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        list(ja.noop.map(range(100)))
        list(ja.async_sleep.map(range(10)))
        time.sleep(0.5)
        idle = _sample(worker.pid)
        with PeakMemory(worker.pid) as during:
            t0 = time.perf_counter()
            got = list(ja.noop.map(range(n_map)))
            map_s = time.perf_counter() - t0
        assert got == list(range(n_map)), "map returned wrong results"
        t0 = time.perf_counter()
        got = list(ja.async_sleep.map(range(n_async)))
        async_s = time.perf_counter() - t0
        assert got == list(range(n_async))
        fns = [ja.busy_a, ja.busy_b, ja.busy_c, ja.busy_d]
        with PeakMemory(worker.pid) as four:
            t0 = time.perf_counter()
            for fn in fns:
                fn.spawn_map(range(200))
            for fn in fns:
                fn.for_each(range(20))
            four_s = time.perf_counter() - t0
        return ChuteRows(n_map, n_map / map_s, idle, during.peak, n_async, async_s, four.peak, four_s)
    finally:
        _stop(worker)


def _fmt(m: Memory) -> str:
    return f"{m.supervisor_mb:.0f} / {m.executor_mb:.0f} / {m.total_mb:.0f} MB ({m.executors} executors)"


def run(env: Env, scale: Scale) -> Report:
    n_map, n_async = (2000, 1000) if scale.quick else (10_000, 1000)
    rows: dict[str, ChuteRows | None] = {}
    reasons: dict[str, str] = {}
    for name, url in (("chute-sqlite", env.sqlite_url("jobs-chute-rows")), ("chute-redis", env.redis_url)):
        if url is None or (name == "chute-redis" and not env.chute_redis_ok):
            reasons[name] = (
                f"{name}: no Redis server in this run" if url is None else str(env.chute_redis_error)
            )
            rows[name] = None
            continue
        if name == "chute-redis":
            url = url.rsplit("/", 1)[0] + "/15"  # a database of its own (6a uses 1-6)
        try:
            rows[name] = measure(url, n_map, n_async)
        except Exception as exc:
            rows[name] = None
            reasons[name] = f"{name} failed: {exc}"
    table = ResultTable(
        "6d. Jobs, chute only: map, concurrent async calls, memory (issue 11; 6a-6c: with peers)",
        [
            "system",
            f"map {n_map:,} no-ops",
            "target",
            f"{n_async:,} x sleep(0.1), 100 at once",
            "target",
            "RSS idle sup / exec / total",
            "RSS during map",
            "4 functions, default cap: peak",
        ],
    )
    data: dict[str, Any] = {}
    for name, r in rows.items():
        if r is None:
            table.add_row(name, *[NA] * 7)
            continue
        table.add_row(
            name,
            f"{r.map_inputs_per_s:,.0f} inputs/s",
            ">= 10,000/s",
            f"{r.async_seconds:.2f} s",
            "<= 1.5 s",
            _fmt(r.idle),
            _fmt(r.during_map),
            _fmt(r.four_functions) + " (<= 200 MB)",
        )
        data[name] = asdict(r)
    table.notes.append(
        "map: noop (max_containers=2: two executors, as in 6a), from the first submit to the last "
        "result; inputs go 64 per stored call (map chunks, docs/guides/jobs.md), 1,000 inputs per "
        "round trip, and results are read 1,000 calls per round trip. "
        "RSS: supervisor / largest executor / supervisor + all executors."
    )
    table.notes.extend(unavailable_notes(reasons.values()))
    return Report([table], {"jobs_chute": data})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    args = parser.parse_args(argv)
    scale = Scale.small() if args.quick else Scale.full()
    with bench_env(args.backend != "sqlite") as env:
        if args.backend == "redis":
            env.sqlite_url = lambda name: None  # type: ignore[method-assign,assignment,return-value]
        report = run(env, scale)
    from rich.console import Console

    console = Console(width=200)
    for t in report.tables:
        console.print(t.to_rich())
    return 0


if __name__ == "__main__":
    sys.exit(main())
