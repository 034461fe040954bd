"""Job functions the job tests run on real worker processes (``chute worker`` on this file)."""

from __future__ import annotations

import os
import time

import chute
from tests.apps._lineage import worker_pid

app = chute.App("test-jobs")


def _log(key: str, value: object) -> None:
    """Record an observation in a Dict the test reads (same backend, other process)."""
    chute.Dict.from_name("test-jobs-log", create_if_missing=True)[key] = value


@app.function()
def echo(x: object) -> object:
    return x


@app.function(max_containers=1)
def echo_args(*args: object) -> tuple[object, ...]:
    """Its arguments. One executor at most: tests of the caller's API (map over many inputs)
    pay one process start per worker, not one per executor the pool would scale up to."""
    return args


@app.function(retries=chute.Retries(max_retries=2, backoff_coefficient=2.0, initial_delay=0.4, max_delay=5))
def flaky(key: str) -> int:
    log = chute.Dict.from_name("test-jobs-log", create_if_missing=True)
    n = int(log.get(key, 0)) + 1
    log[key] = n
    log[f"{key}:{n}"] = time.time()
    if n < 3:
        raise ValueError(f"attempt {n} fails")
    return n


@app.function(retries=1)
def always_fails(message: str) -> None:
    raise KeyError(message)


@app.function(timeout=1)
def sleeper(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function(timeout=1)
def spinner() -> None:
    while True:
        pass


@app.function(timeout=60)
def long_sleep(key: str, seconds: float) -> str:
    _log(key, os.getpid())
    time.sleep(seconds)
    return key


@app.function(retries=chute.Retries(max_retries=1, initial_delay=0.0))
def crash() -> None:
    os._exit(3)


@app.function(result_ttl=1)
def short_lived(x: object) -> object:
    return x


@app.function(max_containers=3, scaledown_window=1)
def capped(i: int) -> tuple[int, float, float, int]:
    start = time.time()
    time.sleep(0.4)
    return i, start, time.time(), os.getpid()


@app.function(max_containers=4)
def where(i: int, seconds: float) -> tuple[int, int]:
    """Which pool ran the call: the executor's parent is the ``chute worker`` process."""
    time.sleep(seconds)
    return i, worker_pid()
