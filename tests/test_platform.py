"""chute/_platform.py: the Linux-only calls and their portable fallbacks, forced on Linux with
``CHUTE_PORTABLE=1`` (the path macOS takes), with real worker and executor processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

import chute
from chute import _platform
from chute.exception import InvalidError
from tests._workers import Workers, executors, gone, wait_until
from tests.apps import jobs_app


def test_portable_flag_turns_every_linux_call_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_PORTABLE", "1")
    assert not _platform.linux()
    assert _platform.pidfd_open(os.getpid()) is None
    assert not _platform.abstract_sockets()
    monkeypatch.setenv("CHUTE_PORTABLE", "0")
    assert _platform.linux() == sys.platform.startswith("linux")
    monkeypatch.setenv("CHUTE_PORTABLE", "maybe")
    with pytest.raises(InvalidError, match="CHUTE_PORTABLE"):
        _platform.linux()


def test_child_dies_with_its_parent_by_polling(tmp_path: object) -> None:
    """No parent-death signal: the watcher thread notices the parent is gone."""
    child_code = (
        "import os, signal, sys, time; from chute import _platform; "
        "_platform.die_with_parent(int(sys.argv[1]), signal.SIGTERM); "
        "print('ready', flush=True); time.sleep(60)"
    )
    parent_code = (
        "import os, subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}, str(os.getpid())], "
        "stdout=subprocess.PIPE); "
        "c.stdout.readline(); print(c.pid, flush=True); time.sleep(60)"
    )
    env = {**os.environ, "CHUTE_PORTABLE": "1"}
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: gone(child), 10, "the orphan to exit")
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


@pytest.fixture
def portable_workers(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workers]:
    monkeypatch.setenv("CHUTE_PORTABLE", "1")
    w = Workers()
    yield w
    w.stop_all()


def test_worker_runs_calls_and_reaps_executors_without_pidfds(portable_workers: Workers) -> None:
    worker = portable_workers.start()
    assert jobs_app.echo.remote("portable") == "portable"
    call = jobs_app.long_sleep.spawn("portable", 60)
    wait_until(lambda: bool(executors(worker.pid)), 30, "an executor")
    started = executors(worker.pid)
    worker.send_signal(signal.SIGKILL)  # no chance to stop its executors: they must notice
    worker.wait(10)
    for e in started:
        wait_until(lambda e=e: gone(e.pid), 10, "the executor to exit")  # type: ignore[misc]
    call.cancel()
    assert chute.FunctionCall.from_id(call.object_id).object_id == call.object_id


def test_group_memory_and_mounts_on_the_portable_path(monkeypatch: pytest.MonkeyPatch) -> None:
    me = os.getpgid(0)
    linux_rss = _platform.group_rss(me)
    monkeypatch.setenv("CHUTE_PORTABLE", "1")
    portable_rss = _platform.group_rss(me)  # psutil instead of /proc
    assert linux_rss and portable_rss and 0.5 < portable_rss / linux_rss < 2, (linux_rss, portable_rss)
    with pytest.raises(_platform.MountUnavailable, match="CHUTE_PORTABLE=1"):
        _platform.mount_volumes([("/mnt/x", "/tmp", False, "vol")])
