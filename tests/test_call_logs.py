"""A call's captured output end to end, on every backend: real ``chute worker`` processes
run tests/apps/logs_app.py; read back through the ops seam and ``chute call logs``.

One worker per backend serves the whole module (on a store of its own): each test's calls
are its own (distinct tags and keys), and starting a worker per test cost most of the time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

import chute
from chute._client import Client
from chute._sync import inspection
from tests._workers import LEASE, ROOT, start_worker, stop, wait_until
from tests.apps import logs_app
from tests.conftest import BACKENDS, new_store_url

APP_FILE = str(ROOT / "tests" / "apps" / "logs_app.py")


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Overrides conftest's: one store per backend for the module, which its worker serves."""
    return new_store_url(request.param, request, tmp_path_factory)


@pytest.fixture(scope="module")
def module_worker(backend_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker(
        backend_url, APP_FILE, quiet=True, CHUTE_LEASE=str(LEASE), CHUTE_CALL_LOG_BYTES="2000"
    )
    yield proc
    stop([proc], 60)


def logs(call: chute.FunctionCall) -> list[tuple[int, bytes]]:
    return inspection.call_logs(Client.from_env(), call.object_id)


def test_serial_output_per_call_stdout_and_stderr(worker: subprocess.Popen[bytes]) -> None:
    a, b = logs_app.serial.spawn("a"), logs_app.serial.spawn("b")
    assert (a.get(timeout=60), b.get(timeout=60)) == ("a", "b")
    assert logs(a) == [(1, b"a out 0\na out 1\na err\n")]
    assert logs(b) == [(1, b"b out 0\nb out 1\nb err\n")]


def test_bounded_to_the_last_bytes(worker: subprocess.Popen[bytes]) -> None:
    call = logs_app.serial.spawn("big", 500)
    call.get(timeout=60)
    ((attempt, data),) = logs(call)
    assert attempt == 1 and len(data) == 2000 and data.endswith(b"big out 499\nbig err\n")


@pytest.mark.parametrize("fn", ["coro", "threaded"])
def test_concurrent_calls_keep_their_own_lines(worker: subprocess.Popen[bytes], fn: str) -> None:
    f = getattr(logs_app, fn)
    calls = [f.spawn(f"{fn}{i}") for i in range(4)]
    assert [c.get(timeout=60) for c in calls] == [f"{fn}{i}" for i in range(4)]
    for i, c in enumerate(calls):
        assert logs(c) == [(1, f"{fn}{i} before\n{fn}{i} after\n".encode())]


def test_each_attempt_has_its_own_log(worker: subprocess.Popen[bytes]) -> None:
    call = logs_app.flaky.spawn("k")
    assert call.get(timeout=60) == 2
    assert logs(call) == [(1, b"attempt 1\n"), (2, b"attempt 2\n")]


def test_cli_prints_the_logs_and_follows_a_running_call(worker: subprocess.Popen[bytes]) -> None:
    done = logs_app.flaky.spawn("cli")
    done.get(timeout=60)
    out = subprocess.run(
        [sys.executable, "-m", "chute", "call", "logs", done.object_id], capture_output=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout == b"attempt 1\nattempt 2\n", out
    assert b"attempt 1" in out.stderr and b"attempt 2" in out.stderr  # the attempt headers

    running = logs_app.slow.spawn("live", 2.0)
    wait_until(lambda: bool(logs(running)), 30, "the first output")  # streamed before the end
    assert running.info().state is chute.CallState.RUNNING
    follow = subprocess.run(
        [sys.executable, "-m", "chute", "call", "logs", "--follow", running.object_id],
        capture_output=True,
        timeout=60,
    )
    assert follow.returncode == 0
    lines = follow.stdout.decode().splitlines()
    assert lines == [f"live tick {i}" for i in range(len(lines))] and len(lines) >= 5, lines
    assert running.get(timeout=10) == "live"


def test_fd_level_output_of_a_subprocess_in_a_serial_call(worker: subprocess.Popen[bytes]) -> None:
    call = logs_app.shell.spawn("sh")
    assert call.get(timeout=60) == "sh"
    expected = b"sh before\nsh from a subprocess\nsh on fd 2\nsh after\n"
    assert logs(call) == [(1, expected)]
    out = subprocess.run(
        [sys.executable, "-m", "chute", "call", "logs", call.object_id], capture_output=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout == expected, out


def test_fd_level_output_in_a_concurrent_executor_is_not_a_calls(worker: subprocess.Popen[bytes]) -> None:
    call = logs_app.shell_async.spawn("co")
    assert call.get(timeout=60) == "co"
    assert logs(call) == [(1, b"co before\n")]


def test_nothing_printed(worker: subprocess.Popen[bytes]) -> None:
    call = logs_app.serial.spawn("quiet", 0)
    call.get(timeout=60)
    assert logs(call) == [(1, b"quiet err\n")]
    out = subprocess.run(
        [sys.executable, "-m", "chute", "call", "logs", "fc-unknown"], capture_output=True, timeout=60
    )
    assert out.stdout == b""
