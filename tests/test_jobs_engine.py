"""The jobs engine on every backend, with real ``chute worker`` processes (tests/apps/engine_app.py):
async functions, @concurrent, @batched, the fork defect, the worker-wide executor cap.

Tests that only need "a worker" share one per backend (``worker``: a module-scoped store and
worker; each test's functions, calls and log keys are its own). Tests about workers' own life
(two of them, killed, capped) start theirs on a fresh store (``workers``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import chute
from chute.exception import FunctionTimeoutError, InvalidError, RemoteError
from tests._workers import LEASE, ROOT, Workers, executors, gone, start_worker, stop, wait_until
from tests.apps import engine_app as ea
from tests.conftest import BACKENDS, new_store_url

APP_FILE = str(ROOT / "tests" / "apps" / "engine_app.py")


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
    w = Workers(app_file=APP_FILE)
    yield w
    w.stop_all()


def runs(key: str) -> int:
    """How many times a function logged a run under ``key`` (engine_app._count)."""
    return sum(1 for k in ea.log().keys() if k.startswith(f"{key}:"))


def started(key: str) -> float:
    """When the (only) run logged under ``key`` began."""
    (k,) = [k for k in ea.log().keys() if k.startswith(f"{key}:")]
    return float(k.rsplit(":", 1)[1])


# -- async functions ----------------------------------------------------------------------------


def test_async_function_result_exception_timeout(worker: subprocess.Popen[bytes]) -> None:
    value, pid = ea.async_echo.remote({"a": 1})
    assert value == {"a": 1}
    with pytest.raises(ValueError, match="async boom"):
        ea.async_echo.remote("boom", fail=True)
    call = ea.async_echo.spawn("slow", 30.0)
    with pytest.raises(FunctionTimeoutError, match="timeout of 2 s"):
        call.get(timeout=30)
    info = call.info()
    assert info.started_at is not None and info.finished_at is not None
    assert info.finished_at - info.started_at < 2 + 1.5
    # The timed-out task was cancelled: the same executor runs the next call.
    assert ea.async_echo.remote("again") == ("again", pid)


async def test_async_cancel_and_aio(worker: subprocess.Popen[bytes]) -> None:
    call = await ea.async_long.spawn.aio("acancel", 30.0)
    wait_until(lambda: "acancel" in ea.log(), what="call started")
    pid = ea.log()["acancel"]
    await call.cancel.aio()
    with pytest.raises(RemoteError, match="cancelled"):
        await call.get.aio(timeout=0)
    # At the next lease renewal the supervisor cancels the task; the executor stays warm and
    # takes the function's next call (had the task not ended, it would have been replaced).
    time.sleep(1.0)  # a few renewals (every lease / 4 = 0.25 s): the cancel has landed
    assert await ea.async_long.remote.aio("acancel-next", 0.0) == "acancel-next"
    assert ea.log()["acancel-next"] == pid
    await chute.Client.from_env().aclose()


# -- @concurrent --------------------------------------------------------------------------------------


def test_concurrent_sync_calls_overlap_with_their_own_timeouts(worker: subprocess.Popen[bytes]) -> None:
    ea.sync_overlap.remote("c-warm", 0.0)  # the executor has imported everything it needs
    slow = ea.sync_overlap.spawn("c-slow", 30.0)  # overruns its 3 s timeout in a thread
    quick = [ea.sync_overlap.spawn(f"c-{i}", 1.0) for i in range(3)]
    results = chute.FunctionCall.gather(*quick)
    assert len({pid for *_, pid, _ in results}) == 1  # one executor...
    assert len({thread for *_, thread in results}) == 3  # ...three threads
    latest_start = max(start for _, start, _, _, _ in results)
    assert all(end > latest_start for _, _, end, _, _ in results)  # they overlapped
    with pytest.raises(FunctionTimeoutError):
        slow.get(timeout=30)
    info = slow.info()
    assert info.finished_at is not None
    assert info.finished_at - started("c-slow") < 3 + 1.5
    assert [runs(f"c-{i}") for i in range(3)] == [1, 1, 1]  # the neighbours ran once
    # The executor with the stuck thread is replaced: the function keeps working.
    assert ea.sync_overlap.remote("c-after", 0.0)[0] == "c-after"


def test_concurrent_async_calls_overlap_and_a_timeout_spares_neighbours(
    worker: subprocess.Popen[bytes],
) -> None:
    ea.async_overlap.remote("a-warm", 0.0)  # the executor's first Dict.aio use is slow (imports)
    calls = [ea.async_overlap.spawn(f"a-{i}", 1.0) for i in range(20)]
    doomed = ea.async_overlap.spawn("a-doomed", 30.0)
    results = chute.FunctionCall.gather(*calls)
    assert len({pid for *_, pid in results}) == 1
    starts, ends = [r[1] for r in results], [r[2] for r in results]
    assert max(starts) < min(ends)  # all 20 ran at once on one event loop
    with pytest.raises(FunctionTimeoutError):
        doomed.get(timeout=30)
    # The timed-out task was cancelled; its executor lives on and serves the next call.
    assert ea.async_overlap.remote("a-next", 0.0)[3] == results[0][3]
    assert all(runs(f"a-{i}") == 1 for i in range(20))


def test_concurrent_crash_reruns_the_neighbours(worker: subprocess.Popen[bytes]) -> None:
    ok = [ea.crashy.spawn(f"x-{i}", False) for i in range(3)]
    bad = ea.crashy.spawn("x-bad", True)
    assert len(set(chute.FunctionCall.gather(*ok))) >= 1
    with pytest.raises(RemoteError, match="exited with code 3"):
        bad.get(timeout=60)
    for i, call in enumerate(ok):
        info = call.info()
        assert info.state is chute.CallState.SUCCEEDED and info.failures == 0, info
        assert 1 <= runs(f"x-{i}") <= 2  # re-run once at most after the shared crash
    assert bad.info().failures == 1


def test_concurrent_decorator_validation() -> None:
    with pytest.raises(TypeError):
        chute.concurrent()
    with pytest.raises(InvalidError, match="target_inputs"):
        chute.concurrent(max_inputs=2, target_inputs=3)
    with pytest.raises(InvalidError, match="max_batch_size"):
        chute.batched(max_batch_size=0, wait_ms=10)
    with pytest.raises(InvalidError, match="wait_ms"):
        chute.batched(max_batch_size=2, wait_ms=-1)
    app = chute.App("test-engine-bad")
    with pytest.raises(InvalidError, match="swap the order"):
        chute.concurrent(max_inputs=2)(app.function()(_plain))
    with pytest.raises(InvalidError, match="defaults"):
        chute.batched(max_batch_size=2, wait_ms=0)(_with_default)
    assert ea.sync_overlap.spec.max_inputs == 4 and ea.sync_overlap.spec.slots == 4
    assert ea.add.spec.batch_max_size == 4 and ea.add.spec.batch_wait_ms == 300


def _plain(x: int) -> int:
    return x


def _with_default(xs: list[int], ys: list[int] | None = None) -> list[int]:
    return xs


async def test_map_forms_kwargs_aio_and_variants(worker: subprocess.Popen[bytes]) -> None:
    assert [r[0] for r in ea.async_echo.map(range(3), kwargs={"seconds": 0.01})] == [0, 1, 2]
    assert [r[0] async for r in ea.async_echo.map.aio(range(3))] == [0, 1, 2]
    assert [r[0] async for r in ea.async_echo.starmap.aio([(1,), (2,)], kwargs={"fail": False})] == [1, 2]
    assert [r[0] for r in ea.async_echo.starmap([(5, 0.0)])] == [5]
    with pytest.raises(ValueError):
        await ea.async_echo.for_each.aio(range(2), kwargs={"fail": True})
    await ea.async_echo.for_each.aio(range(2), kwargs={"fail": True}, ignore_exceptions=True)
    assert await ea.async_echo.spawn_map.aio(range(2)) is None
    failed = list(ea.async_echo.map(range(2), kwargs={"fail": True}, return_exceptions=True))
    assert all(isinstance(f, ValueError) for f in failed)
    assert [r[0] async for r in ea.async_echo.map(range(2)).aio()] == [0, 1]  # the older spelling
    # with_concurrency: a variant with its own pool, registered in the app under its own name.
    assert ea.quick_concurrent.name == "quick-c8-t4" and ea.quick_concurrent.spec.max_inputs == 8
    assert ea.quick.with_concurrency(max_inputs=8, target_inputs=4) is ea.quick_concurrent
    assert sorted(ea.quick_concurrent.map(range(10))) == list(range(10))
    await chute.Client.from_env().aclose()


# -- @batched ----------------------------------------------------------------------------------------


def test_batched_groups_inputs_and_fails_per_batch(worker: subprocess.Popen[bytes]) -> None:
    results = list(ea.add.starmap([(i, 100) for i in range(10)]))
    assert [r[0] for r in results] == [i + 100 for i in range(10)]
    assert all(1 <= size <= 4 for _, size in results)
    assert max(size for _, size in results) > 1  # inputs really were grouped
    assert ea.add.remote(1, 2) == (3, 1)  # alone: a batch of one after wait_ms
    # An exception fails every input of its batch, and only those.
    calls = [ea.add.spawn(-1, 0), ea.add.spawn(5, 0)]
    for call in calls:
        with pytest.raises(ValueError, match="negative"):
            call.get(timeout=30)
    assert ea.add.remote(6, 0) == (6, 1)
    with pytest.raises(InvalidError, match="one output per input"):
        ea.add.remote(99, 0)
    with pytest.raises(InvalidError, match="Cannot batch"):
        ea.add.remote(1, 2, 3)  # too many arguments: this input's batch fails
    doubled = list(ea.async_double.map(range(16)))
    assert [d for d, _ in doubled] == [2 * i for i in range(16)]
    assert max(size for _, size in doubled) > 1


# -- the fork defect ------------------------------------------------------------------------------


def test_forking_call_times_out_alone_and_its_children_die(workers: Workers) -> None:
    """Issue 11's scenario: timeout=2 calls that fork a sleeping child, next to a healthy call,
    with a second worker running and a 2 s lease. Before the fix the supervisor blocked in
    join(5) on each kill: leases lapsed, the healthy call ran again, timeouts took 12-18 s."""
    first = workers.start(lease=2.0)
    workers.start(lease=2.0)
    healthy = ea.healthy.spawn("h-fork", 6.0)
    forkers = [ea.forker.spawn(f"fork-{i}") for i in range(3)]
    assert healthy.get(timeout=60) == "h-fork"
    children = []
    for i, call in enumerate(forkers):
        with pytest.raises(FunctionTimeoutError):
            call.get(timeout=60)
        info = call.info()
        assert info.attempts == 1
        child, started = ea.log()[f"fork-{i}"]
        assert info.finished_at is not None
        assert info.finished_at - started < 2 + 1.5, info  # failed about 1 s after its timeout
        children.append(child)
    assert runs("h-fork") == 1  # the healthy call ran exactly once
    assert healthy.info().attempts == 1
    wait_until(lambda: all(not psutil.pid_exists(pid) or gone(pid) for pid in children), 5, "children dead")
    assert first.poll() is None


# -- results written by the executor ---------------------------------------------------------------


@pytest.mark.parametrize("fn", ["where", "where_aio"])
def test_an_executor_records_lone_results_and_its_late_report_kills_nothing(
    workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fn: str
) -> None:
    """A lone call's result is written by its executor, which tells the supervisor after.
    Here it tells 0.8 s late, with a 1 s lease (renewals every 0.25 s): the supervisor's
    renewals of those calls fail meanwhile, which must not read as a cancel (one executor
    serves every call; before the check it was killed after each). Serial and loop executors."""
    from tests.apps import late_report_app as la

    written = tmp_path / "recorded"
    monkeypatch.setenv("LATE_REPORT_LOG", str(written))
    monkeypatch.setenv("LATE_REPORT_S", "0.8")
    proc = workers.start(app_file=str(ROOT / "tests" / "apps" / "late_report_app.py"))
    calls, pids = [], set()
    for i in range(3):
        call = getattr(la, fn).spawn(i)
        x, pid = call.get(timeout=60)
        assert x == i
        calls.append(call.object_id)
        pids.add(pid)
        time.sleep(1.2)  # the report arrives; the next call is again alone
    assert written.read_text().split() == calls  # each written by the executor
    assert len(pids) == 1, pids
    assert [p.pid for p in executors(proc.pid)] == list(pids)
    assert all(chute.FunctionCall.from_id(c).info().attempts == 1 for c in calls)


# -- the worker-wide cap ------------------------------------------------------------------------------


def test_max_executors_caps_processes_and_shares_them(workers: Workers) -> None:
    proc = workers.start("--max-executors", "2")
    # Two calls of each of three functions: more functions than the cap, so executors are shared.
    calls = [fn.spawn(0.3) for _ in range(2) for fn in (ea.nap_a, ea.nap_b, ea.nap_c)]
    peak = 0
    titles: set[str] = set()
    while not all(c.info().state.terminal for c in calls):
        found = executors(proc.pid)
        peak = max(peak, len(found))
        for p in found:
            try:
                titles.add(" ".join(p.cmdline()))
            except psutil.Error:
                pass
        time.sleep(0.05)
    assert all(c.get(timeout=0) for c in calls)
    assert 1 <= peak <= 2, peak
    # Executors show their function in ps.
    assert any("test-engine.nap_" in t for t in titles), titles


# -- batched submit / claim / finish under kill -9 -----------------------------------------------------


def test_batched_paths_lose_nothing_when_workers_are_killed(workers: Workers) -> None:
    """Submitted 1,000 per round trip, claimed several per round trip, finished and re-claimed in
    one round trip, results read in batches: a worker killed with -9 twice mid-way loses no call,
    and every call ends with exactly its own result."""
    from chute._sync import call_ops

    n = 200  # the two kills land mid-way (at 40 and 120 done), with hundreds still queued
    proc = workers.start()
    refs = call_ops.spawn_many(ea.quick._ref, [((i,), {}) for i in range(n)])  # what spawn_map does
    backend = chute.Client.from_env().sync_backend()
    for target in (40, 120):

        def progressed(target: int = target) -> bool:
            return backend.job_stats("main", "test-engine", "quick").succeeded >= target

        wait_until(progressed, 60, "progress")
        proc.kill()  # SIGKILL mid-batch: its leases lapse and the calls come back
        proc.wait()
        proc = workers.start()
    assert call_ops.gather_refs(refs) == list(range(n))  # batched reads; each call its own result
    stats = backend.job_stats("main", "test-engine", "quick")
    assert (stats.succeeded, stats.failed, stats.pending, stats.running) == (n, 0, 0, 0)
    records = backend.job_get_many([r.id for r in refs])
    assert all(r is not None and r.state is chute.CallState.SUCCEEDED for r in records)
    ran: dict[str, int] = {}
    for k in ea.log().keys():
        if k.startswith("q"):
            ran[k.split(":")[0]] = ran.get(k.split(":")[0], 0) + 1
    assert all(ran.get(f"q{i}", 0) >= 1 for i in range(n))  # at least once each
    assert sum(ran.values()) < n + 2 * 20  # re-runs: only what the killed workers held
    assert ea.quick.spawn_map(range(3)) is None  # Modal's spelling: returns nothing
