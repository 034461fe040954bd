"""The batched job operations of every backend (a real SQLite file and a real valkey-server):
job_submit_many, job_complete (finish/retry/release + claim in one round trip),
job_heartbeat_many, job_get_many; sync twins and the async source."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chute.backends import open_async_backend, open_backend
from chute.backends._sync.base import Backend
from chute.backends.types import CallState, ClaimRequest, CompleteRequest, Completion, SubmitRequest
from chute.config import Settings

ENV, APP, FN = "main", "app", "f"


@pytest.fixture
def b(backend_url: str) -> Iterator[Backend]:
    backend = open_backend(Settings.from_env(url=backend_url))
    yield backend
    backend.close()


def cid() -> str:
    return f"fc-{uuid.uuid4().hex[:22]}"


def reqs(n: int, fn: str = FN, **kw: Any) -> list[SubmitRequest]:
    return [SubmitRequest(ENV, APP, fn, cid(), f"args{i}".encode(), 60.0, **kw) for i in range(n)]


def claim_req(n: int, worker: str = "w1", **kw: Any) -> ClaimRequest:
    opts: dict[str, Any] = {"lease": 30.0, "max_running": None, "max_lost": 3} | kw
    return ClaimRequest(ENV, APP, FN, worker, n=n, **opts)


def test_submit_many_keeps_order_and_is_claimed_fifo(b: Backend) -> None:
    batch = reqs(250)
    assert b.job_submit_many(batch) == [r.call_id for r in batch]
    assert b.job_submit_many([]) == []
    claimed = b.job_claim(claim_req(300))
    assert [c.id for c in claimed] == [r.call_id for r in batch]
    assert [c.payload for c in claimed] == [r.payload for r in batch]
    assert b.job_stats(ENV, APP, FN).running == 250


def test_submit_many_with_idempotency_keys(b: Backend) -> None:
    first = SubmitRequest(ENV, APP, FN, cid(), b"x", 60.0, idempotency_key="k1")
    again = SubmitRequest(ENV, APP, FN, cid(), b"y", 60.0, idempotency_key="k1")
    other = SubmitRequest(ENV, APP, FN, cid(), b"z", 60.0, idempotency_key="k2")
    assert b.job_submit_many([first, again, other]) == [first.call_id, first.call_id, other.call_id]
    assert b.job_stats(ENV, APP, FN).pending == 2


def test_submit_many_mixed_functions_keys_priorities_and_delays(b: Backend) -> None:
    # Runs of one function are stored together; a call with a key, another function or a
    # repeated id in between must keep every call's own options and the order of the ids.
    a1, a2 = reqs(2, priority=0)
    g1, g2 = reqs(2, fn="g")
    keyed = SubmitRequest(ENV, APP, FN, cid(), b"k", 60.0, idempotency_key="mk")
    hi = SubmitRequest(ENV, APP, FN, cid(), b"hi", 60.0, priority=5)
    late = SubmitRequest(ENV, APP, FN, cid(), b"late", 60.0, delay=30.0)
    batch = [a1, g1, a2, keyed, hi, late, g2, a1]
    assert b.job_submit_many(batch) == [r.call_id for r in batch]
    assert b.job_stats(ENV, APP, FN).pending == 5  # a1, a2, keyed, hi and (delayed) late
    assert b.job_stats(ENV, APP, "g").pending == 2
    claimed = [c.id for c in b.job_claim(claim_req(10))]
    assert claimed == [hi.call_id, a1.call_id, a2.call_id, keyed.call_id]


def test_submit_many_concurrency_keys_and_repeats_in_one_run(b: Backend) -> None:
    # One run of a function (one script on Redis): calls with concurrency keys go to their
    # key's queue, a repeated id is stored once, and claims keep creation order per key.
    a1, a2, b1 = (
        SubmitRequest(ENV, APP, FN, cid(), f"{k}{i}".encode(), 60.0, concurrency_key=k)
        for k, i in (("a", 1), ("a", 2), ("b", 1))
    )
    plain = reqs(2)
    batch = [a1, plain[0], a2, b1, plain[0], plain[1]]
    assert b.job_submit_many(batch) == [r.call_id for r in batch]
    assert b.job_stats(ENV, APP, FN).pending == 5
    claimed = b.job_claim(claim_req(10, max_per_key=1))
    ids = [c.id for c in claimed]
    assert sorted(ids) == sorted([a1.call_id, b1.call_id, plain[0].call_id, plain[1].call_id])
    assert ids.index(plain[0].call_id) < ids.index(plain[1].call_id)
    assert {c.id: c.payload for c in claimed}[a1.call_id] == b"a1"
    assert b.job_stats(ENV, APP, FN).pending == 1  # a2 waits for a1 (one per key)


def test_complete_finishes_retries_releases_and_claims_in_one_call(b: Backend) -> None:
    b.job_submit_many(reqs(6))
    c = b.job_claim(claim_req(4))
    items = [
        CompleteRequest(c[0].id, c[0].attempts, Completion.SUCCEEDED, b"ok"),
        CompleteRequest(c[1].id, c[1].attempts, Completion.FAILED, b"err", error="ValueError: x"),
        CompleteRequest(c[2].id, c[2].attempts, Completion.RETRY, error="boom", delay=0.0),
        CompleteRequest(c[3].id, c[3].attempts, Completion.RELEASE),
        CompleteRequest(c[0].id, c[0].attempts + 1, Completion.SUCCEEDED, b"stale"),  # fenced out
    ]
    written, claimed = b.job_complete(items, claim_req(10))
    assert written == [True, True, True, True, False]
    # The claim ran after the completions: the retried and released calls are claimable again,
    # next to the two never claimed.
    assert {c[2].id, c[3].id} <= {x.id for x in claimed}, ([x.id for x in c], [x.id for x in claimed])
    assert len(claimed) == 4
    first, second = b.job_get_many([c[0].id, c[1].id])
    assert first is not None and first.state is CallState.SUCCEEDED and first.result == b"ok"
    assert second is not None and second.state is CallState.FAILED and second.error == "ValueError: x"
    retried = next(x for x in claimed if x.id == c[2].id)
    released = next(x for x in claimed if x.id == c[3].id)
    assert (retried.attempts, retried.failures) == (2, 1)
    assert (released.attempts, released.failures) == (1, 0)
    assert b.job_complete([], None) == ([], [])


def test_complete_claim_respects_max_running(b: Backend) -> None:
    b.job_submit_many(reqs(5))
    c = b.job_claim(claim_req(2, max_running=2))
    assert len(c) == 2
    # Finishing one frees one place under the cap, in the same round trip as the claim.
    _, claimed = b.job_complete(
        [CompleteRequest(c[0].id, c[0].attempts, Completion.SUCCEEDED, b"r")], claim_req(5, max_running=2)
    )
    assert len(claimed) == 1


def test_heartbeat_many_and_get_many(b: Backend) -> None:
    b.job_submit_many(reqs(3))
    c = b.job_claim(claim_req(3))
    b.job_cancel(c[1].id, result=b"cancelled")
    attempts = [(x.id, x.attempts) for x in c] + [(c[2].id, 99)]
    assert b.job_heartbeat_many(attempts, 30.0) == [True, False, True, False]
    assert b.job_heartbeat_many([], 30.0) == []
    got = b.job_get_many([c[1].id, "fc-" + "0" * 22, c[0].id])
    assert got[0] is not None and got[0].state is CallState.CANCELLED
    assert got[1] is None
    assert got[2] is not None and got[2].state is CallState.RUNNING and got[2].payload is None
    assert b.job_get_many([]) == []


def test_complete_rejects_unknown_completion(b: Backend) -> None:
    with pytest.raises(ValueError):
        b.job_complete([CompleteRequest("fc-" + "1" * 22, 1, "bogus")])  # type: ignore[arg-type]


async def test_async_source_batch_ops(backend_url: str) -> None:
    backend = open_async_backend(Settings.from_env(url=backend_url))
    try:
        batch = reqs(20)
        assert await backend.job_submit_many(batch) == [r.call_id for r in batch]
        written, claimed = await backend.job_complete([], claim_req(20))
        assert written == [] and len(claimed) == 20
        items = [CompleteRequest(x.id, x.attempts, Completion.SUCCEEDED, b"v") for x in claimed]
        assert (await backend.job_complete(items))[0] == [True] * 20
        assert await backend.job_heartbeat_many([(claimed[0].id, 1)], 5.0) == [False]
        records = await backend.job_get_many([x.id for x in claimed])
        assert all(r is not None and r.result == b"v" for r in records)
    finally:
        await backend.aclose()
