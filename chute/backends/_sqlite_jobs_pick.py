"""SQLite bodies of the claim's admission rules: rate limits and per-key fairness.

Pure functions of a connection, run by ``_sqlite_jobs_sql.claim`` inside its transaction, so a
limit holds across every worker: the count and the claim are one atomic step.
"""

from __future__ import annotations

import sqlite3

from chute.backends.types import ClaimRequest


def rate_room(c: sqlite3.Connection, req: ClaimRequest, now: float) -> int:
    """How many calls may start now under ``rate_calls`` per ``rate_per`` s (a sliding window)."""
    assert req.rate_calls is not None
    key = (req.env, req.app, req.function)
    c.execute(
        "DELETE FROM starts WHERE env = ? AND app = ? AND function = ? AND at <= ?",
        (*key, now - req.rate_per),
    )
    (started,) = c.execute(
        "SELECT COUNT(*) FROM starts WHERE env = ? AND app = ? AND function = ?", key
    ).fetchone()
    return max(0, req.rate_calls - int(started))


def record_starts(c: sqlite3.Connection, req: ClaimRequest, n: int, now: float) -> None:
    c.executemany("INSERT INTO starts VALUES (?, ?, ?, ?)", [(req.env, req.app, req.function, now)] * n)


# Up to `n` ready calls: each key's calls ranked (priority, then FIFO) and capped at what its
# running calls leave of max_per_key; first every key's first call, then every key's second
# ..., keys served least recently first. Calls without a key form one uncapped group.
_FAIR = """
WITH ready AS (
    SELECT seq, ckey, priority,
           ROW_NUMBER() OVER (PARTITION BY ckey ORDER BY priority DESC, seq) AS rank
    FROM calls WHERE env = ?1 AND app = ?2 AND function = ?3 AND state = 'pending' AND ready_at <= ?4
), busy AS (
    SELECT ckey, COUNT(*) AS n FROM calls
    WHERE env = ?1 AND app = ?2 AND function = ?3 AND state = 'running' AND ckey IS NOT NULL
    GROUP BY ckey
)
SELECT ready.seq, ready.ckey FROM ready
LEFT JOIN busy ON busy.ckey = ready.ckey
LEFT JOIN fair_keys f ON f.env = ?1 AND f.app = ?2 AND f.function = ?3 AND f.ckey = ready.ckey
WHERE ready.ckey IS NULL OR ready.rank <= ?5 - COALESCE(busy.n, 0)
ORDER BY ready.rank, COALESCE(f.served, 0), ready.priority DESC, ready.seq
LIMIT ?6
"""


def fair(c: sqlite3.Connection, req: ClaimRequest, n: int, now: float) -> list[int]:
    """The seqs of the calls to claim under ``max_per_key``; marks their keys as just served."""
    assert req.max_per_key is not None
    key = (req.env, req.app, req.function)
    rows = c.execute(_FAIR, (*key, now, req.max_per_key, n)).fetchall()
    (turn,) = c.execute(
        "SELECT COALESCE(MAX(served), 0) FROM fair_keys WHERE env = ? AND app = ? AND function = ?", key
    ).fetchone()
    served: dict[str, int] = {}
    for _, ckey in rows:
        if ckey is not None and ckey not in served:
            turn += 1
            served[ckey] = turn
    c.executemany(
        "INSERT INTO fair_keys VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET served = excluded.served",
        [(*key, k, t) for k, t in served.items()],
    )
    return [int(r[0]) for r in rows]
