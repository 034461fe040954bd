"""The public job API in-process (spawn, remote, map, starmap, gather, FunctionCall get/info/
cancel, idempotency, lookup by name), on every backend.

SOURCE of tests/_sync/test_jobs_api.py (scripts/unasync.py): each call is ``.aio`` here and a
plain blocking call there. One real ``chute worker`` per backend serves tests/apps/jobs_app.py
for the whole module (on a store of its own): these tests are about the caller's side, so they
share it. Worker behaviour (timeouts, crashes, kill -9, graceful stop, autoscaling, several
pools, retries' backoff) and the CLI are tested once, in tests/test_jobs.py.
"""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import time
from collections.abc import Iterator

import pytest

import chute
from chute.exception import InvalidError, NotFoundError, OutputExpiredError, RemoteError
from tests._flavours import async_results, sync_open_backend
from tests._workers import APP_FILE, LEASE, start_worker, stop
from tests.apps import jobs_app
from tests.conftest import BACKENDS, new_store_url

# Functions no worker serves: their calls stay pending.
unserved = chute.App("test-jobs-unserved")


@unserved.function()
def idle(x: object) -> object:
    return x


@unserved.function()
def idle_args(*args: object, **kwargs: object) -> None: ...


class NoRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Overrides conftest's: one store per backend for the module, which its worker serves."""
    return new_store_url(request.param, request, tmp_path_factory)


@pytest.fixture(scope="module")
def worker(backend_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker(backend_url, APP_FILE, "--grace", "5", timeout=20, CHUTE_LEASE=str(LEASE))
    yield proc
    assert stop([proc]) == [0]


async def test_spawn_and_get_from_another_handle(worker: subprocess.Popen[bytes], chute_env: str) -> None:
    call = await jobs_app.echo_args.spawn.aio({"a": [1, 2]})
    assert call.object_id.startswith("fc-")
    assert await chute.FunctionCall.from_id(call.object_id).get.aio(timeout=60) == ({"a": [1, 2]},)
    assert await call.get.aio(timeout=0) == ({"a": [1, 2]},)  # get does not consume the result
    info = await call.info.aio()
    assert info.state is chute.CallState.SUCCEEDED and info.attempts == 1 and info.failures == 0
    assert info.app == "test-jobs" and info.function == "echo_args"
    assert info.started_at is not None and info.finished_at is not None
    assert info.created_at <= info.started_at <= info.finished_at


async def test_remote_map_starmap_gather(worker: subprocess.Popen[bytes], chute_env: str) -> None:
    echo = jobs_app.echo_args
    assert await echo.remote.aio("x") == ("x",)
    assert await async_results(echo.map(range(25))) == [(i,) for i in range(25)]
    assert await async_results(echo.map(range(3), "abc")) == [(0, "a"), (1, "b"), (2, "c")]
    unordered = await async_results(echo.map(range(10), order_outputs=False))
    assert sorted(unordered) == [(i,) for i in range(10)]
    assert await async_results(echo.starmap([(1, 2), (3, 4)])) == [(1, 2), (3, 4)]
    calls = [await echo.spawn.aio(i) for i in range(5)]
    assert await chute.FunctionCall.gather.aio(*calls) == [(i,) for i in range(5)]
    assert await chute.FunctionCall.gather.aio(calls[1], calls[1]) == [(1,), (1,)]
    # No async form (Modal's for_each.aio is missing: see test_jobs.py); blocks here too.
    echo.for_each(range(3))


async def test_pending_call_times_out_then_cancel(chute_env: str) -> None:
    call = await idle.spawn.aio(1)
    with pytest.raises(TimeoutError) as err:
        await call.get.aio(timeout=0)
    assert type(err.value) is TimeoutError  # the builtin, as in Modal
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        await call.get.aio(timeout=0.3)
    assert time.monotonic() - start >= 0.29
    assert (await call.info.aio()).state is chute.CallState.PENDING
    await call.cancel.aio()
    with pytest.raises(RemoteError, match="cancelled"):
        await call.get.aio(timeout=0)
    assert (await call.info.aio()).state is chute.CallState.CANCELLED
    await call.cancel.aio()  # cancelling a finished call does nothing


async def test_get_wakes_promptly_when_the_call_finishes(
    worker: subprocess.Popen[bytes], chute_env: str
) -> None:
    await jobs_app.long_sleep.remote.aio("warm-up", 0)  # its executor is warm
    call = await jobs_app.long_sleep.spawn.aio("wake", 1.05)
    assert await call.get.aio(timeout=30) == "wake"
    returned = time.time()
    info = await call.info.aio()
    assert info.finished_at is not None
    # Woken by the finish, not by a periodic re-check: SQLite re-checks 1 s after the wait
    # starts (the call finishes just after that), Redis 10 s. Measured from the finish (the
    # backend's clock is this machine's) so that a slow executor start cannot fail the test.
    assert returned - info.finished_at < 0.5, returned - info.finished_at


async def test_failure_after_retries_reraises_the_remote_exception(
    worker: subprocess.Popen[bytes], chute_env: str
) -> None:
    call = await jobs_app.always_fails.spawn.aio("boom")
    with pytest.raises(KeyError, match="boom") as err:
        await call.get.aio(timeout=60)
    assert any("Remote traceback" in note and "always_fails" in note for note in err.value.__notes__)
    info = await call.info.aio()
    assert (info.state, info.attempts, info.failures) == (chute.CallState.FAILED, 2, 2)
    assert info.error == "KeyError: 'boom'" and info.traceback and "raise KeyError" in info.traceback
    with pytest.raises(KeyError):
        await jobs_app.always_fails.remote.aio("again")


async def test_map_return_exceptions(worker: subprocess.Popen[bytes], chute_env: str) -> None:
    # After test_failure_after_retries_reraises_the_remote_exception: its executor is warm.
    results = await async_results(jobs_app.always_fails.map(["a"], return_exceptions=True))
    assert len(results) == 1 and isinstance(results[0], KeyError)
    with pytest.raises(KeyError):
        await async_results(jobs_app.always_fails.map(["b"]))


async def test_result_expires(worker: subprocess.Popen[bytes], chute_env: str) -> None:
    call = await jobs_app.short_lived.spawn.aio("soon gone")
    assert await call.get.aio(timeout=60) == "soon gone"
    await asyncio.sleep(1.3)  # result_ttl=1
    with pytest.raises(OutputExpiredError):
        await call.get.aio(timeout=0)
    with pytest.raises(OutputExpiredError):
        await call.get.aio()
    assert (await call.info.aio()).state is chute.CallState.EXPIRED
    assert not isinstance(OutputExpiredError("x"), TimeoutError)  # as in Modal: not the builtin


async def test_idempotency_key(chute_env: str) -> None:
    fn = idle.with_options(idempotency_key="order-17")
    first, second = await fn.spawn.aio(1), await fn.spawn.aio(2)
    assert first == second
    assert await idle.with_options(idempotency_key="order-18").spawn.aio(1) != first
    assert await idle.spawn.aio(1) != await idle.spawn.aio(1)


async def test_args_summary_of_spawn_and_spawn_map(chute_env: str) -> None:
    async def summary(call: chute.FunctionCall) -> str | None:
        return (await call.info.aio()).args_summary

    assert await summary(await idle_args.spawn.aio(1, "abc", x=None)) == "idle_args(1, 'abc', x=None)"
    long = await summary(await idle_args.spawn.aio(list(range(1000)), text="y" * 1000))
    assert long == f"idle_args([0, 1, 2, 3, 4, 5, ...], text='{'y' * 17}...{'y' * 18}')"
    many = await summary(await idle_args.spawn.aio(*["z" * 30] * 20))
    assert many is not None and len(many) == 200 and many.endswith("…")
    # A __repr__ that raises does not fail the spawn.
    assert await summary(await idle_args.spawn.aio(NoRepr(), [NoRepr()])) == (
        "idle_args(<NoRepr object>, [<NoRepr object>])"
    )
    # map/spawn_map (spawn_many): each input its own summary.
    await idle_args.spawn_map.aio(range(3), ["a", "b", "c"], kwargs={"k": 1})
    backend = sync_open_backend(chute_env)
    try:
        listed = backend.job_list("main", app="test-jobs-unserved", function="idle_args")
    finally:
        backend.close()
    mapped = sorted(r.args_summary or "" for r in listed if (r.args_summary or "").endswith("k=1)"))
    assert mapped == ["idle_args(0, 'a', k=1)", "idle_args(1, 'b', k=1)", "idle_args(2, 'c', k=1)"]


async def test_from_name_needs_a_deployment(worker: subprocess.Popen[bytes], chute_env: str) -> None:
    missing = chute.Function.from_name("test-jobs", "nope")
    with pytest.raises(NotFoundError, match="chute deploy"):
        await missing.spawn.aio(1)
    with pytest.raises(NotFoundError, match="chute deploy"):
        await chute.Function.from_name("test-jobs-unserved", "idle").spawn.aio(1)  # never deployed
    fn = chute.Function.from_name("test-jobs", "echo_args")  # deployed by the worker
    call = await fn.spawn.aio(41)
    assert await call.get.aio(timeout=60) == (41,)
    with pytest.raises(InvalidError):
        chute.Function.from_name("test-jobs", "has space")
    with pytest.raises(InvalidError):
        chute.FunctionCall.from_id("qu-" + "a" * 22)
    with pytest.raises(NotFoundError):
        await chute.FunctionCall.from_id("fc-" + "a" * 22).get.aio(timeout=0)


async def test_function_call_pickles_by_reference(worker: subprocess.Popen[bytes], chute_env: str) -> None:
    call = await jobs_app.echo_args.spawn.aio("by-ref")
    again = pickle.loads(pickle.dumps(call))
    assert again == call
    assert await again.get.aio(timeout=60) == ("by-ref",)
    fn = pickle.loads(pickle.dumps(jobs_app.echo_args))  # a Function pickles as a lookup by name
    assert await fn.remote.aio("fn-by-ref") == ("fn-by-ref",)
