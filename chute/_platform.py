"""Every Linux-only call chute makes, each with its portable fallback.

chute runs on Linux and macOS (Windows is not supported: executors rely on ``fork``-style
process groups and POSIX signals). Linux gives three things the others lack; the fallback
used elsewhere (and on Linux with ``CHUTE_PORTABLE=1``, which is how the tests cover it):

- **parent-death signal** (``prctl(PR_SET_PDEATHSIG)``): a child process is signalled the
  moment its parent dies. Fallback: a daemon thread polls ``os.getppid()`` every half second
  and acts when the parent changed (so a child may outlive a ``kill -9``'d parent by 0.5 s).
  The thread runs on Linux too, as a second line (the signal is lost if the parent dies
  between ``fork`` and ``prctl``);
- **pidfds** (``os.pidfd_open``): the supervisor's selector wakes the moment an executor
  exits. Fallback: ``None``, and the supervisor polls exit codes every 0.25 s;
- **abstract unix sockets** (no file on disk) for SQLite's cross-process wake-ups. Fallback:
  a socket file in a short temporary path;
- **process name** (``prctl(PR_SET_NAME)``) when ``setproctitle`` is missing. Fallback: none.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from chute import _settings_table

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
POLL_INTERVAL = 0.5


def linux() -> bool:
    """Whether the Linux-only calls are used: on Linux, unless ``CHUTE_PORTABLE=1``."""
    return sys.platform.startswith("linux") and not _settings_table.read("CHUTE_PORTABLE")


def _prctl(option: int, arg: int | bytes) -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)


def die_with_parent(
    parent: int, sig: int = signal.SIGKILL, on_death: Callable[[], None] | None = None
) -> None:
    """End this process when ``parent`` (its parent's pid) exits, ``kill -9`` included.

    On Linux the kernel sends ``sig`` at once; everywhere a watcher thread also checks every
    ``POLL_INTERVAL`` and then calls ``on_death`` (default: send ourselves ``sig``).
    """
    if linux():
        _prctl(_PR_SET_PDEATHSIG, int(sig))
    if on_death is None:

        def on_death() -> None:
            os.kill(os.getpid(), sig)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_INTERVAL)
        on_death()

    threading.Thread(target=watch, name="chute-parent-watch", daemon=True).start()


def parent_death_signal(sig: int) -> None:
    """Ask the kernel to send ``sig`` when the parent dies (Linux only, no fallback): for a
    ``preexec_fn``, where no thread may start. A child that must also die elsewhere calls
    :func:`die_with_parent` itself."""
    if linux():
        _prctl(_PR_SET_PDEATHSIG, int(sig))


def set_name(name: str) -> None:
    """The short process name (``top``'s COMMAND) on Linux; nothing elsewhere."""
    if linux():
        _prctl(_PR_SET_NAME, name.encode()[:15])


def pidfd_open(pid: int) -> int | None:
    """A file descriptor readable once ``pid`` exits (Linux >= 5.3), else None: poll then."""
    if not linux():
        return None
    with contextlib.suppress(AttributeError, OSError):
        return os.pidfd_open(pid)
    return None


def abstract_sockets() -> bool:
    """Whether unix sockets may live in the abstract namespace (no file to clean up)."""
    return linux()
