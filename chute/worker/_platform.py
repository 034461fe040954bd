"""The Linux-specific calls of the worker, in one place, each with its fallback.

- **Private mounts** (``mount_volumes``, in an executor before it imports user code): the
  executor leaves the host's mount namespace (``unshare(CLONE_NEWNS)``, with
  ``CLONE_NEWUSER`` when it is not root, so no privilege is needed where unprivileged user
  namespaces are allowed), makes its mounts private (nothing propagates back to the host),
  and bind-mounts each volume's directory at its mount path (read-only for
  ``read_only()`` handles). A missing mount point is created first (an empty directory is
  left on the host). Fallback: where this is not possible (not Linux, user namespaces
  disabled, a container without ``CAP_SYS_ADMIN``, or ``CHUTE_MOUNT_NAMESPACES=0``)
  ``MountUnavailable`` says which path could not be mounted and why; the executor reports it
  and the calls sent to it fail with that message.
- **Memory of a process group** (``group_rss``): read from ``/proc`` on Linux; elsewhere from
  ``psutil`` when it is installed; else None (memory limits are then not enforced, and the
  worker says so once).

The unshare must happen while the process has one thread (the kernel refuses
``CLONE_NEWUSER`` otherwise): the executor calls ``mount_volumes`` first thing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Sequence

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
    if sys.platform != "linux":
        raise MountUnavailable(
            fix.format(why=f"private mount namespaces need Linux (this is {sys.platform})")
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
    if sys.platform == "linux":
        return _proc_group_rss(pgid)
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    total = 0
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if os.getpgid(proc.pid) == pgid:
                total += int(proc.memory_info().rss)
    return total


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_group_rss(pgid: int) -> int:
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
        if len(fields) > 21 and int(fields[2]) == pgid:
            total += int(fields[21]) * _PAGE
    return total
