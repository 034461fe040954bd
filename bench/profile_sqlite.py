"""Where chute-sqlite's put+get time goes, next to the hand-written sqlite3 baseline.

    .venv/bin/python bench/profile_sqlite.py

Prints (1) a cProfile of chute put+get, (2) time per SQL statement in chute's transactions,
(3) WAL frames (pages) written per put+get and how often an autocheckpoint stalls a call.
Diagnostics only: run.py does not call this.
"""

from __future__ import annotations

import collections
import cProfile
import itertools
import pstats
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._subjects import ChuteQueue, RawSQLite, SyncQueue  # noqa: E402
from chute.backends import _sqlite_conn  # noqa: E402

N = 20_000
VALUE = 12345


def _loop(q: SyncQueue, n: int) -> None:
    for _ in range(n):
        q.put(VALUE)
        q.get()


def profile(tmp: str) -> None:
    q = ChuteQueue(f"sqlite://{tmp}/prof.db")
    _loop(q, 2000)
    prof = cProfile.Profile()
    prof.enable()
    _loop(q, N)
    prof.disable()
    q.close()
    print(f"== (1) cProfile of {N:,} chute-sqlite put+get pairs")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


class _TimedConn:
    """Wraps a connection to time each statement (results fetched inside the timing)."""

    def __init__(self, conn: sqlite3.Connection, acc: dict[str, list[int]]) -> None:
        self._c, self._acc = conn, acc

    def execute(self, sql: str, *args: Any) -> Any:
        t0 = time.perf_counter_ns()
        rows = self._c.execute(sql, *args).fetchall()
        entry = self._acc[" ".join(sql.split())[:72]]
        entry[0] += time.perf_counter_ns() - t0
        entry[1] += 1
        return _Rows(rows)

    def executemany(self, sql: str, rows: Any) -> Any:
        return self._c.executemany(sql, rows)


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
        self.rowcount = len(rows)
        self.lastrowid = None

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows


def statements(tmp: str) -> None:
    acc: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    original = _sqlite_conn.SQLiteConn._conn
    _sqlite_conn.SQLiteConn._conn = lambda self: _TimedConn(original(self), acc)  # type: ignore[method-assign, assignment, return-value]
    try:
        q = ChuteQueue(f"sqlite://{tmp}/stmts.db")
        _loop(q, 2000)
        acc.clear()
        t0 = time.perf_counter()
        _loop(q, N)
        total = (time.perf_counter() - t0) / N * 1e6
        q.close()
    finally:
        _sqlite_conn.SQLiteConn._conn = original  # type: ignore[method-assign]
    print(
        f"\n== (2) chute-sqlite: time per put+get pair by SQL statement (total {total:.1f} µs, with wrapper)"
    )
    in_sql = 0
    for sql, (ns, count) in sorted(acc.items(), key=lambda kv: -kv[1][0]):
        if count < N // 2:
            continue  # the queue's creation and deletion, not the loop
        in_sql += ns
        print(f"{ns / N / 1000:7.2f} µs  x{count / N:.0f}  {sql}")
    print(f"{in_sql / N / 1000:7.2f} µs in SQLite, {total - in_sql / N / 1000:.2f} µs in Python")


def _wal_frames(path: str, q: SyncQueue, n: int) -> float:
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _loop(q, n)
    _, frames, _ = c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    c.close()
    return float(frames) / n


def wal(tmp: str) -> None:
    print("\n== (3) WAL pages written per put+get, and autocheckpoint stalls (calls > 1 ms)")
    subjects: list[tuple[str, str, SyncQueue]] = [
        ("chute-sqlite", f"{tmp}/wal-c.db", ChuteQueue(f"sqlite://{tmp}/wal-c.db")),
        ("raw sqlite3", f"{tmp}/wal-r.db", RawSQLite(f"{tmp}/wal-r.db")),
    ]
    for name, path, q in subjects:
        _loop(q, 1000)
        frames = _wal_frames(path, q, 100)  # stays under one autocheckpoint (1,000 pages)
        slow = []
        for i in range(N // 2):
            t0 = time.perf_counter_ns()
            q.put(VALUE)
            q.get()
            if time.perf_counter_ns() - t0 > 1_000_000:
                slow.append(i)
        gaps = sorted(b - a for a, b in itertools.pairwise(slow)) or [0]
        print(
            f"{name:13} {frames:.1f} pages/pair; {len(slow)} pairs over 1 ms in {N // 2:,}, "
            f"typically every {gaps[len(gaps) // 2]} pairs"
        )
        q.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chute-prof-") as tmp:
        profile(tmp)
        statements(tmp)
        wal(tmp)


if __name__ == "__main__":
    main()
