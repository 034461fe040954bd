"""Job functions of the chaos suite, run by real ``python -m chute worker tests/chaos/chaos_app.py``.

Every function that matters for timing appends a line to ``$CHAOS_LOG`` when an attempt
starts (``start <key> <pid> <worker pid> <unix time>``, one ``write`` on an O_APPEND file), so the
tests can see every execution, including those of attempts that were later killed.
"""

from __future__ import annotations

import os
import time

import chute
from tests.apps._lineage import worker_pid

app = chute.App("chaos-jobs")


def _log(*fields: object) -> None:
    path = os.environ.get("CHAOS_LOG")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (" ".join(str(f) for f in fields) + "\n").encode())
    finally:
        os.close(fd)


def _start(key: object) -> None:
    _log("start", key, os.getpid(), worker_pid(), repr(time.time()))


@app.function()
def echo(x: object) -> object:
    return x


@app.function(max_containers=8)
def work(i: int, seconds: float) -> tuple[int, int]:
    """Scenario 6: a short call; returns its input and the pid of the worker that ran it."""
    _start(i)
    time.sleep(seconds)
    return i, worker_pid()


@app.function(max_containers=4, timeout=60)
def whoami(key: str, seconds: float) -> int:
    """Scenario 7: the pid of the worker (supervisor) whose executor ran the call."""
    _start(key)
    time.sleep(seconds)
    return worker_pid()


POISON_RETRIES = chute.Retries(max_retries=3, backoff_coefficient=2.0, initial_delay=0.5, max_delay=5.0)


@app.function(retries=POISON_RETRIES, max_containers=2)
def mixed(kind: str, key: str) -> str:
    """Scenario 8: ``raise`` always raises, ``exit`` kills its process, ``ok`` succeeds."""
    _start(key)
    if kind == "raise":
        raise RuntimeError(f"poison {key}")
    if kind == "exit":
        os._exit(1)
    time.sleep(0.05)
    return key


@app.function(timeout=1, max_containers=2)
def spin(key: str, seconds: float) -> str:
    """Scenario 9: a CPU loop."""
    _start(key)
    deadline = time.monotonic() + seconds
    x = 0
    while time.monotonic() < deadline:
        x += 1
    return key


@app.function(timeout=1, max_containers=2)
def nap(key: str, seconds: float) -> str:
    """Scenario 9: a sleep."""
    _start(key)
    time.sleep(seconds)
    return key
