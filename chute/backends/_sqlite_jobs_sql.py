"""SQLite schema and transaction bodies for jobs: deployed functions and leased calls.

Pure functions of a connection, like ``_sqlite_sql``: the sync and async SQLite backends
run the same bodies inside ``BEGIN IMMEDIATE``. Wake-ups reuse the ``waiters`` table: a
worker waiting for work registers under ``work_channel(...)``, a caller of
``FunctionCall.get`` under the call id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from chute.backends import _sqlite_jobs_pick as pick
from chute.backends._sqlite_sql import Waiters
from chute.backends.types import (
    CALL_TOMBSTONE,
    CallRecord,
    CallState,
    ClaimRequest,
    FunctionRecord,
    FunctionStats,
    SubmitRequest,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS functions(
    env         TEXT NOT NULL,
    app         TEXT NOT NULL,
    name        TEXT NOT NULL,
    spec        BLOB NOT NULL,
    deployed_at REAL NOT NULL,
    PRIMARY KEY (env, app, name)
) WITHOUT ROWID;

-- seq orders calls FIFO, id is the public fc-… id.
CREATE TABLE IF NOT EXISTS calls(
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    env         TEXT NOT NULL,
    app         TEXT NOT NULL,
    function    TEXT NOT NULL,
    state       TEXT NOT NULL,
    payload     BLOB,              -- serialized arguments, kept for replay until the call expires
    result      BLOB,              -- serialized outcome once terminal
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    lost        INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    ready_at    REAL NOT NULL,     -- pending calls are claimable from then on (retry backoff)
    lease_until REAL,              -- running calls: the worker's lease
    started_at  REAL,
    finished_at REAL,
    result_ttl  REAL NOT NULL,
    expires_at  REAL,              -- terminal calls: when the result is dropped
    worker      TEXT,
    idem        TEXT,
    priority    INTEGER NOT NULL DEFAULT 0,  -- higher claimed first
    ckey        TEXT,              -- concurrency key (fairness)
    progress    TEXT,              -- JSON set by the running call
    args        TEXT               -- the arguments summary made by the caller (args_summary)
);
CREATE INDEX IF NOT EXISTS calls_by_fn ON calls(env, app, function, state, seq);
CREATE INDEX IF NOT EXISTS calls_by_lease ON calls(state, lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX IF NOT EXISTS calls_by_idem ON calls(env, app, function, idem) WHERE idem IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_recent ON calls(env, created_at);
CREATE INDEX IF NOT EXISTS calls_by_expiry ON calls(expires_at) WHERE expires_at IS NOT NULL;

-- One scheduled function's state: its next tick is claimed by compare-and-set on next_at.
CREATE TABLE IF NOT EXISTS schedules(
    env         TEXT NOT NULL,
    app         TEXT NOT NULL,
    function    TEXT NOT NULL,
    sig         TEXT NOT NULL,
    next_at     REAL NOT NULL,
    paused      INTEGER NOT NULL DEFAULT 0,
    last_at     REAL,
    last_call   TEXT,
    PRIMARY KEY (env, app, function)
) WITHOUT ROWID;

-- Recent starts of rate-limited functions (a sliding window, pruned by the claims).
CREATE TABLE IF NOT EXISTS starts(
    env         TEXT NOT NULL,
    app         TEXT NOT NULL,
    function    TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS starts_by_fn ON starts(env, app, function, at);

-- When each concurrency key was last served (round-robin between keys).
CREATE TABLE IF NOT EXISTS fair_keys(
    env         TEXT NOT NULL,
    app         TEXT NOT NULL,
    function    TEXT NOT NULL,
    ckey        TEXT NOT NULL,
    served      INTEGER NOT NULL,
    PRIMARY KEY (env, app, function, ckey)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS workers(
    env         TEXT NOT NULL,
    id          TEXT NOT NULL,
    info        BLOB NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (env, id)
) WITHOUT ROWID;
"""

_COLUMNS = (
    "id, env, app, function, state, attempts, failures, lost, created_at, started_at, finished_at, "
    "expires_at, worker, error, priority, progress, args"
)

# Columns added after schema 2 (databases created before get them on open), and the indexes on them.
_ADDED_COLUMNS = (
    ("priority", "INTEGER NOT NULL DEFAULT 0"),
    ("ckey", "TEXT"),
    ("progress", "TEXT"),
    ("args", "TEXT"),  # schema 5
)
_ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS calls_claim ON calls(env, app, function, state, priority DESC, seq)",
)


def upgrade(c: sqlite3.Connection) -> None:
    """Bring a database created by an older chute to the current calls columns (inside the
    schema transaction, after ``SCHEMA``)."""
    have = {row[1] for row in c.execute("PRAGMA table_info(calls)")}
    for name, decl in _ADDED_COLUMNS:
        if name not in have:
            c.execute(f"ALTER TABLE calls ADD COLUMN {name} {decl}")
    for stmt in _ADDED_INDEXES:
        c.execute(stmt)


LOST_WORKER = "worker lost: the worker running this call stopped renewing its lease"


def work_channel(env: str, app: str, function: str) -> str:
    """The ``waiters.object_id`` under which workers of one function wait for calls."""
    return f"fn\0{env}\0{app}\0{function}"


def _record(
    row: Sequence[Any], now: float, result: bytes | None = None, payload: bytes | None = None
) -> CallRecord:
    state = CallState(row[4])
    expires_at = row[11]
    if state.terminal and expires_at is not None and expires_at <= now:
        state, result = CallState.EXPIRED, None
    return CallRecord(
        id=row[0],
        env=row[1],
        app=row[2],
        function=row[3],
        state=state,
        attempts=int(row[5]),
        failures=int(row[6]),
        lost=int(row[7]),
        created_at=float(row[8]),
        started_at=row[9],
        finished_at=row[10],
        expires_at=expires_at,
        worker=row[12],
        error=row[13],
        result=None if result is None else bytes(result),
        payload=None if payload is None else bytes(payload),
        priority=int(row[14]),
        progress=row[15],
        args_summary=row[16],
    )


def _waiters(c: sqlite3.Connection, channel: str) -> Waiters:
    return c.execute("SELECT id, addr FROM waiters WHERE object_id = ? AND part = x''", (channel,)).fetchall()


def deploy(
    c: sqlite3.Connection, env: str, app: str, functions: Sequence[tuple[str, bytes]], now: float
) -> None:
    c.execute("DELETE FROM functions WHERE env = ? AND app = ?", (env, app))
    c.executemany(
        "INSERT INTO functions VALUES (?, ?, ?, ?, ?)",
        [(env, app, name, spec, now) for name, spec in functions],
    )


def functions(c: sqlite3.Connection, env: str, app: str | None) -> list[FunctionRecord]:
    sql = "SELECT env, app, name, spec, deployed_at FROM functions WHERE env = ?"
    args: tuple[Any, ...] = (env,)
    if app is not None:
        sql, args = sql + " AND app = ?", (env, app)
    rows = c.execute(sql + " ORDER BY app, name", args).fetchall()
    return [FunctionRecord(r[0], r[1], r[2], bytes(r[3]), float(r[4])) for r in rows]


def stats(c: sqlite3.Connection, env: str, app: str, function: str, now: float) -> FunctionStats:
    rows = c.execute(
        "SELECT state, COUNT(*) FROM calls WHERE env = ? AND app = ? AND function = ? "
        "AND (expires_at IS NULL OR expires_at > ?) GROUP BY state",
        (env, app, function, now),
    ).fetchall()
    return FunctionStats(**{state: int(n) for state, n in rows})


def submit(c: sqlite3.Connection, req: SubmitRequest, now: float) -> tuple[str, Waiters]:
    env, app, function, call_id, idem = req.env, req.app, req.function, req.call_id, req.idempotency_key
    if idem is not None:
        row = c.execute(
            "SELECT id, expires_at, state FROM calls WHERE env = ? AND app = ? AND function = ? AND idem = ?",
            (env, app, function, idem),
        ).fetchone()
        if row is not None:
            if req.debounce and row[2] == "pending":
                c.execute(
                    "UPDATE calls SET payload = ?, ready_at = ?, priority = ?, ckey = ?, args = ? "
                    "WHERE id = ?",
                    (
                        req.payload,
                        now + req.delay,
                        req.priority,
                        req.concurrency_key,
                        req.args_summary,
                        row[0],
                    ),
                )
                return str(row[0]), []
            if not req.debounce and (row[1] is None or row[1] > now):
                return str(row[0]), []
            # Expired (or, debounced, already started): the key passes to the new call.
            c.execute("UPDATE calls SET idem = NULL WHERE id = ?", (row[0],))
    insert(c, [req], now)
    return call_id, _waiters(c, work_channel(env, app, function))


def insert(c: sqlite3.Connection, reqs: Sequence[SubmitRequest], now: float) -> None:
    """Store new PENDING calls (no idempotency check); a call whose id is stored already is
    left as it is (as on Redis: submitting an id again is a no-op that returns the id)."""
    c.executemany(
        "INSERT OR IGNORE INTO calls(id, env, app, function, state, payload, created_at, ready_at, "
        "result_ttl, idem, priority, ckey, args) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.call_id,
                r.env,
                r.app,
                r.function,
                r.payload,
                now,
                now + r.delay,
                r.result_ttl,
                r.idempotency_key,
                r.priority,
                r.concurrency_key,
                r.args_summary,
            )
            for r in reqs
        ],
    )


def _reap(c: sqlite3.Connection, env: str, app: str, function: str, max_lost: int, now: float) -> Waiters:
    """Running calls of the function whose lease expired: back to pending, or failed."""
    expired = c.execute(
        "SELECT id, lost FROM calls WHERE env = ? AND app = ? AND function = ? AND state = 'running' "
        "AND lease_until < ?",
        (env, app, function, now),
    ).fetchall()
    woken: Waiters = []
    for call_id, lost in expired:
        if lost + 1 > max_lost:
            c.execute(
                "UPDATE calls SET state = 'failed', lost = lost + 1, finished_at = ?, "
                "expires_at = ? + result_ttl, lease_until = NULL, error = ? WHERE id = ?",
                (
                    now,
                    now,
                    f"{LOST_WORKER} ({lost + 1} lost attempts)",
                    call_id,
                ),
            )
            woken += _waiters(c, call_id)
        else:
            c.execute(
                "UPDATE calls SET state = 'pending', lost = lost + 1, ready_at = ?, lease_until = NULL, "
                "worker = NULL WHERE id = ?",
                (now, call_id),
            )
    return woken


def claim(c: sqlite3.Connection, req: ClaimRequest, now: float) -> tuple[list[CallRecord], Waiters]:
    env, app, function, worker, n = req.env, req.app, req.function, req.worker, req.n
    lease, max_running, max_lost = req.lease, req.max_running, req.max_lost
    woken = _reap(c, env, app, function, max_lost, now)
    if max_running is not None:
        (running,) = c.execute(
            "SELECT COUNT(*) FROM calls WHERE env = ? AND app = ? AND function = ? AND state = 'running'",
            (env, app, function),
        ).fetchone()
        n = min(n, max_running - running)
    if req.rate_calls is not None:
        n = min(n, pick.rate_room(c, req, now))
    if n <= 0:
        return [], woken
    if req.max_per_key is None:
        seqs = [
            r[0]
            for r in c.execute(
                "SELECT seq FROM calls WHERE env = ? AND app = ? AND function = ? AND state = 'pending' "
                "AND ready_at <= ? ORDER BY priority DESC, seq LIMIT ?",
                (env, app, function, now, n),
            )
        ]
    else:
        seqs = pick.fair(c, req, n, now)
    if not seqs:
        return [], woken
    order = {seq: i for i, seq in enumerate(seqs)}
    marks = ",".join("?" * len(seqs))
    rows = c.execute(
        "UPDATE calls SET state = 'running', attempts = attempts + 1, lease_until = ?, worker = ?, "
        f"started_at = ? WHERE seq IN ({marks}) RETURNING seq, {_COLUMNS}, payload",
        (now + lease, worker, now, *seqs),
    ).fetchall()
    rows.sort(key=lambda r: order[r[0]])  # RETURNING gives no order guarantee
    if req.rate_calls is not None:
        pick.record_starts(c, req, len(rows), now)
    return [_record(r[1:], now, payload=r[-1]) for r in rows], woken


def heartbeat(c: sqlite3.Connection, call_id: str, attempt: int, lease: float, now: float) -> bool:
    cur = c.execute(
        "UPDATE calls SET lease_until = ? WHERE id = ? AND state = 'running' AND attempts = ?",
        (now + lease, call_id, attempt),
    )
    return cur.rowcount > 0


def finish(
    c: sqlite3.Connection,
    call_id: str,
    attempt: int,
    state: CallState,
    result: bytes,
    error: str | None,
    now: float,
) -> tuple[bool, Waiters]:
    cur = c.execute(
        "UPDATE calls SET state = ?, result = ?, error = ?, finished_at = ?, expires_at = ? + result_ttl, "
        "failures = failures + ?, lease_until = NULL "
        "WHERE id = ? AND state = 'running' AND attempts = ?",
        (state.value, result, error, now, now, int(state is CallState.FAILED), call_id, attempt),
    )
    if cur.rowcount == 0:
        return False, []
    return True, _waiters(c, call_id)


def _fenced_requeue(
    c: sqlite3.Connection, call_id: str, attempt: int, assignments: str, args: tuple[Any, ...]
) -> tuple[bool, Waiters]:
    row = c.execute(
        f"UPDATE calls SET state = 'pending', lease_until = NULL, worker = NULL, {assignments} "
        "WHERE id = ? AND state = 'running' AND attempts = ? RETURNING env, app, function",
        (*args, call_id, attempt),
    ).fetchone()
    if row is None:
        return False, []
    return True, _waiters(c, work_channel(*row))


def retry(
    c: sqlite3.Connection, call_id: str, attempt: int, delay: float, error: str, now: float
) -> tuple[bool, Waiters]:
    return _fenced_requeue(
        c, call_id, attempt, "failures = failures + 1, error = ?, ready_at = ?", (error, now + delay)
    )


def release(c: sqlite3.Connection, call_id: str, attempt: int, now: float) -> tuple[bool, Waiters]:
    return _fenced_requeue(c, call_id, attempt, "attempts = attempts - 1, ready_at = ?", (now,))


def cancel(c: sqlite3.Connection, call_id: str, result: bytes, now: float) -> tuple[bool, Waiters]:
    cur = c.execute(
        "UPDATE calls SET state = 'cancelled', result = ?, error = 'cancelled', finished_at = ?, "
        "expires_at = ? + result_ttl, lease_until = NULL "
        "WHERE id = ? AND state IN ('pending', 'running')",
        (result, now, now, call_id),
    )
    if cur.rowcount == 0:
        return False, []
    return True, _waiters(c, call_id)


def get(c: sqlite3.Connection, call_id: str, now: float) -> CallRecord | None:
    row = c.execute(f"SELECT {_COLUMNS}, result FROM calls WHERE id = ?", (call_id,)).fetchone()
    return None if row is None else _record(row, now, result=row[-1])


def is_terminal(c: sqlite3.Connection, call_id: str) -> bool:
    row = c.execute("SELECT state FROM calls WHERE id = ?", (call_id,)).fetchone()
    return row is None or CallState(row[0]).terminal


def list_calls(
    c: sqlite3.Connection,
    env: str,
    app: str | None,
    function: str | None,
    state: CallState | None,
    limit: int,
    now: float,
) -> list[CallRecord]:
    where: list[str] = ["env = ?"]
    args: list[Any] = [env]
    for column, value in (("app", app), ("function", function)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if state is CallState.EXPIRED:
        where.append("expires_at <= ?")
        args.append(now)
    elif state is not None:
        where.append("state = ? AND (expires_at IS NULL OR expires_at > ?)")
        args += [state.value, now]
    rows = c.execute(
        f"SELECT {_COLUMNS} FROM calls WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, seq DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [_record(r, now) for r in rows]


def worker_beat(c: sqlite3.Connection, env: str, worker_id: str, info: bytes, expires_at: float) -> None:
    c.execute("INSERT OR REPLACE INTO workers VALUES (?, ?, ?, ?)", (env, worker_id, info, expires_at))


def worker_gone(c: sqlite3.Connection, env: str, worker_id: str) -> None:
    c.execute("DELETE FROM workers WHERE env = ? AND id = ?", (env, worker_id))


def worker_list(c: sqlite3.Connection, env: str, now: float) -> list[tuple[str, bytes]]:
    rows = c.execute(
        "SELECT id, info FROM workers WHERE env = ? AND expires_at > ? ORDER BY id", (env, now)
    ).fetchall()
    return [(str(i), bytes(info)) for i, info in rows]


def collect_garbage(c: sqlite3.Connection, now: float) -> int:
    c.execute("DELETE FROM workers WHERE expires_at < ?", (now,))
    # Payloads are kept past the end of a call for replay (job_requeue), until it expires.
    c.execute("UPDATE calls SET payload = NULL WHERE expires_at < ? AND payload IS NOT NULL", (now,))
    return c.execute("DELETE FROM calls WHERE expires_at < ?", (now - CALL_TOMBSTONE,)).rowcount
