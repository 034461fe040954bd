"""SQLite transaction bodies for the batched job operations (one transaction per batch).

Pure functions of a connection, like ``_sqlite_jobs_sql`` (whose single-call bodies they
reuse), run inside ``BEGIN IMMEDIATE`` by both SQLite backends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chute.backends import _sqlite_jobs_sql as one
from chute.backends._sqlite_sql import Waiters
from chute.backends.types import (
    CallRecord,
    CallState,
    ClaimRequest,
    CompleteRequest,
    Completion,
    SubmitRequest,
)

# Ids per ``IN (...)`` query (SQLite's default variable limit is 32766; stay well under it).
_IN_CHUNK = 500


def _merge(into: dict[int, tuple[int, bytes]], waiters: Waiters) -> None:
    for w in waiters:
        into[w[0]] = w  # one datagram per waiter, however many of its calls changed


def submit_many(
    c: sqlite3.Connection, reqs: Sequence[SubmitRequest], now: float
) -> tuple[list[str], Waiters]:
    ids: list[str] = []
    woken: dict[int, tuple[int, bytes]] = {}
    plain = [r for r in reqs if r.idempotency_key is None]
    if len(plain) == len(reqs):
        # The common case (map, spawn_map): one statement for the whole batch.
        one.insert(c, reqs, now)
        for env, app, function in {(r.env, r.app, r.function) for r in reqs}:
            _merge(woken, one._waiters(c, one.work_channel(env, app, function)))
        return [r.call_id for r in reqs], list(woken.values())
    for req in reqs:
        call_id, waiters = one.submit(c, req, now)
        ids.append(call_id)
        _merge(woken, waiters)
    return ids, list(woken.values())


def complete(
    c: sqlite3.Connection, items: Sequence[CompleteRequest], claim: ClaimRequest | None, now: float
) -> tuple[list[bool], list[CallRecord], Waiters]:
    written: list[bool] = []
    woken: dict[int, tuple[int, bytes]] = {}
    for it in items:
        if it.how is Completion.SUCCEEDED or it.how is Completion.FAILED:
            state = CallState.SUCCEEDED if it.how is Completion.SUCCEEDED else CallState.FAILED
            ok, waiters = one.finish(c, it.call_id, it.attempt, state, it.result, it.error, now)
        elif it.how is Completion.RETRY:
            ok, waiters = one.retry(c, it.call_id, it.attempt, it.delay, it.error or "", now)
        elif it.how is Completion.RELEASE:
            ok, waiters = one.release(c, it.call_id, it.attempt, now)
        else:
            raise ValueError(f"job_complete: {it.how!r} is not a Completion")
        written.append(ok)
        _merge(woken, waiters)
    calls: list[CallRecord] = []
    if claim is not None and claim.n > 0:
        calls, waiters = one.claim(c, claim, now)
        _merge(woken, waiters)
    return written, calls, list(woken.values())


def heartbeat_many(
    c: sqlite3.Connection, attempts: Sequence[tuple[str, int]], lease: float, now: float
) -> list[bool]:
    return [one.heartbeat(c, call_id, attempt, lease, now) for call_id, attempt in attempts]


def get_many(c: sqlite3.Connection, call_ids: Sequence[str], now: float) -> list[CallRecord | None]:
    found: dict[str, CallRecord] = {}
    for i in range(0, len(call_ids), _IN_CHUNK):
        chunk = list(call_ids[i : i + _IN_CHUNK])
        marks = ",".join("?" * len(chunk))
        rows = c.execute(f"SELECT {one._COLUMNS}, result FROM calls WHERE id IN ({marks})", chunk).fetchall()
        for row in rows:
            found[row[0]] = one._record(row, now, result=row[-1])
    return [found.get(call_id) for call_id in call_ids]
