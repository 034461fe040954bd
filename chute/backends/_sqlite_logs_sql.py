"""SQL of call logs (``store_logs``): plain functions over a connection, for both flavours."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS call_logs(
    call_id     TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    data        BLOB NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (call_id, attempt)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS call_logs_expiry ON call_logs(expires_at);
"""


def append(c: sqlite3.Connection, rows: Sequence[tuple[str, int, bytes, float]], max_bytes: int) -> None:
    """``rows``: (call_id, attempt, data, expires_at). Keeps each log's last ``max_bytes``."""
    for call_id, attempt, data, expires_at in rows:
        # Concatenated here, not with SQL's ``||`` (which makes text of bytes).
        row = c.execute("SELECT data FROM call_logs WHERE call_id = ? AND attempt = ?", (call_id, attempt))
        found = row.fetchone()
        log = (bytes(found[0]) if found else b"") + data
        c.execute(
            "INSERT OR REPLACE INTO call_logs VALUES (?, ?, ?, ?)",
            (call_id, attempt, log[-max_bytes:], expires_at),
        )
        # One TTL per call: every attempt's log lives as long as the latest write.
        c.execute("UPDATE call_logs SET expires_at = ? WHERE call_id = ?", (expires_at, call_id))


def read(c: sqlite3.Connection, call_id: str, now: float) -> list[tuple[int, bytes]]:
    rows = c.execute(
        "SELECT attempt, data FROM call_logs WHERE call_id = ? AND expires_at > ? ORDER BY attempt",
        (call_id, now),
    ).fetchall()
    return [(int(a), bytes(d)) for a, d in rows]


def collect_garbage(c: sqlite3.Connection, now: float) -> None:
    c.execute("DELETE FROM call_logs WHERE expires_at < ?", (now,))
