"""Storage contract, jobs that wait and race: ``job_wait`` (a caller waiting for a result),
``job_wait_for_work`` (a worker waiting for calls) and concurrent claimers, on every backend.

SOURCE of tests/_sync/test_backend_contract_job_waits.py (scripts/unasync.py): the backend
under test (fixture ``b``) is the async backend here and the generated sync backend there; the
fixture ``other`` (sync) acts from other threads.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing

from chute.backends._async.base import AsyncBackend
from chute.backends._sync.base import Backend
from chute.backends.types import CallState, ClaimRequest
from tests._async.contract_helpers import APP, ENV, FN, claim, later, submit
from tests._flavours import async_open_backend, async_race, sync_open_backend
from tests._sync.contract_helpers import submit as sync_submit


async def test_job_wait_wakes_every_waiter_when_the_call_ends(
    b: AsyncBackend, other: Backend, backend_url: str
) -> None:
    c = await submit(b)
    await claim(b)
    elapsed: list[float] = []
    ready = threading.Barrier(4)  # the finish comes 0.3 s after every waiter is about to wait

    def waiter() -> None:
        with closing(sync_open_backend(backend_url)) as mine:
            ready.wait()
            start = time.monotonic()
            mine.job_wait(c, wait=5)
            elapsed.append(time.monotonic() - start)

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    ready.wait()
    threads.append(later(0.3, other.job_finish, c, 1, CallState.SUCCEEDED, b"r"))
    start = time.monotonic()
    await b.job_wait(c, wait=5)
    elapsed.append(time.monotonic() - start)
    for t in threads:
        t.join()
    assert len(elapsed) == 4
    assert all(0.2 < e < 1.0 for e in elapsed), elapsed  # woken: SQLite re-checks after 1 s
    rec = await b.job_get(c)
    assert rec is not None and rec.result == b"r"
    # Terminal: returns at once, again and again.
    for _ in range(2):
        start = time.monotonic()
        await b.job_wait(c, wait=5)
        assert time.monotonic() - start < 0.2


async def test_job_wait_wakes_on_cancel_and_times_out(b: AsyncBackend, other: Backend) -> None:
    c = await submit(b)
    start = time.monotonic()
    await b.job_wait(c, wait=0.3)
    assert 0.28 <= time.monotonic() - start < 2.0
    t = later(0.2, other.job_cancel, c, result=b"x")
    start = time.monotonic()
    await b.job_wait(c, wait=5)
    t.join()
    assert 0.15 < time.monotonic() - start < 1.0


async def test_job_wait_get_reads_the_call_as_the_wait_ends(b: AsyncBackend, other: Backend) -> None:
    c = await submit(b)
    await claim(b)
    # Still running when the wait times out: the running record.
    start = time.monotonic()
    rec = await b.job_wait_get(c, wait=0.3, unfinished=True)
    assert 0.28 <= time.monotonic() - start < 2.0
    assert rec is not None and rec.id == c and rec.state is CallState.RUNNING
    # Woken by the finish: the finished record, result included, from the same call.
    t = later(0.3, other.job_finish, c, 1, CallState.SUCCEEDED, b"done")
    start = time.monotonic()
    rec = await b.job_wait_get(c, wait=5, unfinished=True)
    t.join()
    assert 0.2 < time.monotonic() - start < 1.0
    assert rec is not None and rec.state is CallState.SUCCEEDED and rec.result == b"done"
    # Terminal: at once, with and without `unfinished`; an unknown call is None.
    for unfinished in (True, False):
        start = time.monotonic()
        rec = await b.job_wait_get(c, wait=5, unfinished=unfinished)
        assert time.monotonic() - start < 0.2
        assert rec is not None and rec.result == b"done"
    start = time.monotonic()
    assert await b.job_wait_get("fc-unknown", wait=5) is None
    assert time.monotonic() - start < 0.5


async def test_job_wait_for_work(b: AsyncBackend, other: Backend) -> None:
    start = time.monotonic()
    assert await b.job_wait_for_work(ENV, APP, [FN, "g"], wait=0.3) == []  # timed out
    assert 0.28 <= time.monotonic() - start < 2.0
    t = later(0.3, sync_submit, other, fn="g")
    start = time.monotonic()
    woken = await b.job_wait_for_work(ENV, APP, [FN, "g"], wait=5)
    t.join()
    assert 0.25 < time.monotonic() - start < 1.0
    assert woken == ["g"]  # the function whose submit woke it
    assert len(await claim(b, fn="g")) == 1
    # A call of another function does not wake us.
    t = later(0.1, sync_submit, other, fn="h")
    start = time.monotonic()
    await b.job_wait_for_work(ENV, APP, [FN], wait=0.4)
    t.join()
    assert time.monotonic() - start >= 0.38
    # A release makes the call claimable again: that wakes a waiter too.
    c = await submit(b)
    [got] = await claim(b)
    await b.job_wait_for_work(ENV, APP, [FN], wait=0)  # never blocks
    await b.job_wait_for_work(ENV, APP, [FN], wait=0.05)  # consume the submit's token
    t = later(0.2, other.job_release, c, got.attempts)
    start = time.monotonic()
    await b.job_wait_for_work(ENV, APP, [FN], wait=5)
    t.join()
    assert 0.15 < time.monotonic() - start < 1.0
    start = time.monotonic()
    await b.job_wait_for_work(ENV, APP, [], wait=0.2)
    assert time.monotonic() - start >= 0.19


async def test_job_wait_claim(b: AsyncBackend, other: Backend) -> None:
    # A worker's wait with its claims: where the backend runs them with the wait
    # (claims_while_waiting), the woken function's call comes back leased to the worker, a
    # function with nothing ready claims nothing; elsewhere the wait returns alone and the
    # worker claims. Either way the call is claimed exactly once.
    reqs = [ClaimRequest(ENV, APP, f, "w1", 2, 30.0, None, 3) for f in (FN, "g")]
    start = time.monotonic()
    assert await b.job_wait_claim(ENV, APP, [FN, "g"], reqs, wait=0.3) == ([], [])  # timed out
    assert 0.28 <= time.monotonic() - start < 2.0
    t = later(0.3, sync_submit, other, fn="g")
    start = time.monotonic()
    woken, calls = await b.job_wait_claim(ENV, APP, [FN, "g"], reqs, wait=5)
    t.join()
    assert 0.25 < time.monotonic() - start < 1.0
    assert woken == ["g"]
    if b.claims_while_waiting:
        assert [(c.function, c.state, c.worker, c.attempts) for c in calls] == [
            ("g", CallState.RUNNING, "w1", 1)
        ]
        assert calls[0].payload == b"args"
    else:
        assert calls == []
        calls = await claim(b, fn="g")
    assert len(calls) == 1 and await claim(b, fn="g") == []
    # A call already waiting is claimed by the next wait, which returns at once.
    waiting = await submit(b)
    start = time.monotonic()
    woken, calls = await b.job_wait_claim(ENV, APP, [FN, "g"], reqs, wait=5)
    assert time.monotonic() - start < 0.5 and woken == [FN]
    if not b.claims_while_waiting:
        calls = await claim(b)
    assert [c.id for c in calls] == [waiting]
    # job_end_waits ends the worker's wait in progress (or the wait ends on its own, where the
    # waits claim nothing); another worker's is left alone.
    t = later(0.2, other.job_end_waits, ENV, "w1")
    start = time.monotonic()
    assert await b.job_wait_claim(ENV, APP, [FN], reqs[:1], wait=1.0) == ([], [])
    t.join()
    took = time.monotonic() - start
    assert (0.15 < took < 0.6) if b.claims_while_waiting else (0.95 < took < 2.0), took
    other.job_end_waits(ENV, "w2")
    start = time.monotonic()
    assert await b.job_wait_claim(ENV, APP, [FN], reqs[:1], wait=0.3) == ([], [])
    assert time.monotonic() - start >= 0.28


async def test_racing_claimers_never_share_an_attempt(b: AsyncBackend, backend_url: str) -> None:
    ids = {await submit(b) for _ in range(200)}
    got: list[str] = []
    backends = [async_open_backend(backend_url) for _ in range(6)]

    async def worker(mine: AsyncBackend, name: str) -> None:
        while batch := await claim(mine, name, n=3, max_running=8):
            for r in batch:
                assert await mine.job_finish(r.id, r.attempts, CallState.SUCCEEDED, b"") is True
            got.extend(r.id for r in batch)

    try:
        await async_race([lambda bk=bk, i=i: worker(bk, f"w{i}") for i, bk in enumerate(backends)])
    finally:
        for bk in backends:
            await bk.aclose()
    assert sorted(got) == sorted(ids)
