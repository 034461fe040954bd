"""Functions that print, for the call-log tests (``chute worker`` on this file)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import chute

app = chute.App("test-logs")


@app.function()
def serial(tag: str, lines: int = 2) -> str:
    for i in range(lines):
        print(f"{tag} out {i}")
    print(f"{tag} err", file=sys.stderr)
    return tag


@app.function()
async def coro(tag: str) -> str:
    print(f"{tag} before")
    await asyncio.sleep(0.2)  # other calls print meanwhile: each keeps its own lines
    print(f"{tag} after")
    return tag


@app.function()
@chute.concurrent(max_inputs=4)
def threaded(tag: str) -> str:
    print(f"{tag} before")
    time.sleep(0.2)
    print(f"{tag} after")
    return tag


@app.function(retries=chute.Retries(max_retries=1, initial_delay=0.0))
def flaky(key: str) -> int:
    d = chute.Dict.from_name("test-logs-tries", create_if_missing=True)
    n = d.get(key, 0) + 1
    d[key] = n
    print(f"attempt {n}")
    if n == 1:
        raise ValueError("first attempt fails")
    return n


@app.function(timeout=120)
def slow(tag: str, seconds: float) -> str:
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        print(f"{tag} tick {i}", flush=True)
        i += 1
        time.sleep(0.3)
    return tag


@app.function()
def shell(tag: str) -> str:
    print(f"{tag} before")
    # Straight to fds 1 and 2 from a subprocess, bypassing sys.stdout.
    os.system(f"echo {tag} from a subprocess; echo {tag} on fd 2 >&2")
    print(f"{tag} after")
    return tag


@app.function()
async def shell_async(tag: str) -> str:
    print(f"{tag} before")
    os.system(f"echo {tag} from a subprocess")  # concurrent executor: the worker's output only
    return tag
