"""Job workers end to end, on every backend: real ``chute worker`` processes run
tests/apps/jobs_app.py. What a worker does (retries' backoff, timeouts, crashes, cancelling a
running call, kill -9, graceful stop, autoscaling, several pools) and the CLI, once each; the
public API on the caller's side is tests/_async/test_jobs_api.py (both flavours).

Tests that only need "a worker" share one per backend (``worker``: a module-scoped store and
worker; each test's calls and log keys are its own). Tests about a worker's own life (killed,
stopped, scaled to zero, several pools) start theirs on a fresh store (``workers``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest
from typer.testing import CliRunner

import chute
from chute.cli import app as cli_app
from chute.exception import FunctionTimeoutError, InvalidError, RemoteError
from tests._workers import (
    APP_FILE,
    LEASE,
    ROOT,
    Workers,
    executors,
    gone,
    start_worker,
    stop,
    wait_registered,
    wait_until,
)
from tests.apps import jobs_app
from tests.conftest import BACKENDS, new_store_url


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Overrides conftest's: one store per backend for the module, which ``module_worker`` serves."""
    return new_store_url(request.param, request, tmp_path_factory)


@pytest.fixture(scope="module")
def module_worker(backend_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker(backend_url, APP_FILE, CHUTE_LEASE=str(LEASE))
    yield proc
    stop([proc], 60)


@pytest.fixture
def workers(own_store: str) -> Iterator[Workers]:
    w = Workers()
    yield w
    w.stop_all()


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
    wait_until(lambda: gone(pid), 10, "kill")
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


def test_worker_killed_mid_call_is_rerun(workers: Workers, own_store: str) -> None:
    # Both workers are up before the call: the re-run's time is the lease, not a start-up.
    pools = {p.pid: p for p in (workers.start(), workers.start())}
    wait_registered(own_store, 2)
    call = jobs_app.long_sleep.spawn("lost-1", 1.5)
    wait_until(lambda: "lost-1" in log(), what="call started")
    runner = log()["lost-1"]  # the executor's pid; the worker is its parent or its zygote's
    holder = next(p for pid, p in pools.items() if runner in _descendants(pid))
    holder.kill()  # SIGKILL: no chance to give the lease back
    holder.wait()
    killed_at = time.monotonic()
    assert call.get(timeout=60) == "lost-1"
    info = call.info()
    assert (info.attempts, info.lost, info.failures) == (2, 1, 0)
    # Re-run by the other worker after the lease (1 s) lapsed, plus an executor's start and the call.
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


def test_a_stopping_worker_keeps_no_call_leased(workers: Workers, own_store: str) -> None:
    # Calls submitted while an idle worker stops: the waits it had in flight may have claimed
    # some (Redis claims with the wait); every one is run or given back before it exits, none
    # is left leased to a gone worker (it would wait for the lease to lapse).
    proc = workers.start()
    wait_registered(own_store, 1)
    jobs_app.echo.remote(0)  # warm: an executor is up, the watcher waits again
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    calls = []
    while proc.poll() is None and time.monotonic() - stopped < 10:
        calls.append(jobs_app.echo.spawn(len(calls)))
        time.sleep(0.002)
    assert proc.wait(30) == 0
    assert time.monotonic() - stopped < 5  # ended its waits at once, not after their timeout
    states = [c.info() for c in calls]
    assert calls and all(i.state in (chute.CallState.PENDING, chute.CallState.SUCCEEDED) for i in states), [
        (i.state, i.attempts)
        for i in states
        if i.state not in (chute.CallState.PENDING, chute.CallState.SUCCEEDED)
    ]


def test_max_containers_caps_concurrency_and_pool_scales_to_zero(workers: Workers) -> None:
    worker = workers.start()  # its own: the pool must go back to zero executors
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
    wait_until(lambda: not executors(worker.pid), 15, "0")


def _descendants(pid: int) -> set[int]:
    return {c.pid for c in psutil.Process(pid).children(recursive=True)}


def test_two_worker_pools_share_the_work(workers: Workers) -> None:
    pools = {workers.start().pid, workers.start().pid}
    backend = chute.Client.from_env().sync_backend()
    wait_until(lambda: len(backend.worker_list("main")) == 2, what="both pools registered")
    results = list(jobs_app.where.map(range(40), [0.15] * 40))
    assert [i for i, _ in results] == list(range(40))
    ran_on = {pid for _, pid in results}
    assert ran_on == pools, (ran_on, pools)
    assert all(sum(1 for _, pid in results if pid == p) >= 10 for p in pools), results


def test_run_command_runs_the_seed_example(workers: Workers, own_store: str) -> None:
    # The seed reads its result with get(timeout=5), and the call's first run pays a worker's and
    # then an executor's start (import chute, the app, a Cluster client's set-up): on a loaded
    # machine, or on Cluster, that took more than 5 s and the seed printed "pending". A worker of
    # the app that is up before `chute run` starts leaves only the executor's start in those 5 s
    # (whichever pool claims the call: `chute run`'s own or this one).
    seed = str(ROOT / "examples" / "my_job_queue.py")
    workers.start(app_file=seed)
    wait_registered(own_store)
    result = subprocess.run(
        [sys.executable, "-m", "chute", "run", seed], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'result': 'my-data'}"


def test_cli_call_and_function_commands(worker: subprocess.Popen[bytes]) -> None:
    call = jobs_app.echo.spawn("cli")
    assert call.get(timeout=60) == "cli"
    # One real `python -m chute` (the entry point, the exit path); the rest run in this process
    # through typer's CliRunner: the same commands and output, without a start-up each.
    proc = subprocess.run(
        [sys.executable, "-m", "chute", "call", "get", call.object_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "cli"), proc.stderr
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli_app, list(args))
        return result.exit_code, result.stdout, result.stderr

    status = json.loads(cli("call", "status", call.object_id, "--json")[1])
    assert status["state"] == "succeeded" and status["attempts"] == 1
    assert status["args_summary"] == "echo('cli')"
    functions = json.loads(cli("function", "list", "--json")[1])
    echo = next(f for f in functions if f["function"] == "echo")
    assert echo["app"] == "test-jobs" and echo["succeeded"] >= 1
    apps = json.loads(cli("app", "list", "--json")[1])
    assert [a["app"] for a in apps] == ["test-jobs"]
    unserved = chute.App("test-unserved")

    @unserved.function(serialized=True)
    def idle(*args: object, **kwargs: object) -> None: ...

    waiting = idle.spawn([1, 2], tag="[bold]x[/bold]")
    summary = "idle([1, 2], tag='[bold]x[/bold]')"
    assert json.loads(cli("call", "status", waiting.object_id, "--json")[1])["args_summary"] == summary
    assert summary in cli("call", "status", waiting.object_id)[1]  # shown as is, not as markup
    assert cli("call", "get", waiting.object_id, "--timeout", "0")[0] == 2
    assert cli("call", "cancel", waiting.object_id)[0] == 0
    assert waiting.info().state is chute.CallState.CANCELLED
    code, _, err = cli("call", "status", "fc-" + "x" * 22)
    assert code == 1 and "not found" in err
