"""Executors forked from a warm copy of the worker instead of started from scratch.

A new executor started as ``python -c ...`` spends ~0.7 s (seconds on a loaded machine)
importing chute before it loads the user's code: that is the delay before a crashed call's
retry, before a scaled-up executor takes work, and most of a worker's CPU when executors are
recycled. So the supervisor forks one *zygote* of itself first thing, before it imports any
user code, opens a connection or starts a thread. The zygote holds chute and the executor's
code (the supervisor imported them, and hands it the executor's ``main``), then waits; each
executor is a ``fork`` of it (a few ms) that loads the user's code as a fresh ``python -c``
executor would. Nothing of the user's is ever inherited: the zygote was made before the apps
were imported.

Protocol, over a ``SOCK_SEQPACKET`` pair (one message each way per request, blocking):
``("fork", env)`` with the executor's socket as ``SCM_RIGHTS`` → ``("pid", pid)``;
``("wait", pid)`` once the executor's pidfd is readable → ``("code", exit_code)``. The zygote
is the executors' parent (it reaps them, and they die with it: parent-death signal); it dies
with the supervisor (parent-death signal, and end of file on its socket).

Used only where it is safe and pays: on Linux with pidfds, in a process with one thread when
the pool is created (``chute worker``), unless ``CHUTE_FORK_EXECUTORS=0``. An executor whose
environment changes how the interpreter starts (``PYTHON*`` variables) is started from scratch.
If the zygote fails, executors are started from scratch from then on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from chute import _platform, _settings_table

REPLY_TIMEOUT = 10.0  # a fork takes milliseconds; this long means the zygote is wedged
_MAX_MESSAGE = 1 << 20
_MAX_REQUEST = 1 << 16  # well under a unix datagram socket's default buffer (~200 KiB)


def _interpreter_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


class Zygote:
    """The supervisor's handle on its zygote (see the module docstring)."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self._sock = sock
        self._env = _interpreter_env(dict(os.environ))
        self.broken = False

    @classmethod
    def fork(cls, entry: Callable[[int, int], None]) -> Zygote | None:
        """Fork the zygote from this process, or None where that is unsafe or off. Each
        executor it forks runs ``entry(socket fd, zygote pid)`` (the executor's ``main``;
        the caller has imported it, so the zygote holds it warm)."""
        if not _platform.linux() or not hasattr(os, "pidfd_open") or not hasattr(socket, "send_fds"):
            return None
        if _settings_table.read("CHUTE_FORK_EXECUTORS") is False:
            return None
        if threading.active_count() != 1:
            return None  # a thread's locks would be copied held: start executors from scratch
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # else what sits in the buffers is written twice
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the zygote: never returns into the caller's frames
            code = 0
            try:
                ours.close()
                _serve(theirs, parent, entry)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        theirs.close()
        ours.settimeout(REPLY_TIMEOUT)
        return cls(pid, ours)

    def usable_for(self, env: dict[str, str] | None) -> bool:
        return not self.broken and (env is None or _interpreter_env(env) == self._env)

    def spawn(self, executor_sock: socket.socket, env: dict[str, str] | None) -> int:
        """Fork an executor talking on ``executor_sock`` (its end); its pid. Raises OSError
        for an environment too large to send, and (marking the zygote broken) if the zygote
        does not answer: the caller starts that executor from scratch."""
        request = pickle.dumps(("fork", env))
        if len(request) > _MAX_REQUEST:  # one datagram each way: this one starts from scratch
            raise OSError(f"an executor environment of {len(request)} bytes is too large to fork")
        try:
            socket.send_fds(self._sock, [request], [executor_sock.fileno()])
            kind, pid = self._reply()
        except (OSError, EOFError, pickle.PickleError, ValueError) as exc:
            self.close()
            raise OSError(f"the executor zygote failed: {exc}") from exc
        assert kind == "pid", kind
        return int(pid)

    def wait(self, pid: int) -> int | None:
        """The exit code of executor ``pid`` once it has exited (reaped by the zygote), else
        None. Never blocks for long: asked when the executor's pidfd is readable."""
        if not self.broken:
            try:
                self._sock.send(pickle.dumps(("wait", pid)))
                kind, code = self._reply()
                assert kind == "code", kind
                return None if code is None else int(code)
            except (OSError, EOFError, pickle.PickleError, ValueError):
                self.close()
        # The zygote is gone, and its executors were killed with it (parent-death signal).
        return -signal.SIGKILL

    def _reply(self) -> tuple[str, Any]:
        data = self._sock.recv(_MAX_MESSAGE)
        if not data:
            raise EOFError("the zygote closed its socket")
        kind, value = pickle.loads(data)
        return kind, value

    def close(self) -> None:
        """Stop the zygote (end of file on its socket) and reap it; executors it forked die."""
        self.broken = True
        self._sock.close()
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


# -- inside the zygote --------------------------------------------------------------------------


def _serve(sock: socket.socket, parent: int, entry: Callable[[int, int], None]) -> None:
    _platform.parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:
        return  # the supervisor died before the signal was armed
    os.setsid()  # a Ctrl-C in the worker's terminal is for the supervisor alone
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    _platform.set_title(f"chute executor zygote (worker pid {parent})")
    sock.setblocking(True)
    me = os.getpid()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except OSError:
            return
        if not data:
            return  # the supervisor closed its end, or died
        request = pickle.loads(data)
        if request[0] == "fork":
            pid = os.fork()
            if pid == 0:
                sock.close()
                _executor_child(entry, fds[0], request[1], me)
            for fd in fds:
                os.close(fd)
            sock.send(pickle.dumps(("pid", pid)))
        elif request[0] == "wait":
            code: int | None = None
            with contextlib.suppress(ChildProcessError):
                got, status = os.waitpid(request[1], os.WNOHANG)
                if got:
                    code = os.waitstatus_to_exitcode(status)
            sock.send(pickle.dumps(("code", code)))


def _executor_child(
    entry: Callable[[int, int], None], fd: int, env: dict[str, str] | None, zygote: int
) -> None:
    """Become an executor, as ``python -c <bootstrap>`` would have; never returns."""
    code: Any = 0
    try:
        os.setsid()
        atexit._clear()  # the supervisor's exit hooks are not ours; the user's code adds its own
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
            time.tzset()  # the C library's time zone follows TZ, as in a new interpreter
        sys.argv = ["-c"]
        entry(fd, zygote)
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if code is not None and not isinstance(code, int):
            with contextlib.suppress(Exception):
                print(code, file=sys.stderr, flush=True)  # as the interpreter does at exit
            code = 1
        os._exit(code or 0)


def readable(fd: int) -> bool:
    """Whether ``fd`` (a pidfd) is readable now, i.e. its process has exited."""
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)
