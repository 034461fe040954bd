"""Job functions the Modal wire tests run on real ``chute worker`` processes: the ``modal``
client programs of tests/test_modal_wire_jobs.py call them through ``chute modal-server``."""

from __future__ import annotations

import os
import time
from typing import Any

from wire_errors import WireError  # type: ignore[import-not-found]  # tests/apps is on sys.path

import chute

app = chute.App("test-wire")

# Few executors: each one is a process importing chute and this file (the machine is small).
SMALL = 2


@app.function(max_containers=SMALL)
def echo(x: object) -> object:
    return x


@app.function(max_containers=SMALL)
def add(a: int, b: int = 0) -> int:
    return a + b


@app.function(max_containers=SMALL)
def fails(message: str) -> None:
    raise WireError(message)


@app.function()
def key_error(key: str) -> None:
    {}[key]


@app.function(timeout=1)
def too_slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function(timeout=60)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.function()
def crash() -> None:
    os._exit(3)


@app.function(result_ttl=1)
def short_lived(x: object) -> object:
    return x


@app.cls(max_containers=SMALL)
class Model:
    """Looked up by the modal client with ``modal.Cls.from_name("test-wire", "Model")``."""

    size: int = chute.parameter(default=1)
    name: str = chute.parameter(default="base")

    @chute.enter()
    def load(self) -> None:
        self.weights = {"base": 10, "large": 100}[self.name]

    @chute.method()
    def predict(self, x: int) -> tuple[dict[str, Any], int]:
        return {"size": self.size, "name": self.name}, x * self.size + self.weights

    @chute.method()
    def fail(self, message: str) -> None:
        raise WireError(message)
