"""Job functions of the job-control tests (tests/test_job_control.py), run by real workers."""

from __future__ import annotations

import time

import chute

app = chute.App("test-control")


def _log() -> chute.Dict:
    return chute.Dict.from_name("test-control-log", create_if_missing=True)


@app.function()
def stamp(tag: object) -> tuple[object, float]:
    return tag, time.time()


@app.function(max_containers=1)
def serial(tag: object) -> object:
    """One call at a time: the order calls start in is the order they were claimed in."""
    return tag


@app.function()
def fail_once(key: str) -> str:
    """Fails its first run (of each key), succeeds when replayed."""
    log = _log()
    if not log.get(key):
        log[key] = 1
        raise ValueError("the first run fails")
    return "second run"


@app.function()
def reports(key: str) -> str:
    """Reports its progress, then waits until the test says so (``log[key] = "go"``)."""
    chute.current_call().set_progress(0.5, step="half")
    deadline = time.time() + 30
    while _log().get(key) != "go" and time.time() < deadline:
        time.sleep(0.05)
    return "done"


@app.function(rate_limit=chute.RateLimit(calls=5, per_seconds=1))
def limited(i: int) -> int:
    return i


@app.function(max_concurrency_per_key=2)
def keyed(key: str, i: int) -> tuple[str, float, float]:
    start = time.time()
    time.sleep(0.3)
    return key, start, time.time()


@app.function(worker_tags=["gpu"])
def on_gpu() -> str:
    return "gpu"
