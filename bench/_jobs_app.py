"""The job function the ``jobs`` benchmark's chute workers run (``chute worker bench/_jobs_app.py``).

Kept apart from ``bench/jobs.py`` so that chute's executors import nothing but chute: the
other systems' task definitions (and their libraries) live in ``bench/jobs.py``.
"""

from __future__ import annotations

import asyncio
import time

import chute

# Jobs running at once, for every system in the comparison (the machine has 2 cores).
CONCURRENCY = 2

app = chute.App("bench-jobs")


@app.function(max_containers=CONCURRENCY)
def noop(x: int) -> int:
    return x


# -- chute-only rows (bench/jobs_chute.py) ------------------------------------------------------


@app.function(max_containers=1)
@chute.concurrent(max_inputs=100)
async def async_sleep(x: int) -> int:
    await asyncio.sleep(0.1)
    return x


# Four functions with the default max_containers: the worker's --max-executors cap shares out.
@app.function()
def busy_a(x: int) -> int:
    time.sleep(0.01)
    return x


@app.function()
def busy_b(x: int) -> int:
    time.sleep(0.01)
    return x


@app.function()
def busy_c(x: int) -> int:
    time.sleep(0.01)
    return x


@app.function()
def busy_d(x: int) -> int:
    time.sleep(0.01)
    return x
