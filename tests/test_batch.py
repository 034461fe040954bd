"""Group commit (chute/backends/_batch.py): concurrent calls share batches, each gets its own
result, a failure stays with its call, an interrupted batch does not strand the others."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from chute.backends._batch import AsyncBatcher, Batcher
from chute.exception import BackendUnavailableError


def test_threads_share_batches_and_get_their_own_results() -> None:
    sizes: list[int] = []

    def run(reqs: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(reqs))
        time.sleep(0.002)  # a commit
        return [ValueError(r) if r % 7 == 0 else r * 10 for r in reqs]

    b: Batcher[int, int] = Batcher(run, cancel_safe=True)
    results: dict[int, object] = {}

    def call(r: int) -> None:
        try:
            results[r] = b.submit(r)
        except ValueError as exc:
            results[r] = exc

    threads = [threading.Thread(target=call, args=(r,)) for r in range(1, 41)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(sizes) == 40 and max(sizes) > 1  # grouped
    assert len(sizes) < 40
    for r in range(1, 41):
        if r % 7:
            assert results[r] == r * 10
        else:
            assert isinstance(results[r], ValueError) and results[r].args == (r,)


def test_a_failed_batch_fails_each_of_its_calls_and_the_next_batch_runs() -> None:
    calls = 0

    def run(reqs: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        time.sleep(0.002)
        if calls == 2:
            raise BackendUnavailableError("down")
        return list(reqs)

    b: Batcher[int, int] = Batcher(run, cancel_safe=True)
    outcomes: list[object] = []

    def call(r: int) -> None:
        try:
            outcomes.append(b.submit(r))
        except BackendUnavailableError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call, args=(r,)) for r in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 20
    assert any(isinstance(o, BackendUnavailableError) for o in outcomes)
    assert b.submit(99) == 99  # not stuck


async def test_tasks_share_batches() -> None:
    sizes: list[int] = []

    async def run(reqs: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(reqs))
        await asyncio.sleep(0.002)
        return [r + 1 for r in reqs]

    b: AsyncBatcher[int, int] = AsyncBatcher(run, cancel_safe=True)
    assert await asyncio.gather(*(b.submit(r) for r in range(30))) == list(range(1, 31))
    assert sizes[0] == 1 and sizes[1] == 29  # the first alone, then all who came meanwhile


@pytest.mark.parametrize("cancel_safe", [True, False])
async def test_a_cancelled_leader_does_not_strand_the_others(cancel_safe: bool) -> None:
    started = asyncio.Event()
    ran: list[Sequence[int]] = []

    async def run(reqs: Sequence[int]) -> list[int | BaseException]:
        ran.append(reqs)
        started.set()
        await asyncio.sleep(0.05)
        return list(reqs)

    b: AsyncBatcher[int, int] = AsyncBatcher(run, cancel_safe=cancel_safe)
    first = asyncio.ensure_future(b.submit(0))
    await started.wait()
    followers = [asyncio.ensure_future(b.submit(r)) for r in (1, 2, 3)]
    await asyncio.sleep(0)
    started.clear()
    await started.wait()  # the second batch (1, 2, 3) runs...
    followers[0].cancel()  # ...and its leader is cancelled in flight
    assert await first == 0
    rest = await asyncio.gather(*followers[1:], return_exceptions=True)
    if cancel_safe:  # nothing was written: they run again in the next batch
        assert rest == [2, 3] and ran[-1] == [2, 3]
    else:  # outcome unknown: they say so
        assert all(isinstance(r, BackendUnavailableError) for r in rest)
    assert await b.submit(9) == 9
