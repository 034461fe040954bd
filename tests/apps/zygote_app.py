"""Functions that report where their executor came from (tests/test_zygote.py)."""

from __future__ import annotations

import atexit
import os
import random
import sys
import time
from pathlib import Path

import chute

app = chute.App("test-zygote")


def _lineage() -> dict[str, object]:
    parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "parent": parent,
        "session_leader": os.getsid(0) == os.getpid(),
        "argv": sys.argv,
        "flavour": os.environ.get("FLAVOUR"),
        "random": random.random(),
        "user_modules": sorted(m for m in sys.modules if m.startswith("tests.apps") and m != __name__),
    }


@app.function(max_containers=2, env={"FLAVOUR": "mint"})
def lineage(seconds: float = 0.0) -> dict[str, object]:
    """Where this executor came from; sleeps first, so concurrent calls get two executors."""
    time.sleep(seconds)
    return _lineage()


@app.function(env={"PYTHONHASHSEED": "7"})
def interpreter_env() -> dict[str, object]:
    """An env that changes how the interpreter starts: this executor is started from scratch."""
    return {**_lineage(), "hash": hash("chute")}


@app.function()
def exit_with(code: int, marker: str) -> None:
    """Registers an exit hook that writes ``marker``, then exits with ``code``."""
    atexit.register(lambda: Path(marker).write_text("ran"))
    sys.exit(code)


@app.function(env={"BIG": "x" * 100_000})
def big_env() -> dict[str, object]:
    """An environment larger than one message to the zygote."""
    return _lineage()
