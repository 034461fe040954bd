"""Functions the map-chunk tests run on a real worker (tests/test_map_chunks.py).

``max_containers=1``: a map of n inputs goes in chunks of ceil(n / 8), at most 64
(``chute._chunk.chunk_size``)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import chute

app = chute.App("test-chunks")


@app.function(max_containers=1)
def where(x: int) -> tuple[int, str | None, str | None]:
    """The input, the call it ran in, and its input id."""
    return x, chute.current_function_call_id(), chute.current_input_id()


@app.function(max_containers=1)
def size_of(data: str) -> int:
    return len(data)


@app.function(max_containers=1)
def fail_odd(x: int, factor: int = 1) -> int:
    if x % 2:
        raise ValueError(f"odd input {x}")
    return x * factor


@app.function(max_containers=1, timeout=1)
def sleepy(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


@app.function(max_containers=1, timeout=1)
def stubborn(x: int, seconds: float) -> int:
    """Sleeps ``seconds`` and swallows what ``except Exception`` can catch meanwhile."""
    try:
        time.sleep(seconds)
    except Exception:
        return -1
    return x


@app.function(max_containers=1, timeout=1)
async def sleepy_aio(x: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return x


@app.function(max_containers=1)
def crash_on(x: int, bad: int) -> int:
    if x == bad:
        os._exit(3)  # the executor dies mid-chunk
    return x


@app.function(max_containers=1)
def unpicklable_on(x: int, bad: int) -> object:
    return threading.Lock() if x == bad else x


@app.function(max_containers=1)
def slow_square(x: int) -> int:
    time.sleep(0.01)
    return x * x


@app.cls(max_containers=1)
class Scaler:
    factor: int = chute.parameter(default=1)

    @chute.method()
    def scale(self, x: int) -> tuple[int, int]:
        return x * self.factor, os.getpid()
