"""A call's output, captured per call inside the executor and shipped to the supervisor.

The executor replaces ``sys.stdout``/``sys.stderr`` with writers that still write to the
worker's terminal and also append what they get to the output of the *current call*, named
by a context variable: set in the main thread for serial functions, in each task for
``async def`` ones and in the input thread for ``@concurrent`` sync ones, so concurrent
calls' output never mixes. Output written to file descriptors 1/2 directly (C extensions,
subprocesses) is captured in serial executors (``_fdcapture``); in concurrent ones it goes to
the worker's own output only. Not captured: Python-level output of threads the function
starts itself (they do not inherit the context), and ``@batched`` functions (one run serves
several calls).

Pending output is bounded per call (``CHUTE_CALL_LOG_BYTES``, the last bytes win) and goes
to the supervisor as ``("logs", [(call_id, bytes), ...])`` every ``SHIP_EVERY`` seconds and
before the call's ``done`` (same stream, so it arrives first); the supervisor stores it
under the attempt it holds (``_logs.store``), with the function's ``result_ttl``.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TextIO

from chute import config
from chute._settings_table import DEFAULT_CALL_LOG_BYTES

if TYPE_CHECKING:
    from chute.worker._fdcapture import FdCapture

SHIP_EVERY = 0.5
_current: ContextVar[str | None] = ContextVar("chute_call_output", default=None)


def max_bytes() -> int:
    """``CHUTE_CALL_LOG_BYTES`` (0: capture nothing)."""
    value = config.env_value("CHUTE_CALL_LOG_BYTES")
    return DEFAULT_CALL_LOG_BYTES if value is None else int(value)


class Captured:
    """Output not yet shipped, per call id, each bounded to its last ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._pending: dict[str, bytearray] = {}
        self.writes = 0  # output ever added: a serial executor tells whether a call printed

    def add(self, call_id: str, data: bytes) -> None:
        with self._lock:
            self.writes += 1
            buf = self._pending.setdefault(call_id, bytearray())
            buf += data
            if len(buf) > self.limit:
                del buf[: len(buf) - self.limit]

    def drain(self) -> list[tuple[str, bytes]]:
        with self._lock:
            out, self._pending = self._pending, {}
        return [(call_id, bytes(data)) for call_id, data in out.items()]

    def has_pending(self) -> bool:
        return bool(self._pending)


class _Tee(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` in an executor: the original stream, plus the call's output."""

    def __init__(self, original: TextIO, sink: Captured, before: Callable[[], None] | None = None) -> None:
        self._original, self._sink, self._before = original, sink, before

    def write(self, s: str) -> int:
        if self._before is not None:
            self._before()  # fd-level output written before this line goes first
        written = self._original.write(s)
        call_id = _current.get()
        if call_id is not None and s:
            self._sink.add(call_id, s.encode("utf-8", "replace"))
        return len(s) if written is None else written

    def flush(self) -> None:
        self._original.flush()

    def fileno(self) -> int:
        return self._original.fileno()

    def isatty(self) -> bool:
        return self._original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._original.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def install(fd_level: bool = False) -> tuple[Captured | None, FdCapture | None]:
    """Route this process's ``sys.stdout``/``sys.stderr`` through the capture, and with
    ``fd_level`` (serial executors) its fds 1/2 too; (None, None) if disabled."""
    limit = max_bytes()
    if limit == 0:
        return None, None
    sink = Captured(limit)
    out, err = sys.stdout, sys.stderr
    fds: FdCapture | None = None
    before = None
    if fd_level:
        from chute.worker._fdcapture import FdCapture

        with contextlib.suppress(OSError):  # e.g. fd 1 closed: Python-level capture only
            fds = FdCapture(sink)
            out, err = fds.streams()
            before = fds.settle
    sys.stdout = _Tee(out, sink, before)
    sys.stderr = _Tee(err, sink, before)
    return sink, fds


@contextlib.contextmanager
def capturing(call_id: str) -> Iterator[None]:
    """Output written in this context (thread or task) belongs to ``call_id``."""
    token = _current.set(call_id)
    try:
        yield
    finally:
        _current.reset(token)


def run_captured(call_id: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with its output captured as ``call_id``'s (for a pool thread)."""
    with capturing(call_id):
        return fn(*args)


class SerialShipper:
    """Serial executors: a thread ships output every ``SHIP_EVERY``; ``send_all`` puts the rest
    before a call's ``done`` (one lock, so chunks never overtake each other)."""

    def __init__(self, channel: Any, sink: Captured | None) -> None:
        self._channel, self._sink = channel, sink
        self._lock = threading.Lock()
        if sink is not None:
            threading.Thread(target=self._run, name="chute-output", daemon=True).start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(SHIP_EVERY):
            if self._sink is not None and self._sink.has_pending():
                with contextlib.suppress(OSError), self._lock:
                    chunks = self._sink.drain()
                    if chunks:
                        self._channel.send(("logs", chunks))

    def send_all(self, messages: list[Any]) -> None:
        with self._lock:
            if self._sink is not None and self._sink.has_pending():
                messages = [("logs", self._sink.drain()), *messages]
            self._channel.send_all(messages)
