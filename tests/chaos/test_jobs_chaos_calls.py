# ruff: noqa: F811 - the tests take the fixtures imported from test_jobs_chaos as arguments
"""Scenarios 7b-9 of the job chaos suite (6-7 in test_jobs_chaos.py, whose fixtures these
use): heartbeats keep a long call, poison calls, timeouts.
"""

from __future__ import annotations

import itertools

import pytest

from chute.backends.types import CallState
from chute.exception import FunctionTimeoutError, RemoteError
from tests.chaos import chaos_app
from tests.chaos._tally import Tally
from tests.chaos._util import Workers
from tests.chaos.test_jobs_chaos import LEASE, Starts, chaos_log, workers  # noqa: F401 - fixtures


def test_heartbeats_keep_a_long_call(workers: Workers, chaos_log: Starts, tally: Tally) -> None:
    """A call running 3x the lease, with a second idle worker ready to steal it: the running
    worker's renewals keep it, so it is never redelivered (attempts == 1)."""
    tally.scenario = "7b heartbeats (3x lease)"
    workers.start()
    workers.start()
    call = chaos_app.whoami.spawn("long", 3 * LEASE)
    tally.acked = 1
    result = call.get(timeout=60)
    info = call.info()
    tally.received = 1
    tally.extra.update(attempts=info.attempts, lost=info.lost, starts=len(chaos_log.read()["long"]))
    assert (info.state, info.attempts, info.lost) == (CallState.SUCCEEDED, 1, 0)
    assert len(chaos_log.read()["long"]) == 1 and result == chaos_log.read()["long"][0][1]


# -- 8. poison calls -----------------------------------------------------------------------------


def test_poison_calls(workers: Workers, chaos_log: Starts, tally: Tally) -> None:
    """Calls that always raise, or kill their process: exactly retries + 1 attempts, spaced by
    the backoff (0.5, 1, 2 s), then FAILED; healthy calls of the same function submitted
    meanwhile all finish while the poison calls are still retrying."""
    tally.scenario = "8 poison calls"
    workers.start()
    raising = chaos_app.mixed.spawn("raise", "poison-raise")
    exiting = chaos_app.mixed.spawn("exit", "poison-exit")
    healthy = [chaos_app.mixed.spawn("ok", f"ok-{i}") for i in range(20)]
    tally.acked = 22
    assert [c.get(timeout=60) for c in healthy] == [f"ok-{i}" for i in range(20)]
    healthy_done = max(c.info().finished_at or 0 for c in healthy)
    problems = []
    for call, exc in ((raising, RuntimeError), (exiting, RemoteError)):
        with pytest.raises(exc):
            call.get(timeout=60)
    starts = chaos_log.read()
    retries = chaos_app.POISON_RETRIES
    expected = [retries.delay(k) for k in range(1, retries.max_retries + 1)]
    gaps = {}
    for call, key in ((raising, "poison-raise"), (exiting, "poison-exit")):
        info = call.info()
        times = sorted(s[2] for s in starts[key])
        gaps[key] = [round(b - a, 2) for a, b in itertools.pairwise(times)]
        if (info.state, info.attempts, info.failures) != (CallState.FAILED, 4, 4) or len(times) != 4:
            problems.append(f"{key}: {info.state} attempts={info.attempts} failures={info.failures}")
        # At least the backoff; at most the backoff + a claim period + an executor start.
        if not all(d - 0.05 <= g <= d + 2.5 for g, d in zip(gaps[key], expected, strict=True)):
            problems.append(f"{key}: gaps {gaps[key]} vs backoff {expected}")
        if not (info.finished_at or 0) > healthy_done:
            problems.append(f"{key} finished before the healthy calls")
    tally.received = 20 + sum(1 for c in (raising, exiting) if c.info().state is CallState.FAILED)
    tally.extra.update(gaps_raise=gaps["poison-raise"], gaps_exit=gaps["poison-exit"])
    assert not problems, problems


# -- 9. timeouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["spin", "nap"])
def test_timeouts(workers: Workers, chaos_log: Starts, tally: Tally, kind: str) -> None:
    """timeout=1 on a CPU loop and on a sleep: the attempt is killed <= 2.5 s after it started,
    counts as an attempt, and the pool runs the next call normally."""
    tally.scenario = f"9 timeout ({kind})"
    fn = chaos_app.spin if kind == "spin" else chaos_app.nap
    workers.start()
    call = fn.spawn(f"{kind}-forever", 30.0)
    tally.acked = 2
    with pytest.raises(FunctionTimeoutError):
        call.get(timeout=60)
    info = call.info()
    started = chaos_log.read()[f"{kind}-forever"][0][2]
    killed_after = (info.finished_at or 0) - started
    assert fn.spawn(f"{kind}-after", 0.1).get(timeout=60) == f"{kind}-after"
    tally.received = 2
    tally.extra.update(killed_after_s=killed_after, attempts=info.attempts)
    assert (info.state, info.attempts, info.failures) == (CallState.FAILED, 1, 1)
    assert 1.0 <= killed_after <= 2.5, killed_after
