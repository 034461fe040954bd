"""Demo: a producer → workers → collector pipeline across separate processes, no server needed.

    python examples/pipeline.py [N_TASKS] [N_WORKERS]

Queues are created like multiprocessing's (``chute.Queue()``), handed to spawned processes by
pickling, and live in the embedded SQLite file (or on Redis with ``CHUTE_URL=redis://…``).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import chute

BATCH = 100


def producer(tasks: chute.Queue, n_tasks: int, n_workers: int) -> None:
    for start in range(0, n_tasks, BATCH):
        tasks.put_many(list(range(start, min(start + BATCH, n_tasks))), timeout=60)
    tasks.put_many([None] * n_workers)  # one stop sentinel per worker


def worker(tasks: chute.Queue, results: chute.Queue) -> None:
    while True:
        batch = tasks.get_many(BATCH, timeout=60)
        done = [(n, hashlib.sha256(str(n).encode()).hexdigest()[:8]) for n in batch if n is not None]
        if done:
            results.put_many(done, timeout=60)
        stops = batch.count(None)
        if stops:
            if stops > 1:  # took another worker's sentinel too: hand it back
                tasks.put_many([None] * (stops - 1))
            return


def main() -> None:
    n_tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    n_workers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    console = Console()
    ctx = mp.get_context("spawn")  # fresh interpreters: the queues travel by pickling
    tasks, results = chute.Queue(), chute.Queue()
    procs = [ctx.Process(target=producer, args=(tasks, n_tasks, n_workers))]
    procs += [ctx.Process(target=worker, args=(tasks, results)) for _ in range(n_workers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    seen: set[int] = set()
    columns = (TextColumn("[bold]results"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("results", total=n_tasks)
        while len(seen) < n_tasks:
            for n, digest in results.get_many(1000, timeout=60):
                assert digest == hashlib.sha256(str(n).encode()).hexdigest()[:8]
                seen.add(n)
            progress.update(bar, completed=len(seen))
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    assert seen == set(range(n_tasks)), "lost or unexpected results"
    backend = chute.Client.from_env().settings.url.redacted
    console.print(
        f"[green]✓[/green] {n_tasks:,} tasks through 1 producer, {n_workers} workers and 1 collector "
        f"in {elapsed:.2f} s ({n_tasks / elapsed:,.0f} tasks/s) on {backend}; none lost, none duplicated."
    )


if __name__ == "__main__":
    main()
