"""CPU time per queue operation, chute-sqlite next to raw sqlite3 (diagnostics; run.py does not call it).

    .venv/bin/python bench/cpu_queue.py putget     # single put+get, chute vs raw, alternating rounds
    .venv/bin/python bench/cpu_queue.py stream     # write-behind producer -> consumer vs mp.Queue

Wall-clock percentiles on a shared, loaded machine move by +-0.3x from run to run; CPU time
(``time.process_time``) of the same work, alternated in one process, is what to compare.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._subjects import ChuteQueue, RawSQLite  # noqa: E402

VALUE = 12345


def _cpu_per_pair(q: Any, n: int) -> float:
    put, get = q.put, q.get
    t = time.process_time()
    for _ in range(n):
        put(VALUE)
        get()
    return (time.process_time() - t) / n * 1e6


def putget(rounds: int = 7, n: int = 2000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        chute_q = ChuteQueue(f"sqlite:///{tmp}/chute.db")
        raw = RawSQLite(f"{tmp}/raw.db")
        _cpu_per_pair(chute_q, 200)
        _cpu_per_pair(raw, 200)
        ratios, cs, rs = [], [], []
        for _ in range(rounds):
            c = _cpu_per_pair(chute_q, n)
            r = _cpu_per_pair(raw, n)
            cs.append(c)
            rs.append(r)
            ratios.append(c / r)
        chute_q.close()
        print(
            f"put+get CPU µs: chute {statistics.median(cs):.0f}, raw {statistics.median(rs):.0f}; "
            f"ratio median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})"
        )


def _wb_producer(q: Any, n: int, out: Any) -> None:
    t0, c0 = time.monotonic(), time.process_time()
    for i in range(n):
        q.put(i)
    q.close()
    q.join_thread()
    out.put(("producer", time.monotonic() - t0, time.process_time() - c0))


def _consumer(q: Any, n: int, out: Any) -> None:
    t0, c0 = time.monotonic(), time.process_time()
    for _ in range(n):
        q.get()
    out.put(("consumer", time.monotonic() - t0, time.process_time() - c0))


def _pair(q: Any, n: int) -> dict[str, tuple[float, float]]:
    out: Any = mp.get_context("spawn").Queue()
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_consumer, args=(q, n, out)),
        ctx.Process(target=_wb_producer, args=(q, n, out)),
    ]
    for p in procs:
        p.start()
    res = {}
    for _ in procs:
        who, wall, cpu = out.get()
        res[who] = (wall, cpu)
    for p in procs:
        p.join()
    return res


def stream(rounds: int = 3, n: int = 20_000) -> None:
    import chute

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CHUTE_URL"] = f"sqlite:///{tmp}/chute.db"
        for _ in range(rounds):
            mq: Any = mp.get_context("spawn").Queue()
            m = _pair(mq, n)
            c = _pair(chute.Queue(write_behind=True), n)
            mw = max(v[0] for v in m.values())
            cw = max(v[0] for v in c.values())
            print(
                f"mp.Queue {n / mw / 1e3:.1f} k/s (prod {m['producer'][1] / n * 1e6:.0f} µs/item CPU, "
                f"cons {m['consumer'][1] / n * 1e6:.0f}); chute-sqlite wb {n / cw / 1e3:.1f} k/s "
                f"(prod {c['producer'][1] / n * 1e6:.0f}, cons {c['consumer'][1] / n * 1e6:.0f}) "
                f"= {mw / cw:.2f}x mp.Queue"
            )


if __name__ == "__main__":
    {"putget": putget, "stream": stream}[sys.argv[1]]()
