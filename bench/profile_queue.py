"""Where a chute queue operation's time goes, per backend and per operation (cProfile).

    .venv/bin/python bench/profile_queue.py                 # both backends, every operation
    .venv/bin/python bench/profile_queue.py --backend redis --op get_many --top 25

Operations: ``put`` / ``get`` (one small item), ``put_many`` / ``get_many`` (1,000 ints), and
``stream`` (one producer process putting items one by one to one consumer process getting
them one by one; each child profiles itself). Each profile is folded into buckets
(serialization, validation, SQL, Redis I/O, locks, wake-up, Python glue) so ``bench/RESULTS.md``
can say how the time splits. Diagnostics only: ``run.py`` does not call this.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import chute  # noqa: E402
from bench._env import valkey_server  # noqa: E402
from bench._subjects import ChuteQueue  # noqa: E402

_CTX = mp.get_context("spawn")

# (bucket, substrings of "file:function" that belong to it), first match wins.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("serialization", ("_serialize.py", "pickle", "_codec.py", "cloudpickle")),
    ("validation", ("_validate.py",)),
    ("wake-up", ("select", "sendto", "recv", "_waiter", "Waiter", "notify", "socket")),
    ("locks", ("acquire", "Condition", "Event", "lock", "sleep")),
    ("SQL", ("sqlite3.Connection", "sqlite3.Cursor", "_sqlite_sql.py", "_queue_sql.py", "execute", "fetch")),
    ("Redis I/O", ("redis/", "hiredis", "_redis_", "evalsha", "ssl", "sock", "recv", "select")),
]


def bucket_of(key: tuple[str, int, str], redis: bool) -> str:
    where = f"{key[0]}:{key[2]}"
    for name, needles in BUCKETS:
        if redis and name == "wake-up":
            continue  # a blocked BLPOP's wait is a socket read: Redis I/O
        if any(n in where for n in needles):
            return name
    return "Python glue (ops, backend, dual)"


def split(stats: pstats.Stats, redis: bool) -> dict[str, float]:
    """Own time (tottime) per bucket, as fractions of the total."""
    out: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, tt, _ct, _callers) in raw.items():
        b = bucket_of(key, redis)
        out[b] = out.get(b, 0.0) + tt
    total = sum(out.values()) or 1.0
    return {k: v / total for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def report(title: str, prof: pstats.Stats, n: int, top: int) -> None:
    total = sum(v[2] for v in prof.stats.values())  # type: ignore[attr-defined]
    print(f"\n== {title}: {total / n * 1e6:.1f} µs per op under cProfile")
    print("   " + ", ".join(f"{k} {v:.0%}" for k, v in split(prof, "redis" in title).items()))
    if top:
        prof.sort_stats("tottime").print_stats(top)


# -- in one process ----------------------------------------------------------------------------


def _ops(q: ChuteQueue) -> dict[str, tuple[Callable[[], Any], Callable[[], Any], int]]:
    """op -> (timed call, untimed call that keeps the queue balanced, items per call)."""
    batch = list(range(1000))
    return {
        "put": (lambda: q.put(12345), lambda: q.get(), 1),
        "get": (lambda: q.get(), lambda: q.put(12345), 1),
        "put_many": (lambda: q.put_many(batch), lambda: q.get_many(1000), 1000),
        "get_many": (lambda: q.get_many(1000), lambda: q.put_many(batch), 1000),
    }


def in_process(url: str, label: str, ops: list[str], top: int) -> None:
    q = ChuteQueue(url)
    try:
        table = _ops(q)
        for op in ops:
            if op not in table:
                continue
            timed, other, per = table[op]
            rounds = 3000 if per == 1 else 60
            if op.startswith("get"):
                other()  # something to get first
            for _ in range(rounds // 10):
                timed()
                other()
            # CPU time, not wall time: on a shared machine a preemption would be billed to
            # whichever function happened to run.
            prof = cProfile.Profile(time.process_time)
            for _ in range(rounds):
                prof.enable()
                timed()
                prof.disable()
                other()
            report(f"{label} {op}", pstats.Stats(prof), rounds, top)
    finally:
        q.close()


# -- across processes --------------------------------------------------------------------------


def _child(role: str, url: str, qid: str, n: int, out: str, barrier: Any) -> None:
    os.environ["CHUTE_URL"] = url
    q = chute.Queue.from_id(qid)
    q.len()
    barrier.wait(60)
    prof = cProfile.Profile()
    prof.enable()
    if role == "producer":
        for i in range(n):
            q.put(i)
    else:
        for _ in range(n):
            q.get(timeout=60)
    prof.disable()
    prof.dump_stats(out)


def stream(url: str, label: str, n: int, top: int, tmp: str) -> None:
    q = ChuteQueue(url)
    try:
        barrier = _CTX.Barrier(2)
        paths = {r: os.path.join(tmp, f"{label}-{r}.prof") for r in ("producer", "consumer")}
        procs = [
            _CTX.Process(target=_child, args=(r, url, q.q.object_id, n, p, barrier)) for r, p in paths.items()
        ]
        t0 = time.monotonic()
        for p in procs:
            p.start()
        for p in procs:
            p.join(300)
        print(f"\n== {label} stream of {n:,} items: {time.monotonic() - t0:.1f} s with start-up, profiled")
        for role, path in paths.items():
            report(f"{label} stream, {role}", pstats.Stats(path), n, top)
    finally:
        q.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "redis"], action="append")
    parser.add_argument("--op", choices=["put", "get", "put_many", "get_many", "stream"], action="append")
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest functions")
    parser.add_argument("--items", type=int, default=5000, help="items per stream")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "redis"]
    ops = args.op or ["put", "get", "put_many", "get_many", "stream"]
    with tempfile.TemporaryDirectory(prefix="chute-prof-") as tmp:
        urls = {"sqlite": f"sqlite://{tmp}/prof.db"}
        with valkey_server(tmp) if "redis" in backends else _nothing() as redis_url:
            if redis_url:
                urls["redis"] = redis_url
            for b in backends:
                in_process(urls[b], f"chute-{b}", ops, args.top)
                if "stream" in ops:
                    stream(urls[b], f"chute-{b}", args.items, args.top, tmp)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
