# Auto-generated from tests/_async/test_backend_contract_job_control.py by scripts/unasync.py: DO NOT EDIT.
"""Storage contract, job control: delays, priorities, rate limits, per-key fairness, debounce,
replay, progress and schedule ticks, on every backend.

SOURCE of tests/_sync/test_backend_contract_job_control.py (scripts/unasync.py). Every submit
and claim goes through ``submit``/``claim`` (tests/_async/contract_helpers.py).
"""

from __future__ import annotations

import time
import json

from chute.backends._sync.base import Backend
from chute.backends.types import CallState, SubmitRequest
from tests._sync.contract_helpers import APP, ENV, FN, cid, claim, state, submit

# -- delays and priorities -----------------------------------------------------------------------


def test_a_delayed_call_is_not_claimable_before_its_time(b: Backend) -> None:
    c = submit(b, delay=0.4)
    assert state(b, c) is CallState.PENDING
    assert claim(b) == []
    assert (b.job_stats(ENV, APP, FN)).pending == 1
    time.sleep(0.5)
    [got] = claim(b)
    assert got.id == c


def test_higher_priority_first_fifo_within_one(b: Backend) -> None:
    low = submit(b, priority=-1)
    a = submit(b)
    hi1 = submit(b, priority=5)
    b2 = submit(b)
    hi2 = submit(b, priority=5)
    got = [c.id for c in claim(b, n=3)] + [c.id for c in claim(b, n=5)]
    assert got == [hi1, hi2, a, b2, low]
    assert [c.priority for c in [b.job_get(i) for i in got] if c] == [5, 5, 0, 0, -1]


def test_a_retried_call_keeps_its_priority(b: Backend) -> None:
    submit(b)
    hi = submit(b, priority=3)
    [got] = claim(b)
    assert got.id == hi
    assert b.job_release(hi, got.attempts)
    [again] = claim(b)
    assert again.id == hi


# -- rate limits and fairness ------------------------------------------------------------------


def test_rate_limit_counts_starts_across_claimers(b: Backend) -> None:
    for _ in range(6):
        submit(b)
    assert len(claim(b, "w1", n=2, rate_calls=3, rate_per=0.5)) == 2
    assert len(claim(b, "w2", n=5, rate_calls=3, rate_per=0.5)) == 1
    assert claim(b, "w1", n=5, rate_calls=3, rate_per=0.5) == []
    time.sleep(0.6)
    assert len(claim(b, "w2", n=5, rate_calls=3, rate_per=0.5)) == 3


def test_per_key_cap_and_round_robin(b: Backend) -> None:
    big = [submit(b, concurrency_key="big") for _ in range(6)]
    small = [submit(b, concurrency_key="small") for _ in range(2)]
    plain = submit(b)
    got = claim(b, n=10, max_per_key=2)
    ids = [c.id for c in got]
    # At most 2 running per key; the other key is not starved by the big one's backlog.
    assert sorted(ids) == sorted([*big[:2], *small, plain])
    assert claim(b, n=10, max_per_key=2) == []
    done = got[ids.index(big[0])]
    assert b.job_finish(done.id, done.attempts, CallState.SUCCEEDED, b"r")
    [nxt] = claim(b, n=10, max_per_key=2)
    assert nxt.id == big[2]
    assert (b.job_stats(ENV, APP, FN)).pending == 3


def test_keys_take_turns(b: Backend) -> None:
    a = [submit(b, concurrency_key="a") for _ in range(4)]
    bb = [submit(b, concurrency_key="b") for _ in range(2)]
    got = []
    for _ in range(4):
        [c] = claim(b, n=1, max_per_key=10)
        got.append(c.id)
    assert got == [a[0], bb[0], a[1], bb[1]]


def test_cancel_and_retry_free_a_key_slot(b: Backend) -> None:
    c1 = submit(b, concurrency_key="k")
    c2 = submit(b, concurrency_key="k")
    [run] = claim(b, n=5, max_per_key=1)
    assert run.id == c1
    assert b.job_retry(c1, run.attempts, delay=0, error="again")
    [nxt] = claim(b, n=5, max_per_key=1)
    assert b.job_cancel(nxt.id, result=b"x")
    [last] = claim(b, n=5, max_per_key=1)
    assert {nxt.id, last.id} == {c1, c2}


# -- debounce ------------------------------------------------------------------------------------


def test_debounce_replaces_a_pending_call_and_pushes_it_back(b: Backend) -> None:
    first = submit(b, b"v1", idempotency_key="doc", delay=0.3, debounce=True)
    time.sleep(0.2)
    again = submit(b, b"v2", idempotency_key="doc", delay=0.3, debounce=True)
    assert again == first
    time.sleep(0.15)  # the first delay is over, the pushed-back one is not
    assert claim(b) == []
    time.sleep(0.3)
    [got] = claim(b)
    assert (got.id, got.payload) == (first, b"v2")
    # Started: the next debounced spawn makes a new call that takes over the key.
    newer = submit(b, b"v3", idempotency_key="doc", delay=0, debounce=True)
    assert newer != first
    assert submit(b, b"v4", idempotency_key="doc", debounce=True) == newer


def test_without_debounce_a_repeated_key_is_dropped(b: Backend) -> None:
    first = submit(b, b"v1", idempotency_key="k", delay=5)
    assert submit(b, b"v2", idempotency_key="k", delay=0) == first
    assert claim(b) == []


# -- replay and progress -------------------------------------------------------------------------


def test_requeue_a_failed_call_under_the_same_id(b: Backend) -> None:
    c = submit(b, b"args")
    [got] = claim(b)
    assert b.job_set_progress(c, json.dumps({"fraction": 0.5, "meta": {}}))
    assert b.job_finish(c, got.attempts, CallState.FAILED, b"err", error="ValueError: x")
    assert b.job_set_progress(c, "{}") is False
    assert b.job_requeue(c)
    rec = b.job_get(c)
    assert rec is not None
    assert (rec.state, rec.failures, rec.error, rec.result, rec.progress) == (
        CallState.PENDING,
        0,
        None,
        None,
        None,
    )
    assert rec.finished_at is None and rec.expires_at is None
    assert (b.job_stats(ENV, APP, FN)).failed == 0
    [again] = claim(b)
    assert (again.id, again.payload, again.attempts) == (c, b"args", got.attempts + 1)
    assert b.job_finish(c, got.attempts, CallState.SUCCEEDED, b"late") is False  # fenced
    assert b.job_finish(c, again.attempts, CallState.SUCCEEDED, b"ok")
    done = b.job_get(c)
    assert done is not None and (done.state, done.result) == (CallState.SUCCEEDED, b"ok")


def test_requeue_refuses_live_succeeded_and_unknown_calls(b: Backend) -> None:
    c = submit(b)
    assert b.job_requeue(c) is False
    [got] = claim(b)
    assert b.job_requeue(c) is False
    assert b.job_finish(c, got.attempts, CallState.SUCCEEDED, b"ok")
    assert b.job_requeue(c) is False
    assert b.job_requeue(cid()) is False
    cancelled = submit(b)
    assert b.job_cancel(cancelled, result=b"x")
    assert b.job_requeue(cancelled)
    assert state(b, cancelled) is CallState.PENDING


def test_progress_is_stored_on_a_running_call(b: Backend) -> None:
    c = submit(b)
    assert b.job_set_progress(c, "{}") is False  # pending
    claim(b)
    report = json.dumps({"fraction": 0.25, "meta": {"step": 3}})
    assert b.job_set_progress(c, report)
    rec = b.job_get(c)
    assert rec is not None and rec.progress == report
    [listed] = b.job_list(ENV, function=FN)
    assert listed.progress == report


# -- schedules -----------------------------------------------------------------------------------


def _tick_request(call_id: str) -> SubmitRequest:
    return SubmitRequest(ENV, APP, FN, call_id, b"()", 60.0)


def test_schedule_ticks_are_compare_and_set(b: Backend) -> None:
    b.job_deploy(ENV, APP, [(FN, b"{}")])
    rec = b.job_schedule_init(ENV, APP, FN, "sig1", 1000.0)
    assert (rec.next_at, rec.paused, rec.last_at) == (1000.0, False, None)
    assert (b.job_schedule_init(ENV, APP, FN, "sig1", 2000.0)).next_at == 1000.0  # same schedule
    first, second = cid(), cid()
    assert b.job_schedule_tick(_tick_request(first), 1000.0, 1001.5)
    assert b.job_schedule_tick(_tick_request(second), 1000.0, 1001.5) is False  # a peer took it
    assert state(b, first) is CallState.PENDING and state(b, second) is None
    [st] = b.job_schedules(ENV)
    assert (st.app, st.function, st.sig, st.next_at, st.last_call) == (APP, FN, "sig1", 1001.5, first)
    assert st.last_at is not None
    assert b.job_schedule_update(ENV, APP, FN, paused=True)
    assert b.job_schedule_tick(_tick_request(cid()), 1001.5, 1003.0) is False  # paused
    assert b.job_schedule_update(ENV, APP, FN, paused=False, next_at=1002.25)
    [st] = b.job_schedules(ENV, APP)
    assert (st.paused, st.next_at) == (False, 1002.25)
    assert b.job_schedule_tick(_tick_request(cid()), 1002.25, 1003.0)
    # The schedule changed (redeploy): the next tick is reset, paused is kept.
    assert b.job_schedule_update(ENV, APP, FN, paused=True)
    rec = b.job_schedule_init(ENV, APP, FN, "sig2", 5000.0)
    assert (rec.sig, rec.next_at, rec.paused) == ("sig2", 5000.0, True)
    assert b.job_schedule_update(ENV, APP, "other", paused=True) is False
    assert b.job_schedules(ENV, "other-app") == []
