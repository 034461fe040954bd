"""Executors forked from the worker's zygote (chute/worker/_zygote.py), with real worker processes:
where they come from, what they inherit (nothing of the user's), exit codes and hooks, and that
nothing outlives a killed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chute.exception import RemoteError
from tests._workers import ROOT, Workers, gone, wait_until
from tests.apps import zygote_app

APP_FILE = str(ROOT / "tests" / "apps" / "zygote_app.py")


@pytest.fixture
def workers(chute_env: str) -> Iterator[Workers]:
    w = Workers(APP_FILE)
    yield w
    w.stop_all()


def _zygotes(worker_pid: int) -> list[psutil.Process]:
    return [
        c
        for c in psutil.Process(worker_pid).children()
        if " ".join(c.cmdline()).startswith("chute executor zygote")
    ]


def test_executors_are_forked_from_the_zygote_with_their_own_state(workers: Workers) -> None:
    worker = workers.start()
    calls = [zygote_app.lineage.spawn(1.0) for _ in range(2)]
    a, b = (c.get(timeout=60) for c in calls)
    zygote = _zygotes(worker.pid)
    assert len(zygote) == 1
    for info in (a, b):
        assert info["ppid"] == zygote[0].pid
        assert info["parent"] == f"chute executor zygote (worker pid {worker.pid})"
        assert info["session_leader"] is True  # its own process group: killed as a whole
        assert info["argv"] == ["-c"]
        assert info["flavour"] == "mint"  # the function's env, set in the fork
        assert info["user_modules"] == []  # nothing of the user's was imported before the fork
    assert a["pid"] != b["pid"]
    assert a["random"] != b["random"]  # reseeded after the fork


def test_an_interpreter_env_starts_the_executor_from_scratch(workers: Workers) -> None:
    worker = workers.start()
    info = zygote_app.interpreter_env.remote()
    assert info["ppid"] == worker.pid  # a new interpreter, which reads PYTHONHASHSEED as it starts
    seeded = subprocess.run(
        [sys.executable, "-c", "print(hash('chute'))"],
        env={**os.environ, "PYTHONHASHSEED": "7"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert info["hash"] == int(seeded.stdout)


def test_fork_executors_off(workers: Workers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_FORK_EXECUTORS", "0")
    worker = workers.start()
    info = zygote_app.lineage.remote()
    assert info["ppid"] == worker.pid
    assert _zygotes(worker.pid) == []


def test_exit_code_and_the_executors_own_exit_hooks(workers: Workers, tmp_path: Path) -> None:
    workers.start()
    marker = tmp_path / "hook"
    with pytest.raises(RemoteError, match="exited with code 3"):
        zygote_app.exit_with.remote(3, str(marker))
    assert marker.read_text() == "ran"


def test_nothing_outlives_a_killed_worker(workers: Workers) -> None:
    worker = workers.start()
    call = zygote_app.lineage.spawn(60.0)
    wait_until(lambda: len(psutil.Process(worker.pid).children(recursive=True)) >= 2, 60, "an executor")
    tree = psutil.Process(worker.pid).children(recursive=True)
    assert _zygotes(worker.pid)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    wait_until(lambda: all(gone(p.pid) for p in tree), 10, "the zygote and executors to exit")
    del call


def test_an_environment_too_large_to_send_starts_from_scratch(workers: Workers) -> None:
    worker = workers.start()
    info = zygote_app.big_env.remote()
    assert info["ppid"] == worker.pid  # started as a new interpreter
    assert zygote_app.lineage.remote()["ppid"] != worker.pid  # the zygote still forks the others
