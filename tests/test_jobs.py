"""Jobs end to end, on every backend: real ``chute worker`` processes run tests/apps/jobs_app.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import chute
from chute.exception import FunctionTimeoutError, InvalidError, NotFoundError, OutputExpiredError, RemoteError
from tests.apps import jobs_app

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = str(ROOT / "tests" / "apps" / "jobs_app.py")
LEASE = 1.0  # short leases, so lost calls come back fast


class Workers:
    """``chute worker`` processes on the test's backend; all are stopped (SIGTERM) at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "CHUTE_LEASE": str(LEASE)}
        proc = subprocess.Popen([sys.executable, "-m", "chute", "worker", APP_FILE, *extra], env=env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> list[int]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


@pytest.fixture
def workers(chute_env: str) -> Iterator[Workers]:
    w = Workers()
    yield w
    w.stop_all()


@pytest.fixture
def worker(workers: Workers) -> subprocess.Popen[bytes]:
    return workers.start()


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def log() -> chute.Dict:
    return chute.Dict.from_name("test-jobs-log", create_if_missing=True)


def test_spawn_and_get_from_another_handle(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.echo.spawn({"a": [1, 2]})
    assert call.object_id.startswith("fc-")
    assert chute.FunctionCall.from_id(call.object_id).get(timeout=60) == {"a": [1, 2]}
    assert call.get(timeout=0) == {"a": [1, 2]}  # get does not consume the result
    info = call.info()
    assert info.state is chute.CallState.SUCCEEDED and info.attempts == 1 and info.failures == 0
    assert info.app == "test-jobs" and info.function == "echo"
    assert info.started_at is not None and info.finished_at is not None
    assert info.created_at <= info.started_at <= info.finished_at


def test_remote_map_starmap_gather(worker: subprocess.Popen[bytes]) -> None:
    assert jobs_app.echo.remote("x") == "x"
    assert list(jobs_app.echo.map(range(25))) == list(range(25))
    assert sorted(jobs_app.echo.map(range(10), order_outputs=False)) == list(range(10))
    assert list(jobs_app.where.starmap([(1, 0.0), (2, 0.0)])) == [(1, worker.pid), (2, worker.pid)]
    calls = [jobs_app.echo.spawn(i) for i in range(5)]
    assert chute.FunctionCall.gather(*calls) == [0, 1, 2, 3, 4]
    jobs_app.echo.for_each(range(3))


async def test_aio_forms(worker: subprocess.Popen[bytes]) -> None:
    call = await jobs_app.echo.spawn.aio(7)
    assert await call.get.aio(timeout=60) == 7
    assert await jobs_app.echo.remote.aio(8) == 8
    assert [r async for r in jobs_app.echo.map(range(4)).aio()] == [0, 1, 2, 3]
    assert await chute.FunctionCall.gather.aio(call, call) == [7, 7]
    assert (await call.info.aio()).state is chute.CallState.SUCCEEDED
    await chute.Client.from_env().aclose()


def test_pending_call_times_out_then_cancel(chute_env: str) -> None:
    # No worker serves this app: the call stays pending.
    call = jobs_app.echo.spawn(1)
    with pytest.raises(TimeoutError) as err:
        call.get(timeout=0)
    assert type(err.value) is TimeoutError  # the builtin, as in Modal
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        call.get(timeout=0.3)
    assert time.monotonic() - start >= 0.29
    assert call.info().state is chute.CallState.PENDING
    call.cancel()
    with pytest.raises(RemoteError, match="cancelled"):
        call.get(timeout=0)
    assert call.info().state is chute.CallState.CANCELLED
    call.cancel()  # cancelling a finished call does nothing


def test_get_wakes_promptly_when_the_call_finishes(worker: subprocess.Popen[bytes]) -> None:
    jobs_app.echo.remote(0)  # the executor is warm
    call = jobs_app.long_sleep.spawn("wake", 0.5)
    start = time.monotonic()
    assert call.get(timeout=30) == "wake"
    # Woken by the finish, not by a periodic re-check (those run at least 1 s apart).
    assert time.monotonic() - start < 0.95


def test_retries_with_backoff(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.flaky.spawn("flaky-1")
    assert call.get(timeout=60) == 3
    info = call.info()
    assert (info.attempts, info.failures, info.state) == (3, 2, chute.CallState.SUCCEEDED)
    t = log()
    gap1, gap2 = t["flaky-1:2"] - t["flaky-1:1"], t["flaky-1:3"] - t["flaky-1:2"]
    # initial_delay 0.4, coefficient 2: 0.4 s then 0.8 s (plus scheduling; bounded above).
    assert 0.38 <= gap1 < 3.0, gap1
    assert 0.78 <= gap2 < 3.5, gap2


def test_failure_after_retries_reraises_the_remote_exception(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.always_fails.spawn("boom")
    with pytest.raises(KeyError, match="boom") as err:
        call.get(timeout=60)
    assert any("Remote traceback" in note and "always_fails" in note for note in err.value.__notes__)
    info = call.info()
    assert (info.state, info.attempts, info.failures) == (chute.CallState.FAILED, 2, 2)
    assert info.error == "KeyError: 'boom'" and info.traceback and "raise KeyError" in info.traceback
    with pytest.raises(KeyError):
        jobs_app.always_fails.remote("again")


@pytest.mark.parametrize("fn", ["sleeper", "spinner"])
def test_timeout_kills_the_attempt_and_the_pool_stays_healthy(
    worker: subprocess.Popen[bytes], fn: str
) -> None:
    call = jobs_app.sleeper.spawn(30) if fn == "sleeper" else jobs_app.spinner.spawn()
    start = time.monotonic()
    with pytest.raises(FunctionTimeoutError, match="timeout of 1 s"):
        call.get(timeout=60)
    # timeout=1 plus executor start-up; never the 30 s the function wanted.
    assert time.monotonic() - start < 15
    assert call.info().attempts == 1
    assert jobs_app.sleeper.remote(0.1) == 0.1


def test_crash_counts_as_a_failed_attempt(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.crash.spawn()
    with pytest.raises(RemoteError, match="exited with code 3"):
        call.get(timeout=60)
    assert (call.info().attempts, call.info().failures) == (2, 2)
    assert jobs_app.echo.remote("alive") == "alive"


def test_cancel_running_call_kills_its_process(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.long_sleep.spawn("cancel-me", 30)
    wait_until(lambda: "cancel-me" in log(), what="call started")
    pid = log()["cancel-me"]
    call.cancel()
    with pytest.raises(RemoteError, match="cancelled"):
        call.get(timeout=0)
    # The next lease renewal (every LEASE/4) fails, and the supervisor kills the executor.
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 10, "kill")
    assert call.info().state is chute.CallState.CANCELLED


def test_result_expires(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.short_lived.spawn("soon gone")
    assert call.get(timeout=60) == "soon gone"
    time.sleep(1.3)
    with pytest.raises(OutputExpiredError):
        call.get(timeout=0)
    with pytest.raises(OutputExpiredError):
        call.get()
    assert call.info().state is chute.CallState.EXPIRED
    assert not isinstance(OutputExpiredError("x"), TimeoutError)  # as in Modal: not the builtin


def test_idempotency_key(chute_env: str) -> None:
    fn = jobs_app.echo.with_options(idempotency_key="order-17")
    first, second = fn.spawn(1), fn.spawn(2)
    assert first == second
    assert jobs_app.echo.with_options(idempotency_key="order-18").spawn(1) != first
    assert jobs_app.echo.spawn(1) != jobs_app.echo.spawn(1)


def test_from_name_needs_a_deployment(worker: subprocess.Popen[bytes]) -> None:
    missing = chute.Function.from_name("test-jobs", "nope")
    with pytest.raises(NotFoundError, match="chute deploy"):
        missing.spawn(1)
    fn = chute.Function.from_name("test-jobs", "echo")
    wait_until(lambda: _deployed(), what="deployment by the worker")
    assert fn.spawn(41).get(timeout=60) == 41
    with pytest.raises(InvalidError):
        chute.Function.from_name("test-jobs", "has space")
    with pytest.raises(InvalidError):
        chute.FunctionCall.from_id("qu-" + "a" * 22)


def _deployed() -> bool:
    try:
        chute.Function.from_name("test-jobs", "echo").spawn(0)
    except NotFoundError:
        return False
    return True


def test_invalid_function_options() -> None:
    app = chute.App("bad-options")
    with pytest.raises(InvalidError, match="timeout"):
        app.function(timeout=0)
    with pytest.raises(InvalidError, match="min_containers"):
        app.function(min_containers=3, max_containers=2)
    with pytest.raises(InvalidError, match="backoff_coefficient"):
        chute.Retries(max_retries=1, backoff_coefficient=20)
    with pytest.raises(InvalidError, match="generator"):

        @app.function()
        def gen() -> Iterator[int]:
            yield 1

    assert chute.Retries.of(3).delay(1) == chute.Retries.of(3).delay(3) == 1.0
    assert [chute.Retries(5, 2.0, 1.0, 10.0).delay(k) for k in range(1, 6)] == [1, 2, 4, 8, 10]


def test_worker_killed_mid_call_is_rerun(workers: Workers) -> None:
    first = workers.start()
    call = jobs_app.long_sleep.spawn("lost-1", 1.5)
    wait_until(lambda: "lost-1" in log(), what="call started")
    first.kill()  # SIGKILL: no chance to give the lease back
    first.wait()
    killed_at = time.monotonic()
    workers.start()
    assert call.get(timeout=60) == "lost-1"
    info = call.info()
    assert (info.attempts, info.lost, info.failures) == (2, 1, 0)
    # Re-run after the lease (1 s) lapsed, plus the new worker's start-up and the call itself.
    assert time.monotonic() - killed_at < LEASE + 1.5 + 10


def test_graceful_shutdown_finishes_running_calls(workers: Workers) -> None:
    proc = workers.start()
    call = jobs_app.long_sleep.spawn("graceful", 1.0)
    wait_until(lambda: "graceful" in log(), what="call started")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert call.get(timeout=0) == "graceful"


def test_graceful_shutdown_gives_back_what_it_cannot_finish(workers: Workers) -> None:
    proc = workers.start("--grace", "0.5")
    call = jobs_app.long_sleep.spawn("given-back", 5.0)
    wait_until(lambda: "given-back" in log(), what="call started")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    info = call.info()
    assert (info.state, info.attempts, info.failures) == (chute.CallState.PENDING, 0, 0)


def test_max_containers_caps_concurrency_and_pool_scales_to_zero(worker: subprocess.Popen[bytes]) -> None:
    results = list(jobs_app.capped.map(range(9)))
    assert [r[0] for r in results] == list(range(9))
    events = sorted([(start, 1) for _, start, _, _ in results] + [(end, -1) for _, _, end, _ in results])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 3, peak  # scaled up to max_containers, never beyond
    assert len({pid for *_, pid in results}) == 3
    # scaledown_window=1: idle executors exit and the pool goes back to zero processes.
    pool = psutil.Process(worker.pid)
    wait_until(
        lambda: not [c for c in pool.children() if c.status() != "zombie" and _is_executor(c)], 15, "0"
    )


def _is_executor(proc: psutil.Process) -> bool:
    try:
        return "spawn_main" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def test_two_worker_pools_share_the_work(workers: Workers) -> None:
    pools = {workers.start().pid, workers.start().pid}
    backend = chute.Client.from_env().sync_backend()
    wait_until(lambda: len(backend.worker_list("main")) == 2, what="both pools registered")
    results = list(jobs_app.where.map(range(40), [0.15] * 40))
    assert [i for i, _ in results] == list(range(40))
    ran_on = {pid for _, pid in results}
    assert ran_on == pools, (ran_on, pools)
    assert all(sum(1 for _, pid in results if pid == p) >= 10 for p in pools), results


def test_function_call_pickles_by_reference(worker: subprocess.Popen[bytes]) -> None:
    import pickle

    call = jobs_app.echo.spawn("by-ref")
    again = pickle.loads(pickle.dumps(call))
    assert again.get(timeout=60) == "by-ref"


def test_run_command_runs_the_seed_example(chute_env: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chute", "run", str(ROOT / "examples" / "my_job_queue.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'result': 'my-data'}"


def test_cli_call_and_function_commands(worker: subprocess.Popen[bytes]) -> None:
    import json

    call = jobs_app.echo.spawn("cli")
    assert call.get(timeout=60) == "cli"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chute", *args], capture_output=True, text=True, timeout=60
        )

    assert cli("call", "get", call.object_id).stdout.strip() == "cli"
    status = json.loads(cli("call", "status", call.object_id, "--json").stdout)
    assert status["state"] == "succeeded" and status["attempts"] == 1
    functions = json.loads(cli("function", "list", "--json").stdout)
    echo = next(f for f in functions if f["function"] == "echo")
    assert echo["app"] == "test-jobs" and echo["succeeded"] >= 1
    apps = json.loads(cli("app", "list", "--json").stdout)
    assert [a["app"] for a in apps] == ["test-jobs"]
    unserved = chute.App("test-unserved")

    @unserved.function()
    def idle() -> None: ...

    waiting = idle.spawn()
    assert cli("call", "get", waiting.object_id, "--timeout", "0").returncode == 2
    assert cli("call", "cancel", waiting.object_id).returncode == 0
    assert waiting.info().state is chute.CallState.CANCELLED
    missing = cli("call", "status", "fc-" + "x" * 22)
    assert missing.returncode == 1 and "not found" in missing.stderr
