"""Process control for executors: start, talk, reap, kill — never blocking the supervisor.

- **Own session.** Each executor starts in a new session (``setsid``), so its process group
  holds everything the user's code forks; killing an attempt kills the group, grandchildren
  included, and a Ctrl-C in the worker's terminal reaches only the supervisor.
- **No blocking waits.** The supervisor watches a pidfd per executor (readable once the
  process has exited) in its selector and reaps with ``waitpid(WNOHANG)``; it never joins.
  Where pidfds are missing (not Linux), it polls at each turn of its loop instead.
- **Framed pickles over a socketpair.** Each message is a 4-byte length and a pickle. The
  supervisor's side is non-blocking with an outbox, so a wedged executor cannot stall it;
  the executor's side blocks (it has nothing else to do).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from chute import _platform
from chute.worker._zygote import Zygote, readable

_HEADER = struct.Struct(">I")
_CHUTE_ROOT = str(Path(__file__).resolve().parent.parent.parent)
# The executor's entry point; chute's own folder first so it imports like the supervisor did.
_BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from chute.worker._executor import main; main()"


def frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


class FrameReader:
    """Splits a byte stream into messages."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out: list[Any] = []
        while len(self._buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buf)
            end = _HEADER.size + size
            if len(self._buf) < end:
                break
            out.append(pickle.loads(bytes(self._buf[_HEADER.size : end])))
            del self._buf[:end]
        return out


class Channel:
    """The supervisor's non-blocking end of an executor's socket."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._out = bytearray()
        self._reader = FrameReader()

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants_write(self) -> bool:
        return bool(self._out)

    def send(self, message: Any) -> None:
        self._out += frame(message)
        self.flush()

    def flush(self) -> None:
        """Write what the socket takes now; the rest waits for the selector to say writable."""
        while self._out:
            try:
                n = self.sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._out.clear()  # the executor is gone: its death is handled by the reaper
                return
            del self._out[:n]

    def read(self) -> list[Any]:
        """Every complete message available now. Raises EOFError once the executor closed its end."""
        messages: list[Any] = []
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return messages
            except OSError as exc:
                raise EOFError from exc
            if not data:
                if messages:
                    return messages
                raise EOFError
            messages += self._reader.feed(data)

    def close(self) -> None:
        self.sock.close()


class BlockingChannel:
    """The executor's end: blocking, safe to send from several threads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = FrameReader()
        self._pending: list[Any] = []
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        data = frame(message)
        with self._lock:
            self.sock.sendall(data)

    def send_all(self, messages: list[Any]) -> None:
        data = b"".join(frame(m) for m in messages)
        with self._lock:
            self.sock.sendall(data)

    def has_input(self) -> bool:
        """Whether a message (maybe a cancel) is waiting to be read."""
        if self._pending:
            return True
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready)

    def recv(self) -> Any:
        """The next message. Raises EOFError when the supervisor is gone."""
        while not self._pending:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self._pending = self._reader.feed(data)
        return self._pending.pop(0)

    def recv_ready(self) -> list[Any]:
        """The messages that arrived already (maybe none), without blocking."""
        out, self._pending = self._pending, []
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    if out:
                        return out
                    raise EOFError
                out += self._reader.feed(data)
        except (BlockingIOError, InterruptedError):
            return out
        finally:
            self.sock.setblocking(True)

    def feed(self, data: bytes) -> list[Any]:
        """For an event loop that reads the socket itself: the messages ``data`` completes,
        after any that ``recv`` had already read but not returned."""
        out, self._pending = self._pending + self._reader.feed(data), []
        return out


class ExecutorProcess:
    """One executor: its process (leader of its own session), socket and pidfd. Forked from
    ``zygote`` when given and usable (``_zygote``), else started as a new interpreter."""

    def __init__(
        self, init: dict[str, Any], env: dict[str, str] | None = None, zygote: Zygote | None = None
    ) -> None:
        ours, theirs = socket.socketpair()
        self.proc: subprocess.Popen[bytes] | None = None
        self.zygote: Zygote | None = None
        try:
            if zygote is not None and zygote.usable_for(env):
                with contextlib.suppress(OSError):  # a failed zygote: start from scratch
                    self.pid = zygote.spawn(theirs, env)
                    self.zygote = zygote
            if self.zygote is None:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _BOOTSTRAP, _CHUTE_ROOT, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                )
                self.pid = self.proc.pid
        finally:
            theirs.close()
        self.channel = Channel(ours)
        self.channel.send(("init", init))
        self.pidfd = _platform.pidfd_open(self.pid)  # None off Linux: the supervisor polls then
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the process has exited (reaped without waiting), else None."""
        if self.returncode is None:
            if self.proc is not None:
                self.returncode = self.proc.poll()
            elif self.zygote is not None and (self.pidfd is None or readable(self.pidfd)):
                self.returncode = self.zygote.wait(self.pid)  # its parent reaps it
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the executor's whole process group (what it forked dies with it). Never waits."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None and self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def close(self) -> None:
        """Release the socket and pidfd (after ``kill``, or once it exited)."""
        self.channel.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


# -- inside the executor ------------------------------------------------------------------------


def die_with_parent(parent: int) -> None:
    """Make sure an executor never outlives its supervisor (``kill -9`` included)."""
    _platform.die_with_parent(parent, signal.SIGKILL, on_death=lambda: os._exit(70))


def is_gone(exc: OSError) -> bool:
    return exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.EBADF)
