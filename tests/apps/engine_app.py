"""Functions the jobs-engine tests run on real workers: async, @concurrent, @batched, forks."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import chute

app = chute.App("test-engine")


def log() -> chute.Dict:
    return chute.Dict.from_name("test-engine-log", create_if_missing=True)


def _count(key: str) -> None:
    log()[f"{key}:{os.getpid()}:{time.time()}"] = 1  # one entry per run (no read-modify-write race)


async def _count_aio(key: str) -> None:
    # Not the blocking form: it would stall the executor's event loop, and every call on it.
    await log().put.aio(f"{key}:{os.getpid()}:{time.time()}", 1)


# -- async functions ----------------------------------------------------------------------------


@app.function(retries=0, timeout=2)
async def async_echo(x: object, seconds: float = 0.0, fail: bool = False) -> object:
    await asyncio.sleep(seconds)
    if fail:
        raise ValueError(f"async {x}")
    return x, os.getpid()


@app.function(timeout=60)
async def async_long(key: str, seconds: float) -> str:
    await log().put.aio(key, os.getpid())
    await asyncio.sleep(seconds)
    return key


# -- @concurrent ------------------------------------------------------------------------------------


@app.function(timeout=3, max_containers=1)
@chute.concurrent(max_inputs=4)
def sync_overlap(key: str, seconds: float) -> tuple[str, float, float, int, str]:
    start = time.time()
    _count(key)
    time.sleep(seconds)
    return key, start, time.time(), os.getpid(), threading.current_thread().name


@app.function(timeout=3, max_containers=1)
@chute.concurrent(max_inputs=100)
async def async_overlap(key: str, seconds: float) -> tuple[str, float, float, int]:
    start = time.time()
    await _count_aio(key)
    await asyncio.sleep(seconds)
    return key, start, time.time(), os.getpid()


@app.function(retries=0, max_containers=2)
@chute.concurrent(max_inputs=4)
def crashy(key: str, crash: bool) -> int:
    _count(key)
    if crash:
        time.sleep(0.3)
        os._exit(3)
    time.sleep(1.0)
    return os.getpid()


# -- @batched ---------------------------------------------------------------------------------------


@app.function(max_containers=1)
@chute.batched(max_batch_size=4, wait_ms=300)
def add(xs: list[int], ys: list[int]) -> list[tuple[int, int]]:
    if any(x < 0 for x in xs):
        raise ValueError(f"negative input in batch {xs}")
    if 99 in xs:
        return []  # wrong length: every input of the batch fails
    return [(x + y, len(xs)) for x, y in zip(xs, ys, strict=True)]


@app.function(max_containers=1)
@chute.batched(max_batch_size=8, wait_ms=200)
async def async_double(xs: list[int]) -> list[tuple[int, int]]:
    await asyncio.sleep(0.01)
    return [(2 * x, len(xs)) for x in xs]


# -- the fork defect ----------------------------------------------------------------------------------


@app.function(retries=0, timeout=2)
def forker(key: str) -> None:
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    log()[key] = (pid, time.time())
    time.sleep(100)


@app.function(timeout=60)
def healthy(key: str, seconds: float) -> str:
    _count(key)
    time.sleep(seconds)
    return key


# -- the worker-wide cap ------------------------------------------------------------------------------


@app.function()
def nap_a(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.function()
def nap_b(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.function()
def nap_c(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


# -- batched paths under kill -9 ----------------------------------------------------------------------


@app.function(max_containers=2)
def quick(i: int) -> int:
    _count(f"q{i}")
    time.sleep(0.01)
    return i


# A variant with its own executors (Modal's with_concurrency), defined where workers see it.
quick_concurrent = quick.with_concurrency(max_inputs=8, target_inputs=4)
