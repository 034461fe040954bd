"""Job functions the HTTP tests run on real workers (``chute worker`` / ``chute serve --workers``)."""

from __future__ import annotations

import time

import chute

app = chute.App("http-test")


@app.function()
def add(a: int, b: int = 0) -> int:
    return a + b


@app.function()
def boom(message: str) -> None:
    print(f"about to fail: {message}")  # kept as the call's log (GET /calls/{id}/logs)
    raise ValueError(f"boom: {message}")


@app.function(timeout=60)
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
def opaque() -> object:
    return {1, 2}  # a set: not JSON, comes back as its repr unless pickled


@app.function(result_ttl=1)
def short_lived(x: object) -> object:
    return x
