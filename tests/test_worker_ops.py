"""Operating a worker: its per-call log lines, Ctrl-C, and tracebacks that start at the user's
code. Real ``chute worker`` processes on every backend."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._workers import APP_FILE, LEASE, wait_until
from tests.apps import jobs_app


@pytest.fixture
def logged_worker(chute_env: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    err = tmp_path / "worker.err"
    env = {**os.environ, "CHUTE_LEASE": str(LEASE)}
    with err.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "chute", "worker", APP_FILE], env=env, stderr=sink)
    try:
        yield proc, err
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_line_per_attempt_with_outcome_duration_and_retry_delay(
    logged_worker: tuple[subprocess.Popen[bytes], Path],
) -> None:
    _, err = logged_worker
    ok = jobs_app.echo.spawn(1)
    assert ok.get(timeout=60) == 1
    bad = jobs_app.always_fails.spawn("boom")
    with pytest.raises(KeyError) as raised:
        bad.get(timeout=60)
    wait_until(lambda: err.read_text().count(bad.object_id) >= 2, 20, "the log lines")
    text = err.read_text()
    assert re.search(rf"{ok.object_id} test-jobs\.echo #1 succeeded in \d+\.\d\ds", text), text
    assert re.search(
        rf"{bad.object_id} test-jobs\.always_fails #1 failed in \d+\.\d\ds: KeyError: 'boom' \(retry in \d",
        text,
    ), text
    assert re.search(rf"{bad.object_id} test-jobs\.always_fails #2 failed in .*KeyError: 'boom'$", text, re.M)
    # The remote traceback starts at the user's function: no frame of chute's executor.
    (note,) = [n for n in raised.value.__notes__ if "Remote traceback" in n]
    frames = re.findall(r'File "([^"]+)"', note)
    assert frames and frames[0].endswith("jobs_app.py"), note
    assert "chute/worker" not in note and "_runtime.py" not in note, note


def test_first_ctrl_c_stops_gracefully_and_says_so_second_stops_now(
    logged_worker: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, err = logged_worker
    assert jobs_app.echo.remote(2) == 2  # the worker is up and has its handlers
    jobs_app.long_sleep.spawn("ctrl-c", 120)
    wait_until(lambda: "ctrl-c" in jobs_app_log(), 30, "the long call to start")
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping gracefully" in err.read_text(), 10, "the graceful-stop message")
    assert proc.poll() is None  # waiting for the running call (grace 30 s)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 130
    assert "Press Ctrl-C again to stop now" in err.read_text()
    assert "stopping now" in err.read_text()


def jobs_app_log() -> str:
    import chute

    return " ".join(str(k) for k in chute.Dict.from_name("test-jobs-log", create_if_missing=True).keys())
