"""Storage contract, jobs (function calls): submit/claim/finish, leases, fencing, reaping of
lost calls, retry/release, cancel, result expiry and idempotency, on every backend.

SOURCE of tests/_sync/test_backend_contract_jobs.py (scripts/unasync.py): the backend under
test (fixture ``b``) is the async backend here and the generated sync backend there. Every
submit and claim goes through ``submit``/``claim`` (tests/_async/contract_helpers.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chute.backends._async.base import AsyncBackend
from chute.backends.types import CallState, FunctionStats, SubmitRequest
from tests._async.contract_helpers import (
    APP,
    ENV,
    FN,
    LOST,
    cid,
    claim,
    pass_the_tombstone_period,
    state,
    submit,
)

# -- lifecycle ---------------------------------------------------------------------------------


async def test_submit_claim_finish_get(b: AsyncBackend) -> None:
    before = await b.now()
    c = await submit(b, b"payload")
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.id, rec.env, rec.app, rec.function) == (c, ENV, APP, FN)
    assert (rec.state, rec.attempts, rec.failures, rec.lost) == (CallState.PENDING, 0, 0, 0)
    assert before <= rec.created_at <= await b.now()
    assert rec.payload is None and rec.result is None and rec.worker is None and rec.started_at is None

    [got] = await claim(b, "w1")
    assert (got.id, got.state, got.attempts, got.worker, got.payload) == (
        c,
        CallState.RUNNING,
        1,
        "w1",
        b"payload",
    )
    assert got.started_at is not None and got.started_at >= rec.created_at
    assert await claim(b, "w2") == []
    assert await b.job_heartbeat(c, 1, 30) is True
    running = await b.job_get(c)
    assert running is not None and (running.state, running.worker, running.payload) == (
        CallState.RUNNING,
        "w1",
        None,
    )

    assert await b.job_finish(c, 1, CallState.SUCCEEDED, b"result") is True
    done = await b.job_get(c)
    assert done is not None
    assert (done.state, done.result, done.payload, done.error) == (CallState.SUCCEEDED, b"result", None, None)
    assert done.finished_at is not None and done.expires_at is not None
    assert done.expires_at == pytest.approx(done.finished_at + 60, abs=0.01)
    # Terminal: nothing a worker does changes it any more.
    assert await b.job_finish(c, 1, CallState.FAILED, b"x") is False
    assert await b.job_heartbeat(c, 1, 30) is False
    assert await b.job_retry(c, 1, delay=0, error="E") is False
    assert await b.job_release(c, 1) is False
    assert await b.job_cancel(c, result=b"c") is False
    assert await b.job_get(c) == done


async def test_failed_finish_counts_a_failure(b: AsyncBackend) -> None:
    c = await submit(b)
    await claim(b)
    assert await b.job_finish(c, 1, CallState.FAILED, b"exc", error="ValueError: boom") is True
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.failures, rec.error, rec.result) == (
        CallState.FAILED,
        1,
        "ValueError: boom",
        b"exc",
    )
    with pytest.raises(ValueError):
        await b.job_finish(c, 1, CallState.CANCELLED, b"")


async def test_finish_refuses_states_other_than_succeeded_or_failed(b: AsyncBackend) -> None:
    c = await submit(b)
    await claim(b)
    for bad in (CallState.PENDING, CallState.RUNNING, CallState.CANCELLED, CallState.EXPIRED):
        with pytest.raises(ValueError):
            await b.job_finish(c, 1, bad, b"")
    assert await state(b, c) is CallState.RUNNING


async def test_unknown_call(b: AsyncBackend) -> None:
    c = cid()
    assert await b.job_get(c) is None
    assert await b.job_heartbeat(c, 1, 10) is False
    assert await b.job_finish(c, 1, CallState.SUCCEEDED, b"") is False
    assert await b.job_retry(c, 1, delay=0, error="E") is False
    assert await b.job_release(c, 1) is False
    assert await b.job_cancel(c, result=b"") is False
    start = time.monotonic()
    await b.job_wait(c, wait=2)  # nothing to wait for
    assert time.monotonic() - start < 1.5


async def test_claim_is_fifo_and_batched(b: AsyncBackend) -> None:
    ids = [await submit(b, str(i).encode()) for i in range(12)]
    assert [r.id for r in await claim(b, n=3)] == ids[:3]
    got = await claim(b, n=100)
    assert [r.id for r in got] == ids[3:]
    assert [r.payload for r in got] == [str(i).encode() for i in range(3, 12)]
    assert await claim(b, n=5) == []


async def test_functions_are_separate_queues(b: AsyncBackend) -> None:
    f = await submit(b, fn="f")
    g = await submit(b, fn="g")
    h = await submit(b, fn="f", app="other")
    d = await submit(b, fn="f", env="dev")
    assert [r.id for r in await claim(b, n=5, fn="g")] == [g]
    assert [r.id for r in await claim(b, n=5, fn="f")] == [f]
    assert [r.id for r in await claim(b, n=5, fn="f", app="other", lease=10, max_lost=0)] == [h]
    assert [r.id for r in await claim(b, n=5, fn="f", env="dev")] == [d]


async def test_max_running_caps_claims(b: AsyncBackend) -> None:
    ids = [await submit(b) for _ in range(5)]
    got = await claim(b, n=5, max_running=2)
    assert [r.id for r in got] == ids[:2]
    assert await claim(b, n=5, max_running=2) == []
    assert [r.id for r in await claim(b, n=5, max_running=3)] == ids[2:3]
    assert await b.job_finish(ids[0], 1, CallState.SUCCEEDED, b"") is True
    assert [r.id for r in await claim(b, n=5, max_running=3)] == ids[3:4]
    assert await claim(b, n=5, max_running=0) == []
    assert [r.id for r in await claim(b, n=5)] == ids[4:]


# -- leases, fencing -----------------------------------------------------------------------------


async def test_expired_lease_is_reclaimed_then_fails_after_max_lost(b: AsyncBackend) -> None:
    c = await submit(b)
    [first] = await claim(b, "w1", lease=0.5, max_lost=1)
    assert await claim(b, "w2", lease=0.5, max_lost=1) == []  # lease still live
    await asyncio.sleep(0.7)
    [second] = await claim(b, "w2", lease=0.5, max_lost=1)
    assert (second.id, second.attempts, second.lost, second.worker) == (c, 2, 1, "w2")
    assert second.payload == b"args"

    # The first worker's attempt is fenced off.
    assert await b.job_heartbeat(c, first.attempts, 10) is False
    assert await b.job_finish(c, first.attempts, CallState.SUCCEEDED, b"stale") is False
    assert await b.job_retry(c, first.attempts, delay=0, error="E") is False
    assert await b.job_release(c, first.attempts) is False
    assert await state(b, c) is CallState.RUNNING

    # A heartbeat keeps the lease alive past its first deadline.
    for _ in range(3):
        await asyncio.sleep(0.2)
        assert await b.job_heartbeat(c, 2, 0.5) is True
    assert await claim(b, "w3", lease=0.5, max_lost=1) == []

    await asyncio.sleep(0.7)
    assert await claim(b, "w3", lease=0.5, max_lost=1) == []  # lost twice > max_lost=1: failed
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.lost, rec.attempts, rec.failures) == (CallState.FAILED, 2, 2, 0)
    assert rec.error == f"{LOST} (2 lost attempts)"
    assert rec.result is None and rec.finished_at is not None and rec.expires_at is not None
    assert await b.job_heartbeat(c, 2, 10) is False
    assert await b.job_stats(ENV, APP, FN) == FunctionStats(failed=1)


async def test_an_expired_lease_holds_until_another_claim(b: AsyncBackend) -> None:
    """A worker paused past its lease keeps its attempt until some claim of the function
    takes the call back: leases are reaped by claims, not by a clock."""
    c = await submit(b)
    await claim(b, lease=0.1)
    await asyncio.sleep(0.2)
    rec = await b.job_get(c)
    assert rec is not None and rec.state is CallState.RUNNING
    assert await b.job_stats(ENV, APP, FN) == FunctionStats(running=1)
    assert await claim(b, fn="g") == []  # another function's claim does not reap this one
    assert await b.job_heartbeat(c, 1, 0.1) is True
    await asyncio.sleep(0.2)
    assert await b.job_finish(c, 1, CallState.SUCCEEDED, b"late but fine") is True
    assert await claim(b) == []
    done = await b.job_get(c)
    assert done is not None and (done.state, done.result, done.lost) == (
        CallState.SUCCEEDED,
        b"late but fine",
        0,
    )


async def test_lost_call_keeps_its_place_in_line(b: AsyncBackend) -> None:
    old = await submit(b)
    await claim(b, lease=0.1)
    await asyncio.sleep(0.2)
    new = await submit(b)
    assert [r.id for r in await claim(b, n=1)] == [old]
    assert [r.id for r in await claim(b, n=1)] == [new]


async def test_retry_waits_out_its_delay(b: AsyncBackend) -> None:
    c = await submit(b)
    await claim(b)
    assert await b.job_retry(c, 1, delay=0.8, error="ValueError: boom") is True
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.failures, rec.attempts, rec.error) == (CallState.PENDING, 1, 1, "ValueError: boom")
    assert rec.worker is None
    assert await b.job_heartbeat(c, 1, 10) is False  # the attempt is over
    assert await b.job_stats(ENV, APP, FN) == FunctionStats(pending=1)
    assert await claim(b) == []
    await asyncio.sleep(0.2)
    assert await claim(b) == []
    await asyncio.sleep(0.75)
    [again] = await claim(b)
    assert (again.id, again.attempts, again.failures) == (c, 2, 1)
    assert await b.job_finish(c, 1, CallState.SUCCEEDED, b"") is False  # the old attempt
    assert await b.job_finish(c, 2, CallState.SUCCEEDED, b"ok") is True


async def test_retried_call_keeps_its_place_in_line(b: AsyncBackend) -> None:
    old = await submit(b)
    await claim(b)
    assert await b.job_retry(old, 1, delay=0.5, error="E") is True
    new = await submit(b)
    assert [r.id for r in await claim(b, n=1)] == [new]  # old is still backing off
    newer = await submit(b)
    await asyncio.sleep(0.6)
    assert [r.id for r in await claim(b, n=5)] == [old, newer]


async def test_retry_with_no_delay_is_claimable_at_once(b: AsyncBackend) -> None:
    c = await submit(b)
    await claim(b)
    assert await b.job_retry(c, 1, delay=0, error="E") is True
    assert [r.attempts for r in await claim(b)] == [2]


async def test_release_gives_the_call_back(b: AsyncBackend) -> None:
    c = await submit(b)
    [got] = await claim(b, "w1")
    later_call = await submit(b)
    assert await b.job_release(c, got.attempts) is True
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.attempts, rec.failures, rec.worker) == (CallState.PENDING, 0, 0, None)
    assert await b.job_release(c, got.attempts) is False
    assert await b.job_heartbeat(c, got.attempts, 10) is False
    # Back at its place by creation: before the newer call.
    assert [(r.id, r.attempts, r.worker) for r in await claim(b, "w2", n=2)] == [
        (c, 1, "w2"),
        (later_call, 1, "w2"),
    ]


# -- cancel, expiry, idempotency ---------------------------------------------------------------


async def test_cancel_pending(b: AsyncBackend) -> None:
    c = await submit(b)
    assert await b.job_cancel(c, result=b"cancelled-exc") is True
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.result, rec.attempts, rec.error) == (
        CallState.CANCELLED,
        b"cancelled-exc",
        0,
        "cancelled",
    )
    assert rec.finished_at is not None and rec.expires_at == pytest.approx(rec.finished_at + 60, abs=0.01)
    assert await b.job_cancel(c, result=b"again") is False
    assert await claim(b) == []
    assert await b.job_stats(ENV, APP, FN) == FunctionStats(cancelled=1)


async def test_cancel_running(b: AsyncBackend) -> None:
    c = await submit(b)
    await claim(b, max_running=1)
    waiting = await submit(b)
    assert await claim(b, max_running=1) == []
    assert await b.job_cancel(c, result=b"x") is True
    assert await b.job_heartbeat(c, 1, 10) is False
    assert await b.job_finish(c, 1, CallState.SUCCEEDED, b"late") is False
    rec = await b.job_get(c)
    assert rec is not None and (rec.state, rec.result) == (CallState.CANCELLED, b"x")
    # Its running slot is free again.
    assert [r.id for r in await claim(b, max_running=1)] == [waiting]


async def test_result_expires(b: AsyncBackend) -> None:
    c = await submit(b, result_ttl=0.6)
    await claim(b)
    assert await b.job_finish(c, 1, CallState.SUCCEEDED, b"r") is True
    assert await b.job_stats(ENV, APP, FN) == FunctionStats(succeeded=1)
    assert [r.state for r in await b.job_list(ENV, state=CallState.SUCCEEDED)] == [CallState.SUCCEEDED]
    await asyncio.sleep(0.75)
    rec = await b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.result) == (CallState.EXPIRED, None)
    assert rec.finished_at is not None
    assert await b.job_stats(ENV, APP, FN) == FunctionStats()
    assert await b.job_list(ENV, state=CallState.SUCCEEDED) == []
    assert [r.id for r in await b.job_list(ENV, state=CallState.EXPIRED)] == [c]
    await b.collect_garbage()  # drops the result's bytes, keeps the tombstone
    assert await b.job_get(c) == rec


async def test_call_records_vanish_after_the_tombstone(
    b: AsyncBackend, backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await submit(b)
    gone = await submit(b, result_ttl=0.1)
    await claim(b, n=2)
    assert await b.job_finish(gone, 1, CallState.SUCCEEDED, b"r") is True
    await asyncio.sleep(0.2)
    await b.collect_garbage()
    tomb = await b.job_get(gone)
    assert tomb is not None and tomb.state is CallState.EXPIRED  # known, but expired
    pass_the_tombstone_period(backend_url, monkeypatch)
    assert await b.collect_garbage() == 0  # call records are not counted as objects
    assert await b.job_get(gone) is None
    assert [r.id for r in await b.job_list(ENV)] == [kept]
    assert await b.job_stats(ENV, APP, FN) == FunctionStats(running=1)


async def test_idempotency_key(b: AsyncBackend) -> None:
    first = await submit(b, idempotency_key="k1")
    assert await submit(b, idempotency_key="k1") == first
    assert await submit(b, idempotency_key="k2") != first
    assert await submit(b, fn="g", idempotency_key="k1") != first  # per function
    assert await submit(b) != first
    assert len(await b.job_list(ENV, app=APP, function=FN)) == 3
    # Still the same call while it runs, whatever the TTL...
    short = await submit(b, idempotency_key="short", result_ttl=0.5)
    await asyncio.sleep(0.6)
    assert await submit(b, idempotency_key="short", result_ttl=0.5) == short
    # ...and until its result expires.
    claimed = {r.id: r for r in await claim(b, n=10)}
    assert await b.job_finish(short, claimed[short].attempts, CallState.SUCCEEDED, b"") is True
    assert await submit(b, idempotency_key="short", result_ttl=0.5) == short
    await asyncio.sleep(0.65)
    assert await submit(b, idempotency_key="short", result_ttl=0.5) != short


# -- arguments summary -------------------------------------------------------------------------


async def test_args_summary_is_stored_with_the_call_and_read_everywhere(b: AsyncBackend) -> None:
    text = "f(1, 'é', x=[1, 2, ...])"
    one = await submit(b, args_summary=text)
    bare = await submit(b)  # as by a caller that made none (the Modal wire server, older chute)
    reqs = [SubmitRequest(ENV, APP, FN, cid(), b"p", 60.0, args_summary=f"f({i})") for i in range(3)]
    many = await b.job_submit_many(reqs)  # one script (run) for the batch on Redis
    assert many == [r.call_id for r in reqs]
    got = await b.job_get(one)
    assert got is not None and got.args_summary == text
    none = await b.job_get(bare)
    assert none is not None and none.args_summary is None
    records = await b.job_get_many([one, bare, *many])
    assert [r.args_summary for r in records if r is not None] == [text, None, "f(0)", "f(1)", "f(2)"]
    listed = {r.id: r.args_summary for r in await b.job_list(ENV, function=FN)}
    assert listed == {one: text, bare: None, many[0]: "f(0)", many[1]: "f(1)", many[2]: "f(2)"}
    claimed = {r.id: r.args_summary for r in await claim(b, n=10)}
    assert claimed == listed
    # A debounced call's summary is the latest spawn's, as its payload is.
    first = await submit(b, idempotency_key="d", debounce=True, delay=60, args_summary="f('v1')")
    assert await submit(b, idempotency_key="d", debounce=True, delay=60, args_summary="f('v2')") == first
    rec = await b.job_get(first)
    assert rec is not None and rec.args_summary == "f('v2')"
    # A schedule's tick stores its request's summary.
    await b.job_deploy(ENV, APP, [(FN, b"{}")])
    await b.job_schedule_init(ENV, APP, FN, "sig", 1000.0)
    tick = SubmitRequest(ENV, APP, FN, cid(), b"()", 60.0, args_summary="f()")
    assert await b.job_schedule_tick(tick, 1000.0, 1001.0)
    rec = await b.job_get(tick.call_id)
    assert rec is not None and rec.args_summary == "f()"
