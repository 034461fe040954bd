"""SQLite bodies of job control: replay, progress and schedules.

Pure functions of a connection, like ``_sqlite_jobs_sql`` (whose submit they reuse), run inside
``BEGIN IMMEDIATE`` by both SQLite backends. A schedule tick is a compare-and-set on the
function's ``next_at`` and the submit of its call in one transaction: however many workers try,
one stores the tick.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from chute.backends import _sqlite_jobs_sql as one
from chute.backends._sqlite_sql import Waiters
from chute.backends.types import ScheduleRecord, SubmitRequest


def requeue(c: sqlite3.Connection, call_id: str, now: float) -> tuple[bool, Waiters]:
    row = c.execute(
        "UPDATE calls SET state = 'pending', failures = 0, lost = 0, result = NULL, error = NULL, "
        "started_at = NULL, finished_at = NULL, expires_at = NULL, lease_until = NULL, worker = NULL, "
        "progress = NULL, ready_at = ? WHERE id = ? AND state IN ('failed', 'cancelled') "
        "AND payload IS NOT NULL AND expires_at > ? RETURNING env, app, function",
        (now, call_id, now),
    ).fetchone()
    if row is None:
        return False, []
    return True, one._waiters(c, one.work_channel(*row))


def set_progress(c: sqlite3.Connection, call_id: str, progress: str) -> bool:
    cur = c.execute("UPDATE calls SET progress = ? WHERE id = ? AND state = 'running'", (progress, call_id))
    return cur.rowcount > 0


_SCHEDULE_COLUMNS = "env, app, function, sig, next_at, paused, last_at, last_call"
_DEPLOYED = (
    " AND EXISTS (SELECT 1 FROM functions f WHERE f.env = schedules.env AND f.app = schedules.app "
    "AND f.name = schedules.function)"
)


def _schedule(row: Any) -> ScheduleRecord:
    return ScheduleRecord(
        env=row[0],
        app=row[1],
        function=row[2],
        sig=row[3],
        next_at=float(row[4]),
        paused=bool(row[5]),
        last_at=row[6],
        last_call=row[7],
    )


def schedules(c: sqlite3.Connection, env: str, app: str | None) -> list[ScheduleRecord]:
    sql = f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE env = ?" + _DEPLOYED
    args: tuple[str, ...] = (env,)
    if app is not None:
        sql, args = sql + " AND app = ?", (env, app)
    return [_schedule(r) for r in c.execute(sql + " ORDER BY app, function", args)]


def schedule_init(
    c: sqlite3.Connection, env: str, app: str, function: str, sig: str, next_at: float
) -> ScheduleRecord:
    c.execute(
        "INSERT INTO schedules(env, app, function, sig, next_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO UPDATE SET sig = excluded.sig, next_at = excluded.next_at WHERE sig <> excluded.sig",
        (env, app, function, sig, next_at),
    )
    row = c.execute(
        f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE env = ? AND app = ? AND function = ?",
        (env, app, function),
    ).fetchone()
    return _schedule(row)


def schedule_update(
    c: sqlite3.Connection, env: str, app: str, function: str, paused: bool | None, next_at: float | None
) -> bool:
    cur = c.execute(
        "UPDATE schedules SET paused = COALESCE(?, paused), next_at = COALESCE(?, next_at) "
        "WHERE env = ? AND app = ? AND function = ?",
        (None if paused is None else int(paused), next_at, env, app, function),
    )
    return cur.rowcount > 0


def schedule_tick(
    c: sqlite3.Connection, req: SubmitRequest, due: float, following: float, now: float
) -> tuple[bool, Waiters]:
    cur = c.execute(
        "UPDATE schedules SET next_at = ?, last_at = ?, last_call = ? "
        "WHERE env = ? AND app = ? AND function = ? AND next_at = ? AND paused = 0",
        (following, now, req.call_id, req.env, req.app, req.function, due),
    )
    if cur.rowcount == 0:
        return False, []
    _, waiters = one.submit(c, req, now)
    return True, waiters
