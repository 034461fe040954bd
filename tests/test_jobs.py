"""Job workers end to end, on every backend: real ``chute worker`` processes run
tests/apps/jobs_app.py. What a worker does (retries' backoff, timeouts, crashes, cancelling a
running call, kill -9, graceful stop, autoscaling, several pools) and the CLI, once each; the
public API on the caller's side is tests/_async/test_jobs_api.py (both flavours)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

import chute
from chute.exception import FunctionTimeoutError, InvalidError, RemoteError
from tests._workers import LEASE, ROOT, Workers, wait_until
from tests.apps import jobs_app


@pytest.fixture
def workers(chute_env: str) -> Iterator[Workers]:
    w = Workers()
    yield w
    w.stop_all()


@pytest.fixture
def worker(workers: Workers) -> subprocess.Popen[bytes]:
    return workers.start()


def log() -> chute.Dict:
    return chute.Dict.from_name("test-jobs-log", create_if_missing=True)


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


async def test_modal_async_forms_of_map(worker: subprocess.Popen[bytes]) -> None:
    assert [r async for r in jobs_app.echo.map.aio(range(2))] == [0, 1]
    assert [r async for r in jobs_app.where.starmap.aio([(1, 0.0)])] == [(1, worker.pid)]
    await jobs_app.echo.for_each.aio(range(2))
    await chute.Client.from_env().aclose()


def test_invalid_function_options() -> None:
    app = chute.App("bad-options")
    with pytest.raises(InvalidError, match="timeout"):
        app.function(timeout=0)
    with pytest.raises(InvalidError, match="min_containers"):
        app.function(min_containers=3, max_containers=2)
    with pytest.raises(InvalidError, match="backoff_coefficient"):
        chute.Retries(max_retries=1, backoff_coefficient=20)
    with pytest.raises(InvalidError, match=r"(?i)generator"):

        @app.function(retries=1, serialized=True)
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
    wait_until(lambda: not [c for c in pool.children() if _is_executor(c)], 15, "0")


def _is_executor(proc: psutil.Process) -> bool:
    """A live executor (not a zombie, not gone by the time we look)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE and "chute executor" in " ".join(proc.cmdline())
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
    assert status["args_summary"] == "echo('cli')"
    functions = json.loads(cli("function", "list", "--json").stdout)
    echo = next(f for f in functions if f["function"] == "echo")
    assert echo["app"] == "test-jobs" and echo["succeeded"] >= 1
    apps = json.loads(cli("app", "list", "--json").stdout)
    assert [a["app"] for a in apps] == ["test-jobs"]
    unserved = chute.App("test-unserved")

    @unserved.function(serialized=True)
    def idle(*args: object, **kwargs: object) -> None: ...

    waiting = idle.spawn([1, 2], tag="[bold]x[/bold]")
    summary = "idle([1, 2], tag='[bold]x[/bold]')"
    assert json.loads(cli("call", "status", waiting.object_id, "--json").stdout)["args_summary"] == summary
    assert summary in cli("call", "status", waiting.object_id).stdout  # shown as is, not as markup
    assert cli("call", "get", waiting.object_id, "--timeout", "0").returncode == 2
    assert cli("call", "cancel", waiting.object_id).returncode == 0
    assert waiting.info().state is chute.CallState.CANCELLED
    missing = cli("call", "status", "fc-" + "x" * 22)
    assert missing.returncode == 1 and "not found" in missing.stderr
