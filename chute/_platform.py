"""Every Linux-only call chute makes, each with its portable fallback.

chute runs on Linux and macOS (Windows is not supported: executors rely on ``fork``-style
process groups and POSIX signals). What Linux gives that the others lack, and the fallback
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
- **process name** (``prctl(PR_SET_NAME)``) when ``setproctitle`` is missing. Fallback: none;
- **Private mounts** (``mount_volumes``, in an executor before it imports user code): the
  executor leaves the host's mount namespace (``unshare(CLONE_NEWNS)``, with
  ``CLONE_NEWUSER`` when it is not root, so no privilege is needed where unprivileged user
  namespaces are allowed), makes its mounts private (nothing propagates back to the host),
  and bind-mounts each volume's directory at its mount path (read-only for
  ``read_only()`` handles). A missing mount point is created first (an empty directory is
  left on the host). Fallback: where this is not possible (not Linux, user namespaces
  disabled, a container without ``CAP_SYS_ADMIN``, ``CHUTE_MOUNT_NAMESPACES=0`` or
  ``CHUTE_PORTABLE=1``)
  ``MountUnavailable`` says which path could not be mounted and why; the executor reports it
  and the calls sent to it fail with that message.
- **Memory of a process group** (``group_rss``, and ``pool_rss`` for a worker and its
  executors' groups, shown on the dashboard): read from ``/proc`` on Linux; elsewhere from
  ``psutil`` when it is installed; else None (memory limits are then not enforced, and the
  worker says so once; the dashboard shows no memory).

The unshare must happen while the process has one thread (the kernel refuses
``CLONE_NEWUSER`` otherwise): the executor calls ``mount_volumes`` first thing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from chute import _settings_table

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
POLL_INTERVAL = 0.5


_FORCED = ", or CHUTE_PORTABLE=1 forces the portable path" if sys.platform.startswith("linux") else ""

# How many times this process's ancestry forked since chute was imported: 0 in the process that
# imported it, +1 in each child of an ``os.fork()``. Per-process state (connections, write-behind
# and read-ahead buffers) records it and compares on every operation, instead of calling
# ``os.getpid()`` (a system call: profiled at ~30 % of a write-behind put and of a read-ahead get).
forks = 0


def _after_fork_in_child() -> None:
    global forks
    forks += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


def set_title(title: str) -> None:
    """Show ``title`` in ``ps``/``top`` instead of the interpreter's command line
    (``setproctitle``, a dependency; else the short name where Linux allows it)."""
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:  # pragma: no cover - setproctitle is a dependency
        set_name(title)


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


# -- the worker: private mounts, memory of a process group --------------------------------------
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

# (mount path, source directory, read only, volume name)
MountSpec = tuple[str, str, bool, str]


class MountUnavailable(Exception):
    """A volume cannot be shown at its mount path in this executor (the message says why)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enter_namespace(libc: ctypes.CDLL) -> None:
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        return
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
    # Keep our own ids inside the namespace: files stay ours, and we hold CAP_SYS_ADMIN over
    # the new mount namespace (the creator of a user namespace has every capability in it).
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")


def mount_volumes(mounts: Sequence[MountSpec], enabled: bool = True) -> None:
    """Show each volume's directory at its mount path, for this process and its children only.

    Raises:
        MountUnavailable: the platform (or ``CHUTE_MOUNT_NAMESPACES=0``) does not allow it; the
            message names the first mount path and the volume.
    """
    if not mounts:
        return
    path, _, _, volume = mounts[0]
    fix = (
        f"Volume {volume!r} cannot be mounted at {path!r}: "
        "{why}. Run the worker where private mount namespaces are allowed (Linux, with "
        "unprivileged user namespaces or as root), or read the volume through its local_path."
    )
    if not enabled:
        raise MountUnavailable(
            fix.format(why="private mount namespaces are disabled (CHUTE_MOUNT_NAMESPACES=0)")
        )
    if not linux():
        raise MountUnavailable(
            fix.format(why=f"private mount namespaces need Linux (this is {sys.platform}{_FORCED})")
        )
    try:
        libc = _libc()
        _enter_namespace(libc)
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    except OSError as exc:
        raise MountUnavailable(
            fix.format(why=f"a private mount namespace is not allowed here ({exc})")
        ) from exc
    for path, source, read_only, volume in mounts:
        try:
            os.makedirs(path, exist_ok=True)
            _check(libc.mount(source.encode(), path.encode(), None, MS_BIND | MS_REC, None), "bind mount")
            if read_only:
                flags = MS_BIND | MS_REMOUNT | MS_RDONLY
                _check(libc.mount(None, path.encode(), None, flags, None), "read-only remount")
        except OSError as exc:
            raise MountUnavailable(f"Volume {volume!r} cannot be mounted at {path!r}: {exc}.") from exc


def group_rss(pgid: int) -> int | None:
    """Resident memory (bytes) of every process in process group ``pgid``; None when this
    platform cannot tell."""
    return pool_rss(None, [pgid])


def pool_rss(pid: int | None, pgids: Sequence[int]) -> int | None:
    """Resident memory (bytes) of process ``pid`` plus every process in the groups ``pgids``
    (one pass over the processes); None when this platform cannot tell."""
    groups = set(pgids)
    if linux():
        return _proc_rss(pid, groups)
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    total = 0
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid == pid or os.getpgid(proc.pid) in groups:
                total += int(proc.memory_info().rss)
    return total


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_rss(pid: int | None, groups: set[int]) -> int:
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # Fields after the command (which may hold spaces): state ppid pgrp … rss is field 24.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 21 and (int(fields[2]) in groups or int(name) == pid):
            total += int(fields[21]) * _PAGE
    return total
