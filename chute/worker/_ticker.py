"""Schedules (``@app.function(schedule=...)``) without a singleton scheduler.

Every worker serving a scheduled function watches its stored state (next tick, paused) and,
when the next tick is due, asks the backend to claim it: ``job_schedule_tick`` is a
compare-and-set on the next tick and the submit of the tick's call in one atomic step, so
however many workers try, one stores each tick. The call is then claimed and run like any
other (a worker killed while running it loses its lease, and the call runs elsewhere). Ticks
missed while no worker ran are collapsed: one call runs when a worker returns, then the
schedule resumes on its grid.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from chute import _outcome
from chute._args_summary import summarize
from chute._sync.call_ops import request
from chute.backends.types import ScheduleRecord
from chute.schedule import Schedule
from chute.worker._scaling import FnState

# Seconds between reads of the stored schedule states (a pause, a resume, a peer's tick).
REREAD = 1.0


@dataclass
class _Item:
    f: FnState
    schedule: Schedule
    state: ScheduleRecord | None = None


class Ticker:
    """The scheduled functions of one worker and their last known states."""

    def __init__(self, env: str, fns: list[FnState]) -> None:
        self._env = env
        self._items = [
            _Item(f, Schedule.from_json(f.spec.schedule)) for f in fns if f.spec.schedule is not None
        ]
        self._apps = sorted({i.f.fn.app_name for i in self._items})
        self._next_read = 0.0  # monotonic

    def next_due(self) -> float:
        """When (monotonic) the loop should wake for a tick or a re-read; inf without schedules."""
        if not self._items:
            return math.inf
        offset = time.monotonic() - time.time()
        due = [i.state.next_at + offset for i in self._items if i.state is not None and not i.state.paused]
        return min([self._next_read, *due])

    def tick(self, backend: Any) -> None:
        """Claim the ticks that are due (one round trip each) and re-read the states now and then."""
        if not self._items:
            return
        if time.monotonic() >= self._next_read:
            self._read(backend)
        now = time.time()
        for item in self._items:
            st = item.state
            if st is None or st.paused or st.next_at > now:
                continue
            following = item.schedule.next_after(now, st.next_at)
            fn = item.f.fn._ref
            payload = _outcome.dump_args((), {}, fn.client.settings)
            req = request(fn, payload, args_summary=summarize(fn.name, (), {}))
            if not backend.job_schedule_tick(req, st.next_at, following):
                self._next_read = 0.0  # a peer took it (or it was paused): learn the new state
            item.state = ScheduleRecord(
                st.env, st.app, st.function, st.sig, following, st.paused, now, req.call_id
            )

    def _read(self, backend: Any) -> None:
        self._next_read = time.monotonic() + REREAD
        stored: dict[tuple[str, str], ScheduleRecord] = {}
        for app in self._apps:
            for rec in backend.job_schedules(self._env, app):
                stored[(rec.app, rec.function)] = rec
        for item in self._items:
            fn = item.f.fn
            rec = stored.get((fn.app_name, fn.name))
            if rec is None or rec.sig != item.schedule.sig:
                rec = backend.job_schedule_init(
                    self._env, fn.app_name, fn.name, item.schedule.sig, item.schedule.next_after(time.time())
                )
            item.state = rec
