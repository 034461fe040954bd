"""Sustained load on one backend: producers, consumers and job workers at once, with accounting.

    .venv/bin/python bench/load.py                         # 60 s on a fresh embedded SQLite file
    .venv/bin/python bench/load.py --backend redis -s 30   # on a throwaway valkey-server
    .venv/bin/python bench/load.py --url redis://127.0.0.1:6379/0?prefix=load: --producers 4

Producers ``put_many`` batches of checksummed items (single ``put`` when ``--batch 1``) into
``--partitions`` partitions; consumers ``get_many`` them back; a submitter keeps up to
``--inflight`` calls of ``bench/_load_app.py:square`` outstanding on ``--workers`` worker
pools (``python -m chute worker``). After ``--seconds`` the producers and the submitter stop,
consumers drain what is left, and the run reports throughput (items/s, calls/s), call
latencies (p50/p99 of put_many, get_many, and spawn-to-result) and the tally: items and calls
acknowledged vs received, lost, duplicated and corrupted. Exit status 1 if anything was lost,
duplicated or corrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import queue as stdlib_queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import chute  # noqa: E402
from bench._env import valkey_server  # noqa: E402

APP_FILE = str(ROOT / "bench" / "_load_app.py")
FORK = mp.get_context("fork")
QNAME = "bench-load"


def item(producer: int, seq: int) -> bytes:
    body = producer.to_bytes(2, "big") + seq.to_bytes(6, "big") + bytes(24)
    return body + zlib.crc32(body).to_bytes(4, "big")


def ident(data: object) -> tuple[int, int] | None:
    if (
        not isinstance(data, bytes)
        or len(data) != 36
        or zlib.crc32(data[:32]).to_bytes(4, "big") != data[32:]
    ):
        return None
    return int.from_bytes(data[:2], "big"), int.from_bytes(data[2:8], "big")


def pct(values: array[int], p: float) -> float:
    """The p-th percentile in milliseconds (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1e6


# -- processes -------------------------------------------------------------------------------


def producer(n: int, partitions: int, batch: int, deadline: float, out: Any) -> None:
    q = chute.Queue.from_name(QNAME)
    lat = array("q")
    seq = 0
    while time.time() < deadline:
        part = f"p{seq // batch % partitions}"
        start = time.perf_counter_ns()
        if batch == 1:
            q.put(item(n, seq), partition=part)
        else:
            q.put_many([item(n, seq + i) for i in range(batch)], partition=part)
        lat.append(time.perf_counter_ns() - start)
        seq += batch
    out.put(("producer", n, seq, lat))


def consumer(n: int, partitions: int, batch: int, producers_done: Any, out: Any) -> None:
    q = chute.Queue.from_name(QNAME)
    lat = array("q")
    seen: dict[int, bytearray] = {}
    corrupt = 0
    parts = [f"p{i}" for i in range(partitions)]
    k = n
    idle = 0
    while True:
        part = parts[k % partitions]
        k += 1
        start = time.perf_counter_ns()
        got = q.get_many(batch, block=False, partition=part)
        if got:
            lat.append(time.perf_counter_ns() - start)
            idle = 0
        else:
            idle += 1
            if idle >= partitions:
                if producers_done.is_set():
                    break
                with contextlib.suppress(stdlib_queue.Empty):
                    got = q.get_many(batch, timeout=0.05, partition=part)
        for data in got:
            i = ident(data)
            if i is None:
                corrupt += 1
                continue
            counts = seen.setdefault(i[0], bytearray())
            if len(counts) <= i[1]:
                counts.extend(bytes(i[1] + 1 - len(counts) + 65536))
            counts[i[1]] = min(255, counts[i[1]] + 1)
    out.put(("consumer", n, (seen, corrupt), lat))


def submitter(deadline: float, inflight: int, out: Any) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from _load_app import square

    lat = array("q")
    pending: dict[int, tuple[chute.FunctionCall, int]] = {}
    spawned = ok = wrong = 0
    i = 0
    while time.time() < deadline or (pending and time.time() < deadline + 60):
        while time.time() < deadline and len(pending) < inflight:
            pending[i] = (square.spawn(i), time.perf_counter_ns())
            spawned += 1
            i += 1
        for j, (call, started) in list(pending.items()):
            try:
                result = call.get(timeout=0)
            except TimeoutError:
                continue
            lat.append(time.perf_counter_ns() - started)
            ok += result == j * j
            wrong += result != j * j
            del pending[j]
        time.sleep(0.002)
    out.put(("jobs", 0, (spawned, ok, wrong, len(pending)), lat))


# -- the run ---------------------------------------------------------------------------------


def item_tally(sent: dict[int, int], consumed: list[tuple[dict[int, bytearray], int]]) -> dict[str, int]:
    """Producer n acknowledged seqs 0..sent[n]-1; consumers report per-producer receipt counts."""
    counts: dict[int, bytearray] = {p: bytearray(n) for p, n in sent.items()}
    corrupt = 0
    for seen, bad in consumed:
        corrupt += bad
        for p, c in seen.items():
            total = counts.setdefault(p, bytearray())
            if len(total) < len(c):
                total.extend(bytes(len(c) - len(total)))
            for i, v in enumerate(c):
                if v:
                    total[i] = min(255, total[i] + v)
    out = {"acked": sum(sent.values()), "received": 0, "lost": 0, "duplicated": 0, "unexpected": corrupt}
    for p, c in counts.items():
        n = sent.get(p, 0)
        out["received"] += sum(1 for v in c[:n] if v)
        out["lost"] += n - sum(1 for v in c[:n] if v)
        out["duplicated"] += sum(v - 1 for v in c[:n] if v > 1)
        out["unexpected"] += sum(1 for v in c[n:] if v)
    return out


@contextlib.contextmanager
def backend_url(args: argparse.Namespace) -> Iterator[str]:
    if args.url:
        yield args.url
        return
    tmp = tempfile.mkdtemp(prefix="chute-load-")
    try:
        if args.backend == "sqlite":
            yield f"sqlite://{tmp}/load.db"
        else:
            with valkey_server(tmp) as url:
                yield f"{url}?prefix=load:"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    os.environ["CHUTE_URL"] = url
    os.environ.setdefault("CHUTE_MAX_PARTITION_ITEMS", "1000000")
    chute.Queue.objects.create(QNAME, allow_existing=True)
    chute.Queue.from_name(QNAME).clear(all=True)
    chute.Client.from_env().close()  # children must not inherit open connections
    workers = [
        subprocess.Popen([sys.executable, "-m", "chute", "worker", APP_FILE], stdout=subprocess.DEVNULL)
        for _ in range(args.workers)
    ]
    out: Any = FORK.Queue()
    done = FORK.Event()
    start = time.time()
    deadline = start + args.seconds
    procs = [
        FORK.Process(target=producer, args=(n, args.partitions, args.batch, deadline, out))
        for n in range(args.producers)
    ]
    procs += [
        FORK.Process(target=consumer, args=(n, args.partitions, args.batch, done, out))
        for n in range(args.consumers)
    ]
    if args.workers:
        procs.append(FORK.Process(target=submitter, args=(deadline, args.inflight, out)))
    for p in procs:
        p.start()
    results: list[tuple[str, int, Any, array[int]]] = []
    try:
        while len([r for r in results if r[0] == "producer"]) < args.producers:
            results.append(out.get(timeout=args.seconds + 120))
        done.set()
        while len(results) < len(procs):
            results.append(out.get(timeout=180))
        elapsed = time.time() - start
        for p in procs:
            p.join(30)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    sent = {n: seq for kind, n, seq, _ in results if kind == "producer"}
    tally = item_tally(sent, [r[2] for r in results if r[0] == "consumer"])
    put_lat = array("q", [x for r in results if r[0] == "producer" for x in r[3]])
    get_lat = array("q", [x for r in results if r[0] == "consumer" for x in r[3]])
    job = next((r for r in results if r[0] == "jobs"), None)
    report: dict[str, Any] = {
        "backend": chute.config.redact_url(url),
        "seconds": round(elapsed, 1),
        "producers": args.producers,
        "consumers": args.consumers,
        "workers": args.workers,
        "batch": args.batch,
        "items": {
            **tally,
            "items_per_s": round(tally["received"] / elapsed),
            "put_p50_ms": round(pct(put_lat, 50), 3),
            "put_p99_ms": round(pct(put_lat, 99), 3),
            "get_p50_ms": round(pct(get_lat, 50), 3),
            "get_p99_ms": round(pct(get_lat, 99), 3),
        },
    }
    if job is not None:
        spawned, ok, wrong, unfinished = job[2]
        report["calls"] = {
            "acked": spawned,
            "received": ok,
            "lost": unfinished,
            "duplicated": 0,
            "unexpected": wrong,
            "calls_per_s": round(ok / args.seconds, 1),
            "p50_ms": round(pct(job[3], 50), 2),
            "p99_ms": round(pct(job[3], 99), 2),
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--url", help="use this CHUTE_URL instead of a throwaway backend")
    parser.add_argument("-s", "--seconds", type=float, default=60.0)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="chute worker pools (0: no jobs)")
    parser.add_argument("--batch", type=int, default=10, help="items per put_many / get_many")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--inflight", type=int, default=64, help="calls kept outstanding")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    with backend_url(args) as url:
        report = run(args, url)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    bad = [report["items"][k] for k in ("lost", "duplicated", "unexpected")]
    if "calls" in report:
        bad += [report["calls"][k] for k in ("lost", "unexpected")]
    return 1 if any(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
