"""Scenarios 5 and 11 (Redis only): the server killed with -9 and restarted, and paused.

Each test runs its own server (a fault must not hit the other tests' shared server), with
``CHUTE_TIMEOUT=1``, and load from threads of the test process whose every acknowledged
write is counted.
"""

from __future__ import annotations

import contextlib
import os
import queue as stdlib_queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import chute
from chute.exception import BackendUnavailableError
from tests._servers import RedisServer, free_port, server_binary, start_redis
from tests.chaos._tally import Tally
from tests.chaos._util import check_item, drain, make_item

TIMEOUT = 1.0  # CHUTE_TIMEOUT in these tests


class RestartableRedis:
    """A valkey-server that fsyncs every write (AOF, ``appendfsync always``), restartable on
    the same port and directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait until it answers PING (AOF loaded); returns that moment (monotonic)."""
        args = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"]
        args += ["--loglevel", "warning"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"valkey-server exited at start ({self.proc.returncode})"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return time.monotonic()
            time.sleep(0.01)
        raise AssertionError(f"valkey-server did not come up on port {self.port}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Load:
    """Producer threads writing checksummed queue items and dict entries, counting acks."""

    q: chute.Queue
    d: chute.Dict
    stop: threading.Event = field(default_factory=threading.Event)
    acked: set[tuple[object, ...]] = field(default_factory=set)
    unacked: set[tuple[object, ...]] = field(default_factory=set)  # failed: may or may not be stored
    failures: list[float] = field(default_factory=list)  # seconds each failed call took
    errors: list[str] = field(default_factory=list)  # anything but BackendUnavailableError
    threads: list[threading.Thread] = field(default_factory=list)

    def _write(self, source: int, k: int) -> set[tuple[object, ...]]:
        """One write; returns the ids it stores."""
        if source == 0:
            n = 1 + k % 7
            self.q.put_many([make_item(source, k, i, n) for i in range(n)])
            return {("Q", source, k, i, n) for i in range(n)}
        self.d.put(f"{source}:{k}", make_item(source, k))
        return {("D", f"{source}:{k}")}

    def _ids(self, source: int, k: int) -> set[tuple[object, ...]]:
        n = 1 + k % 7
        return {("Q", source, k, i, n) for i in range(n)} if source == 0 else {("D", f"{source}:{k}")}

    def _run(self, source: int) -> None:
        k = 0
        while not self.stop.is_set():
            k += 1
            start = time.monotonic()
            try:
                self.acked |= self._write(source, k)
                continue
            except BackendUnavailableError:
                self.failures.append(time.monotonic() - start)
            except Exception as exc:  # a wrong exception type is a finding, not a crash
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.unacked |= self._ids(source, k)
            time.sleep(0.02)

    def start(self) -> None:
        for source in (0, 1):
            t = threading.Thread(target=self._run, args=(source,), daemon=True)
            t.start()
            self.threads.append(t)

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)
            assert not t.is_alive(), "a load thread is stuck in a chute call"

    def read_back(self, parts: list[str | None]) -> tuple[list[tuple[object, ...]], int]:
        received: list[tuple[object, ...]] = []
        corrupt = 0
        for item in (i for batch in drain(self.q, parts).values() for i in batch):
            ident = check_item(item)
            if ident is None:
                corrupt += 1
            else:
                received.append(("Q", *ident))
        for key, value in self.d.items():
            source, k = (int(x) for x in key.split(":"))
            if value == make_item(source, k):
                received.append(("D", key))
            else:
                corrupt += 1
        return received, corrupt


def _timed_failure(op: object) -> float:
    """Seconds until ``op()`` raised BackendUnavailableError (AssertionError if it did not)."""
    start = time.monotonic()
    try:
        op()  # type: ignore[operator]
    except BackendUnavailableError:
        return time.monotonic() - start
    raise AssertionError(f"{op} succeeded while the server was down")


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[RestartableRedis]:
    srv = RestartableRedis(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


def test_redis_server_kill9_restart(
    restartable: RestartableRedis, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    """valkey-server (appendonly yes, appendfsync always) killed with -9 and restarted on the
    same port and directory >= 20 times under load: no acknowledged write lost; during the
    downtime calls fail with BackendUnavailableError within CHUTE_TIMEOUT + 1 s; clients
    reconnect within 5 s of the restart."""
    tally.scenario, tally.backend = "5 redis kill -9 + restart (AOF)", "redis"
    restartable.start()
    monkeypatch.setenv("CHUTE_URL", f"redis://127.0.0.1:{restartable.port}/0?prefix=chaos5:")
    monkeypatch.setenv("CHUTE_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "10000000")  # never block on a full partition
    load = Load(
        chute.Queue.from_name("chaos-restart", create_if_missing=True),
        chute.Dict.from_name("chaos-restart", create_if_missing=True),
    )
    load.q.len()
    load.d.len()
    probe_q = chute.Queue.from_name("chaos-restart")
    down_errors: list[float] = []
    reconnects: list[float] = []
    load.start()
    try:
        for _ in range(20):
            time.sleep(0.4)
            restartable.kill()
            tally.kills += 1
            down_errors.append(_timed_failure(probe_q.len))
            down_errors.append(_timed_failure(lambda: probe_q.get(timeout=3)))
            time.sleep(0.3)
            ready = restartable.start()
            while True:
                try:
                    probe_q.len()
                    break
                except BackendUnavailableError:
                    if time.monotonic() - ready > 10:
                        raise
                    time.sleep(0.01)
            reconnects.append(time.monotonic() - ready)
        time.sleep(0.3)
    finally:
        load.join()
    received, corrupt = load.read_back([None])
    tally.account(load.acked, received, unexpected=corrupt, may_be_present=load.unacked)
    tally.extra.update(
        failed_calls=len(load.failures),
        max_fail_s=max(load.failures + down_errors),
        max_reconnect_s=max(reconnects),
        other_errors=len(load.errors),
    )
    chute.Client.from_env().close()
    assert tally.kills >= 20
    assert (tally.lost, tally.duplicated, tally.unexpected) == (0, 0, 0), tally.line()
    assert not load.errors, load.errors[:5]
    assert max(load.failures + down_errors) <= TIMEOUT + 1, tally.line()
    assert max(reconnects) <= 5, tally.line()


# -- 11. server paused ---------------------------------------------------------------------------

PAUSE = 5.0
GET_TIMEOUT = 1.5


@pytest.fixture
def pausable() -> Iterator[RedisServer]:
    srv = start_redis()
    try:
        yield srv
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(srv.proc.pid, signal.SIGCONT)
        srv.stop()


@dataclass
class Getters:
    """A consumer (get_many, acknowledged items counted) and a getter blocked on an empty
    partition (at any moment most likely inside BLPOP); every call's duration is kept."""

    q: chute.Queue
    stop: threading.Event
    got: list[tuple[object, ...]] = field(default_factory=list)
    corrupt: int = 0
    failed: int = 0  # consumer calls that raised BackendUnavailableError
    calls: list[tuple[str, float, str]] = field(default_factory=list)  # (who, seconds, outcome)
    threads: list[threading.Thread] = field(default_factory=list)

    def _timed(self, who: str, get: Callable[[], list[bytes]]) -> list[bytes]:
        start = time.monotonic()
        items: list[bytes] = []
        try:
            items = get()
            outcome = "items"
        except stdlib_queue.Empty:
            outcome = "empty"
        except BackendUnavailableError:
            outcome = "unavailable"
        self.calls.append((who, time.monotonic() - start, outcome))
        return items

    def _consume(self) -> None:
        while not self.stop.is_set():
            batch = self._timed("consumer", lambda: self.q.get_many(20, timeout=GET_TIMEOUT))
            self.failed += self.calls[-1][2] == "unavailable"
            for item in batch:
                ident = check_item(item)
                if ident is None:
                    self.corrupt += 1
                else:
                    self.got.append(("Q", *ident))

    def _block(self) -> None:
        while not self.stop.is_set():
            self._timed("blocked", lambda: [self.q.get(timeout=GET_TIMEOUT, partition="idle")])

    def start(self) -> None:
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._consume, self._block)]
        for t in self.threads:
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join(30)
            assert not t.is_alive(), "a getter thread is stuck in a chute call"


def test_redis_paused_under_load(
    pausable: RedisServer, monkeypatch: pytest.MonkeyPatch, tally: Tally
) -> None:
    """The server SIGSTOPped for 5 s under load (producers, a consumer, a blocked getter):
    calls fail with BackendUnavailableError within CHUTE_TIMEOUT + 1 s, blocking gets return
    within their timeout (+ CHUTE_TIMEOUT + 1 s), and after SIGCONT no acknowledged item is
    delivered twice, and none is lost but those taken by gets in flight when it stopped."""
    tally.scenario, tally.backend = "11 redis SIGSTOP 5 s", "redis"
    monkeypatch.setenv("CHUTE_URL", f"{pausable.url}?prefix=chaos11:")
    monkeypatch.setenv("CHUTE_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "10000000")
    q = chute.Queue.from_name("chaos-pause", create_if_missing=True)
    load = Load(q, chute.Dict.from_name("chaos-pause", create_if_missing=True))
    getters = Getters(q, load.stop)
    load.start()
    getters.start()
    time.sleep(1.0)
    os.kill(pausable.proc.pid, signal.SIGSTOP)
    paused = time.monotonic()
    probes = []
    try:
        while time.monotonic() - paused < PAUSE - TIMEOUT - 1:
            probes.append(_timed_failure(q.len))
    finally:
        time.sleep(max(0.0, PAUSE - (time.monotonic() - paused)))
        os.kill(pausable.proc.pid, signal.SIGCONT)
    time.sleep(1.5)
    load.join()
    getters.join()
    received, corrupt = load.read_back([None])
    tally.account(
        load.acked, received + getters.got, unexpected=corrupt + getters.corrupt, may_be_present=load.unacked
    )
    slow_gets = [(w, round(s, 2), o) for w, s, o in getters.calls if s > GET_TIMEOUT + TIMEOUT + 1]
    tally.extra.update(
        failed_puts=len(load.failures),
        failed_gets=getters.failed,
        lost_bound=getters.failed * 20,
        max_fail_s=max(load.failures + probes),
        max_get_s=max(s for _, s, _ in getters.calls),
        slow_gets=len(slow_gets),
    )
    chute.Client.from_env().close()
    problems = []
    # A get is destructive (Modal's semantics): one that the server ran just as it stopped, and
    # whose reply never came back, raised BackendUnavailableError with its items already taken,
    # exactly like a consumer killed mid-get (scenario 3). Such losses are bounded by the failed
    # gets' batch sizes; anything beyond, or any duplicate, is a defect.
    if tally.lost > getters.failed * 20 or (tally.duplicated, tally.unexpected) != (0, 0):
        problems.append(
            f"lost {tally.lost} acknowledged items (consumer gets that raised BackendUnavailableError: "
            f"{getters.failed}), duplicated {tally.duplicated}, unexpected {tally.unexpected}"
        )
    if load.errors:
        problems.append(f"errors other than BackendUnavailableError: {load.errors[:3]}")
    if max(load.failures + probes) > TIMEOUT + 1:
        problems.append(f"a failing call took {max(load.failures + probes):.2f} s > CHUTE_TIMEOUT + 1")
    if slow_gets:
        problems.append(
            f"gets with timeout={GET_TIMEOUT} took longer than timeout + CHUTE_TIMEOUT + 1: {slow_gets}"
        )
    assert not problems, "\n".join(problems) + "\n" + tally.line()
