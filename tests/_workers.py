"""Real ``chute worker`` processes serving tests/apps/jobs_app.py, for the job tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = str(ROOT / "tests" / "apps" / "jobs_app.py")
LEASE = 1.0  # short leases, so lost calls come back fast


class Workers:
    """``chute worker`` processes; ``stop_all`` stops them (SIGTERM, then SIGKILL after 30 s).

    They run in this process's environment at start (``chute_env`` points it at the test's
    store), or in ``env`` when given (a worker shared by a module starts before any test's
    environment is set).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = env

    def start(self, *extra: str, app_file: str = APP_FILE) -> subprocess.Popen[bytes]:
        env = {**(os.environ if self.env is None else self.env), "CHUTE_LEASE": str(LEASE)}
        proc = subprocess.Popen([sys.executable, "-m", "chute", "worker", app_file, *extra], env=env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> list[int]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start
