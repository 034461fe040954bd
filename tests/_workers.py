"""Real ``chute worker`` processes for the tests: ``Workers`` (a test's own), ``start_worker`` (one a
module's tests share, on a store of its own), ``stop``, ``wait_until``, and what runs under a worker
(``executors``, ``gone``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from tests._flavours import sync_open_backend
from tests.conftest import CLEARED_VARS

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = str(ROOT / "tests" / "apps" / "jobs_app.py")
LEASE = 1.0  # short leases, so lost calls come back fast


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> float:
    """Poll ``check`` until it is true; the seconds it took. Raises AssertionError after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (or is a zombie its parent has yet to reap)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def executors(worker_pid: int) -> list[psutil.Process]:
    """The live executors of the worker ``worker_pid``: its children, or its zygote's
    (chute/worker/_zygote.py), by their ``chute executor …`` titles."""
    out = []
    for child in psutil.Process(worker_pid).children(recursive=True):
        try:
            title = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE and "chute executor" in title and "zygote" not in title:
                out.append(child)
        except psutil.Error:
            pass
    return out


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 30.0) -> list[int]:
    """SIGTERM the processes still running, then wait for each in turn; one still running
    ``timeout`` s into its wait is killed. Their exit codes."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return codes


def wait_registered(
    url: str, count: int = 1, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ``count`` workers beat in the store at ``url`` (env "main") or, with ``proc``,
    until that one does (a killed worker stays listed for a while); fails at once if ``proc``
    exits. A pool deploys its apps before its first beat, so their functions can be called then."""

    def registered() -> bool:
        workers = backend.worker_list("main")
        if proc is None:
            return len(workers) >= count
        # A worker id is host:pid:token.
        return proc.poll() is not None or any(wid.split(":")[1] == str(proc.pid) for wid, _ in workers)

    backend = sync_open_backend(url)
    try:
        wait_until(registered, timeout, "the worker registered")
    finally:
        backend.close()
    assert proc is None or proc.poll() is None, f"the worker exited with code {proc.returncode}"


def start_worker(
    url: str, *worker_args: str, timeout: float = 60.0, quiet: bool = False, **env: str
) -> subprocess.Popen[bytes]:
    """``chute worker WORKER_ARGS`` serving the store at ``url``, returned once it has registered
    (within ``timeout`` s; stopped if it has not); the caller ``stop``s it.

    For a worker that a module's tests share (a worker's start-up is most of such a test's time):
    it runs in this process's environment without ``CLEARED_VARS`` (as ``chute_env`` would set it,
    which a module-scoped fixture runs before), with ``CHUTE_URL`` and ``env`` added. ``quiet``
    drops its stderr.
    """
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_VARS} | {"CHUTE_URL": url} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", *worker_args],
        env=env,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    try:
        wait_registered(url, timeout=timeout, proc=proc)
    except BaseException:
        stop([proc])
        raise
    return proc


class Workers:
    """``chute worker`` processes on ``app_file`` (tests/apps/jobs_app.py unless given), in this
    process's environment at start (``chute_env`` points it at the test's store);
    ``stop_all`` stops them (SIGTERM, then SIGKILL after 30 s)."""

    def __init__(self, app_file: str = APP_FILE) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.app_file = app_file

    def start(
        self, *extra: str, app_file: str | None = None, lease: float = LEASE
    ) -> subprocess.Popen[bytes]:
        env = {**os.environ, "CHUTE_LEASE": str(lease)}
        argv = [sys.executable, "-m", "chute", "worker", app_file or self.app_file, *extra]
        proc = subprocess.Popen(argv, env=env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> list[int]:
        return stop(self.procs)
