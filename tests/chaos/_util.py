"""Shared machinery of the chaos suite: checksummed items, ack logs, forked children, workers."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import chute
from chute._client import Client
from tests._workers import stop
from tests._workers import wait_until as wait_until  # the suite's one, re-exported for the chaos tests

ROOT = Path(__file__).resolve().parents[2]
APP_FILE = str(ROOT / "tests" / "chaos" / "chaos_app.py")
# Forked children start in milliseconds (no interpreter start-up); chute re-opens its
# connections in the child (the pid check in Client).
FORK = multiprocessing.get_context("fork")

# -- checksummed items -----------------------------------------------------------------------

_HEAD = struct.Struct(">IIII")  # source, batch (or seq), index, batch size


def make_item(source: int, batch: int, index: int = 0, size: int = 1) -> bytes:
    """A self-describing item: header, a filler of 0..95 bytes derived from the header, CRC32."""
    head = _HEAD.pack(source, batch, index, size)
    digest = hashlib.blake2b(head, digest_size=32).digest()
    body = head + digest * 3
    body = body[: _HEAD.size + digest[0] % 96]
    return body + struct.pack(">I", zlib.crc32(body))


def check_item(item: object) -> tuple[int, int, int, int] | None:
    """``(source, batch, index, size)`` of an intact item, None if it is corrupted or foreign."""
    if not isinstance(item, bytes) or len(item) < _HEAD.size + 4:
        return None
    body, crc = item[:-4], item[-4:]
    if struct.pack(">I", zlib.crc32(body)) != crc:
        return None
    ident = _HEAD.unpack(body[: _HEAD.size])
    if make_item(*ident) != item:
        return None
    return ident


# -- ack logs --------------------------------------------------------------------------------


class AckLog:
    """An append-only file a child writes one line to per event, each line with one ``write``.

    A line written after an operation returned is the acknowledgement the parent counts. A
    child killed mid-write leaves at most a partial last line, which ``records`` drops.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def write(self, *fields: object) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._fd, (" ".join(str(f) for f in fields) + "\n").encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def records(self) -> list[list[str]]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        return [line.decode().split(" ") for line in lines[:-1] if line]  # last: partial or ""


# -- processes -------------------------------------------------------------------------------


def quiesce() -> None:
    """Close this process's chute connections, so forked children inherit none of them."""
    Client.from_env().close()


def fork(target: Callable[..., Any], *args: Any) -> BaseProcess:
    proc = FORK.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def kill9(proc: BaseProcess | subprocess.Popen[bytes]) -> None:
    pid = proc.pid
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if isinstance(proc, subprocess.Popen):
        proc.wait(10)
    else:
        proc.join(10)


def drain(q: chute.Queue, partitions: list[str | None]) -> dict[str | None, list[Any]]:
    """Everything left in the partitions, in FIFO order, read by one reader."""
    out: dict[str | None, list[Any]] = {}
    for p in partitions:
        got: list[Any] = []
        while batch := q.get_many(1000, block=False, partition=p):
            got += batch
        out[p] = got
    return out


class Workers:
    """``python -m chute worker APP_FILE`` processes; the survivors get SIGTERM at teardown."""

    def __init__(self, log: Path, env: dict[str, str] | None = None, app_file: str = APP_FILE) -> None:
        self.env = {**os.environ, "CHUTE_LEASE": "1", **(env or {})}
        self.app_file = app_file
        self.log = log  # the workers' stdout and stderr, for post-mortems
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started_at: dict[int, float] = {}  # pid -> unix time of the start

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "chute", "worker", self.app_file, "--grace", "2", *extra],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        self.started_at[proc.pid] = time.time()
        return proc

    def stop_all(self) -> None:
        stop(self.procs, 20)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def env_vars(**values: str | None) -> Iterator[None]:
    """Temporarily set (or, with None, unset) environment variables of this process."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
