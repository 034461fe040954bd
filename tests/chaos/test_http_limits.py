"""Scenario 13 (and the HTTP half of 12) against a real ``chute serve`` process on loopback:
a 1 GiB streamed upload is refused with 413 while the server's memory stays flat, and a
malicious pickle body is refused unless pickle is enabled and the token is valid."""

from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests._servers import free_port
from tests.chaos._tally import Tally

TOKEN = "chaos-http-token"
GIB = 1024**3
CHUNK = 256 * 1024


class _Marker:
    """Unpickling this creates a file: proof that a payload ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (os.mknod, (self.path, 0o600)) if hasattr(os, "mknod") else (open, (self.path, "w"))  # type: ignore[return-value]


def _serve(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chute", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("chute serve did not start")


@pytest.fixture
def server(chute_env: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    proc, port = _serve("--token", TOKEN, "--allow-pickle")
    yield proc, port
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def _request(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(head.encode() + body)
        reply = s.recv(65536)
    return int(reply.split(b" ", 2)[1])


def test_gib_streamed_upload_is_refused_with_flat_memory(
    server: tuple[subprocess.Popen[bytes], int], tally: Tally
) -> None:
    tally.scenario, tally.backend = "13 HTTP 1 GiB upload", "http"
    proc, port = server
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert _request(port, "/queues/big", b"", auth) in (200, 201)
    rss = psutil.Process(proc.pid)
    before = rss.memory_info().rss
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    sent, status = 0, 0
    head = (
        "POST /queues/big/put HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in auth.items())
        + "\r\n"
    )
    chunk = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), 30) as s:
            s.sendall(head.encode())
            while sent < GIB:
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    break
                try:
                    s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += CHUNK
            s.settimeout(10)
            reply = s.recv(65536)
            status = int(reply.split(b" ", 2)[1])
    finally:
        stop.set()
        sampler.join()
    growth_mb = (peak - before) / 2**20
    tally.extra.update(status=status, sent_mib=round(sent / 2**20, 1), rss_growth_mib=round(growth_mb, 1))
    tally.account([1], [1])
    assert status == 413
    assert sent < GIB  # refused long before the whole upload went through
    assert growth_mb < 50, tally.line()


def test_pickle_over_http_needs_opt_in_and_a_valid_token(
    chute_env: str, tmp_path: Path, tally: Tally
) -> None:
    tally.scenario, tally.backend = "12/13 HTTP pickle injection", "http"
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Marker(str(marker)))
    pickled = {"Content-Type": "application/x-python-pickle"}
    refused = []
    plain, port = _serve("--token", TOKEN)  # pickle not enabled
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert _request(port, "/queues/inj", b"", auth) in (200, 201)
        refused.append(_request(port, "/queues/inj/put", payload, {**auth, **pickled}))
    finally:
        plain.send_signal(signal.SIGTERM)
        plain.wait(30)
    enabled, port = _serve("--token", TOKEN, "--allow-pickle")
    try:
        refused.append(
            _request(port, "/queues/inj/put", payload, {"Authorization": "Bearer wrong", **pickled})
        )
        refused.append(_request(port, "/queues/inj/put", payload, pickled))
    finally:
        enabled.send_signal(signal.SIGTERM)
        enabled.wait(30)
    tally.extra.update(statuses=refused)
    tally.account([1], [1])
    assert refused == [415, 401, 401]
    assert not marker.exists()  # the server never unpickled anything
