"""Scenarios 6-7: job workers killed and paused past their lease (7b heartbeats, 8 poison calls
and 9 timeouts are in test_jobs_chaos_calls.py: a file per xdist worker at a time, so the
scenarios spread over the test run's workers).

Workers are real ``python -m chute worker tests/chaos/chaos_app.py`` processes with
``CHUTE_LEASE=1``. The functions log every attempt's start to ``$CHAOS_LOG`` (see chaos_app).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import chute
from chute.backends.types import CallState
from tests.chaos import chaos_app
from tests.chaos._tally import Tally
from tests.chaos._util import AckLog, Workers, kill9, wait_until

LEASE = 1.0
SWEEP = 1.0  # a worker claims (and reaps expired leases) at least once a second


class Starts:
    """The attempt starts logged by chaos_app: key -> [(pid, worker pid, unix time)]."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, list[tuple[int, int, float]]]:
        out: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
        for rec in AckLog(self.path).records():
            if rec[0] == "start":
                out[rec[1]].append((int(rec[2]), int(rec[3]), float(rec[4])))
        return out


@pytest.fixture
def chaos_log(chute_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Starts:
    path = tmp_path / "starts.log"
    monkeypatch.setenv("CHAOS_LOG", str(path))  # workers inherit it
    return Starts(path)


@pytest.fixture
def workers(chaos_log: Starts, tmp_path: Path) -> Iterator[Workers]:
    with Workers(tmp_path / "workers.log") as w:
        yield w


# -- 6. workers killed every 0.5-1 s -------------------------------------------------------------

N_CALLS = 1000


class Claims:
    """Samples the running calls every 50 ms: which worker holds which attempt, claimed when.

    An attempt lost with a killed worker stays RUNNING until its lease lapses and a claim
    reaps it (>= 1 s), so every such attempt is seen."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.seen: dict[tuple[str, int], tuple[int, float]] = {}  # (call, attempt) -> (pid, claimed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            for rec in self.backend.job_list(
                "main", app=chaos_app.app.name, function="work", state=CallState.RUNNING
            ):
                if rec.worker and rec.started_at:
                    self.seen[(rec.id, rec.attempts)] = (int(rec.worker.split(":")[1]), rec.started_at)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.mark.timeout(300)
def test_worker_kill9_during_1000_calls(workers: Workers, chaos_log: Starts, tally: Tally) -> None:
    """A worker pool killed with -9 0.5-1 s after it starts running calls, and restarted at
    once, until 1,000 calls are done: every call succeeds with exactly its own result, none
    is lost, no kill counts as a failure, and every attempt lost with the killed worker is
    claimed again (re-run) within lease + sweep + 6 s of the kill, or of the moment the next
    worker is ready if its start-up ends later. A liveness bound with a loaded machine's margin
    (quiet: 1.4-2.5 s at most; CI at load 3-5: 5.1 s): the tally reports the measured maximum."""
    tally.scenario = "6 job worker kill -9"
    rng = random.Random(6)
    # 20-60 ms calls (avg 40 ms, was 60): a worker's life is its start-up plus 0.5-1 s of calls,
    # so the number of kills (lives) is about the calls' total time over what one life runs:
    # ~17 kills at this size (11 with 25 ms calls, 25 with 60 ms ones), for >= 10 asserted.
    calls = [chaos_app.work.spawn(i, rng.uniform(0.02, 0.06)) for i in range(N_CALLS)]
    tally.acked = len(calls)
    backend = chute.Client.from_env().sync_backend()
    claims = Claims(backend)
    killed_at: dict[int, float] = {}  # worker pid -> unix time of its kill -9

    def unfinished() -> int:
        stats = backend.job_stats("main", chaos_app.app.name, "work")
        return stats.pending + stats.running

    def running_calls(pid: int) -> bool:
        return any(ppid == pid for runs in chaos_log.read().values() for _, ppid, _ in runs)

    deadline = time.monotonic() + 240
    try:
        while unfinished():
            assert time.monotonic() < deadline, f"{unfinished()} calls unfinished after 240 s"
            proc = workers.start()
            with contextlib.suppress(AssertionError):  # it may finish the last calls meanwhile
                wait_until(
                    lambda pid=proc.pid: running_calls(pid) or not unfinished(),
                    30,
                    "the worker running calls",
                )
            if not unfinished():
                break
            time.sleep(rng.uniform(0.5, 1.0))
            killed_at[proc.pid] = time.time()
            kill9(proc)
            tally.kills += 1
    finally:
        claims.close()

    infos = [call.info() for call in calls]
    results = [
        call.get(timeout=0) if info.state is CallState.SUCCEEDED else None
        for call, info in zip(calls, infos, strict=True)
    ]
    tally.received = sum(1 for i, r in enumerate(results) if isinstance(r, tuple) and r[0] == i)
    tally.lost = sum(1 for info in infos if info.state is not CallState.SUCCEEDED)
    tally.unexpected = N_CALLS - tally.received - tally.lost
    tally.duplicated = 0  # one record per call: a second completion can only be refused (fencing)
    # Re-claims: attempt a held by a killed worker, then the claim of attempt a + 1.
    claimed = dict(claims.seen)
    for call, info in zip(calls, infos, strict=True):
        if info.started_at is not None:
            claimed.setdefault((call.object_id, info.attempts), (0, info.started_at))
    starts = chaos_log.read()
    # A worker is ready when its first executor starts a call (1,000 calls are queued, so it
    # claims at once): the re-claim clock starts at the later of the kill and the moment the
    # worker that re-claims is ready, so a start-up slowed by a loaded machine is not counted.
    first_start: dict[int, float] = {}  # worker pid -> its first executor's first start
    for runs in starts.values():
        for _, ppid, t in runs:
            first_start[ppid] = min(t, first_start.get(ppid, t))
    ready = sorted(first_start.values())

    def reclaim_delay(killed: float, reclaimed: float) -> float:
        ready_at = ready[max(0, bisect.bisect_right(ready, reclaimed) - 1)]
        return reclaimed - max(killed, ready_at)

    delays = {
        (call_id, a): reclaim_delay(killed_at[pid], claimed[(call_id, a + 1)][1])
        for (call_id, a), (pid, _) in claimed.items()
        if pid in killed_at and (call_id, a + 1) in claimed
    }
    slow = sorted(((round(d, 2), k) for k, d in delays.items() if d > LEASE + SWEEP + 6), reverse=True)
    tally.extra.update(
        lost_attempts=sum(info.lost for info in infos),
        reclaims_measured=len(delays),
        max_reclaim_s=max(delays.values(), default=0.0),
        executions=sum(len(v) for v in starts.values()),
        failures=sum(info.failures for info in infos),
    )
    assert tally.kills >= 10, tally.line()
    assert (tally.received, tally.lost, tally.unexpected) == (N_CALLS, 0, 0), tally.line()
    assert all(info.failures == 0 for info in infos), "a kill counted as a failed attempt"
    assert len(delays) >= 10, f"too few lost attempts measured: {tally.line()}"
    assert not slow, (tally.line(), slow[:10])


# -- 7. lease expiry and fencing -----------------------------------------------------------------


def test_paused_worker_is_fenced(workers: Workers, chaos_log: Starts, tally: Tally) -> None:
    """A worker SIGSTOPped past its lease: another worker re-runs and completes the call; after
    SIGCONT the paused worker's late completion is refused (the result is the second worker's)."""
    tally.scenario = "7a lease expiry + fencing"
    first = workers.start()
    call = chaos_app.whoami.spawn("fenced", 2.0)
    tally.acked = 1
    wait_until(lambda: "fenced" in chaos_log.read(), 60, "first attempt started")
    os.kill(first.pid, signal.SIGSTOP)
    try:
        paused = time.monotonic()
        second = workers.start()
        result = call.get(timeout=60)
        rerun_after = chaos_log.read()["fenced"][1][2] - (time.time() - (time.monotonic() - paused))
        time.sleep(2.5 - min(2.5, time.monotonic() - paused))  # the first executor has finished
    finally:
        os.kill(first.pid, signal.SIGCONT)
    time.sleep(2 * LEASE + 0.5)  # the first worker runs on: renewals fail, its completion is refused
    info = call.info()
    after = call.get(timeout=0)
    backend = chute.Client.from_env().sync_backend()
    stale_finish = backend.job_finish(call.object_id, 1, CallState.SUCCEEDED, b"\x00stale")
    tally.received = int(result == second.pid)
    tally.unexpected = int(result != second.pid) + int(after != result)
    tally.extra.update(
        attempts=info.attempts, lost=info.lost, rerun_after_s=rerun_after, stale_finish=stale_finish
    )
    assert [s[1] for s in chaos_log.read()["fenced"]] == [first.pid, second.pid]
    assert result == second.pid and after == second.pid, (result, after, first.pid, second.pid)
    assert (info.state, info.attempts, info.lost, info.failures) == (CallState.SUCCEEDED, 2, 1, 0)
    assert stale_finish is False and call.get(timeout=0) == second.pid
    assert first.poll() is None, "the paused worker died"
