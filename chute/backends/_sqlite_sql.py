"""SQLite schema and the bodies of every transaction (pure functions of a connection).

Both the sync and the async SQLite backends run these same functions; only how a
transaction is opened and retried differs (``_sqlite_conn``). Each body runs inside
``BEGIN IMMEDIATE`` (writes) or as a single statement (reads), so it is atomic.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from chute.backends.types import Kind, ObjectInfo, PartitionInfo, PutStatus
from chute.exception import NotFoundError

# 2: jobs tables (_sqlite_jobs_sql), 3: call_logs, 4: job control, 5: calls.args (the arguments
# summary, added to older databases by _sqlite_jobs_sql.upgrade); all IF NOT EXISTS
SCHEMA_VERSION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects(
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    env         TEXT NOT NULL,
    name        TEXT,
    created_at  REAL NOT NULL,
    created_by  TEXT,
    expires_at  REAL,              -- ephemeral objects only: heartbeat deadline
    max_items   INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_by_name ON objects(kind, env, name) WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_by_expiry ON objects(expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS partitions(
    object_id   TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    part        BLOB NOT NULL,
    n           INTEGER NOT NULL,  -- item count, kept in step with `items` so caps are O(1)
    expires_at  REAL NOT NULL,
    PRIMARY KEY (object_id, part)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS partitions_by_expiry ON partitions(expires_at);

-- AUTOINCREMENT, not a plain rowid: a plain rowid is reused after the newest row is
-- deleted, and iterate()'s cursor relies on seq never going backwards.
CREATE TABLE IF NOT EXISTS items(
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id   TEXT NOT NULL,
    part        BLOB NOT NULL,
    data        BLOB NOT NULL,
    FOREIGN KEY (object_id, part) REFERENCES partitions(object_id, part) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS items_by_part ON items(object_id, part, seq);

CREATE TABLE IF NOT EXISTS kv(
    object_id   TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    key         BLOB NOT NULL,
    value       BLOB NOT NULL,
    UNIQUE (object_id, key)
);

-- Processes blocked in get() (for_space=0) or in a put() on a full partition (for_space=1).
-- A writer that commits on that partition sends a datagram to each address.
CREATE TABLE IF NOT EXISTS waiters(
    id          INTEGER PRIMARY KEY,
    object_id   TEXT NOT NULL,
    part        BLOB NOT NULL,
    for_space   INTEGER NOT NULL,
    addr        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS waiters_by_part ON waiters(object_id, part, for_space);
"""

Waiters = list[tuple[int, bytes]]


def _row_to_info(row: tuple[Any, ...]) -> ObjectInfo:
    oid, kind, env, name, created_at, created_by, expires_at, max_items = row
    return ObjectInfo(
        id=oid,
        kind=Kind(kind),
        env=env,
        name=name,
        created_at=created_at,
        created_by=created_by,
        ephemeral=expires_at is not None,
        max_items=max_items,
    )


_OBJECT_COLS = "id, kind, env, name, created_at, created_by, expires_at, max_items"


def _require(c: sqlite3.Connection, object_id: str) -> None:
    if c.execute("SELECT 1 FROM objects WHERE id = ?", (object_id,)).fetchone() is None:
        raise NotFoundError(f"Object {object_id} not found (it was deleted, or never existed).")


# -- objects ---------------------------------------------------------------------------------


def create_object(
    c: sqlite3.Connection,
    info: ObjectInfo,
    expires_at: float | None,
) -> tuple[ObjectInfo, bool]:
    if info.name is not None:
        row = c.execute(
            f"SELECT {_OBJECT_COLS} FROM objects WHERE kind = ? AND env = ? AND name = ?",
            (info.kind.value, info.env, info.name),
        ).fetchone()
        if row is not None:
            return _row_to_info(row), False
    c.execute(
        "INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info.id,
            info.kind.value,
            info.env,
            info.name,
            info.created_at,
            info.created_by,
            expires_at,
            info.max_items,
        ),
    )
    return info, True


def lookup_object(c: sqlite3.Connection, kind: Kind, env: str, name: str) -> ObjectInfo | None:
    row = c.execute(
        f"SELECT {_OBJECT_COLS} FROM objects WHERE kind = ? AND env = ? AND name = ?", (kind.value, env, name)
    ).fetchone()
    return None if row is None else _row_to_info(row)


def get_object(c: sqlite3.Connection, object_id: str) -> ObjectInfo | None:
    row = c.execute(f"SELECT {_OBJECT_COLS} FROM objects WHERE id = ?", (object_id,)).fetchone()
    return None if row is None else _row_to_info(row)


def list_objects(
    c: sqlite3.Connection, kind: Kind, env: str, limit: int | None, created_before: float | None
) -> list[ObjectInfo]:
    rows = c.execute(
        f"SELECT {_OBJECT_COLS} FROM objects WHERE kind = ? AND env = ? AND name IS NOT NULL "
        "AND created_at < ? ORDER BY created_at DESC, id LIMIT ?",
        (kind.value, env, float("inf") if created_before is None else created_before, limit or -1),
    ).fetchall()
    return [_row_to_info(r) for r in rows]


def delete_object(c: sqlite3.Connection, object_id: str) -> tuple[bool, Waiters]:
    waiters = c.execute("SELECT id, addr FROM waiters WHERE object_id = ?", (object_id,)).fetchall()
    deleted = c.execute("DELETE FROM objects WHERE id = ?", (object_id,)).rowcount > 0
    return deleted, waiters


def heartbeat(c: sqlite3.Connection, object_id: str, expires_at: float) -> bool:
    cur = c.execute(
        "UPDATE objects SET expires_at = ? WHERE id = ? AND expires_at IS NOT NULL", (expires_at, object_id)
    )
    return cur.rowcount > 0


def collect_garbage(c: sqlite3.Connection, now: float) -> int:
    n = c.execute("DELETE FROM objects WHERE expires_at IS NOT NULL AND expires_at < ?", (now,)).rowcount
    c.execute("DELETE FROM partitions WHERE expires_at < ?", (now,))
    return n


# -- queues ----------------------------------------------------------------------------------


# The common put: a live partition with room whose expiry does not move (expiries are kept in
# whole milliseconds, rounded up as on Redis, so puts within one millisecond with the same TTL
# leave it alone). Not rewriting `expires_at` spares its index a page write per put. The
# backend tries it when it wrote that same expiry last; `expires_at = ?` keeps it exact when
# another process has moved the expiry since.
_PUT_SAME_EXPIRY = (
    "UPDATE partitions SET n = n + ? "
    "WHERE object_id = ? AND part = ? AND expires_at = ? AND expires_at > ? AND n + ? <= ?"
)
# Next: a live partition with room, and a new expiry.
_PUT_FAST = (
    "UPDATE partitions SET n = n + ?, expires_at = ? "
    "WHERE object_id = ? AND part = ? AND expires_at > ? AND n + ? <= ?"
)
# The common get: count `n` down in a live, non-empty partition (`n` always equals the
# partition's item count, so the DELETE after it finds that many).
_GET_FAST = (
    "UPDATE partitions SET n = n - min(n, ?) WHERE object_id = ? AND part = ? AND expires_at > ? AND n > 0"
)
_INSERT_ITEM = "INSERT INTO items(object_id, part, data) VALUES (?, ?, ?)"
# One item from the head; also says whether a put waits for room (cheaper than a separate
# lookup here; for the INSERT of a put, RETURNING costs more than the lookup it would save).
_TAKE_ONE = (
    "DELETE FROM items WHERE seq = (SELECT seq FROM items WHERE object_id = ? AND part = ? "
    "ORDER BY seq LIMIT 1) "
    "RETURNING data, EXISTS(SELECT 1 FROM waiters WHERE object_id = ? AND part = ? AND for_space = 1)"
)
_WAITERS = "SELECT id, addr FROM waiters WHERE object_id = ? AND part = ? AND for_space = ?"


def expiry(now: float, ttl: float) -> float:
    """A partition's expiry ``ttl`` seconds after ``now``, rounded up to a whole millisecond."""
    return math.ceil((now + ttl) * 1000) / 1000


class PutRequest(NamedTuple):
    """One ``queue_put``, as the backends hand it to a (grouped) transaction."""

    object_id: str
    part: bytes
    items: Sequence[bytes]
    ttl: float
    max_items: int
    max_partitions: int


def queue_put(
    c: sqlite3.Connection, req: PutRequest, now: float, expires: float, same: bool = False
) -> tuple[PutStatus, Waiters]:
    """Append ``req.items`` (all or nothing); the partition then expires at ``expires``.

    ``same``: the partition probably has that expiry already (this process wrote it last).
    """
    object_id, part, items = req.object_id, req.part, req.items
    k = len(items)
    if not k:
        return _room(c, object_id, part, now, req.max_items, req.max_partitions), []
    if (
        not (
            same
            and c.execute(_PUT_SAME_EXPIRY, (k, object_id, part, expires, now, k, req.max_items)).rowcount
        )
        and not c.execute(_PUT_FAST, (k, expires, object_id, part, now, k, req.max_items)).rowcount
    ):
        status = _put_new_or_full(c, req, now, expires)
        if status is not PutStatus.OK:
            return status, []
    if k == 1:
        c.execute(_INSERT_ITEM, (object_id, part, items[0]))
    else:
        c.executemany(_INSERT_ITEM, [(object_id, part, d) for d in items])
    return PutStatus.OK, c.execute(_WAITERS, (object_id, part, 0)).fetchall()


def _put_new_or_full(c: sqlite3.Connection, req: PutRequest, now: float, expires: float) -> PutStatus:
    """The put's fast path found no live partition with room: refuse, or (re)create it."""
    key = (req.object_id, req.part)
    row = c.execute("SELECT expires_at FROM partitions WHERE object_id = ? AND part = ?", key).fetchone()
    if row is not None and row[0] > now:
        return PutStatus.FULL  # live, but no room
    # A new partition, or an expired one coming back to life: both count against the cap.
    if row is None:
        _require(c, req.object_id)
    if len(req.items) > req.max_items:
        return PutStatus.FULL
    (live,) = c.execute(
        "SELECT COUNT(*) FROM partitions WHERE object_id = ? AND expires_at > ?", (req.object_id, now)
    ).fetchone()
    if live >= req.max_partitions:
        return PutStatus.TOO_MANY_PARTITIONS
    if row is not None:
        c.execute("DELETE FROM items WHERE object_id = ? AND part = ?", key)
    c.execute("INSERT OR REPLACE INTO partitions VALUES (?, ?, ?, ?)", (*key, len(req.items), expires))
    return PutStatus.OK


def queue_put_group(
    c: sqlite3.Connection, plans: Sequence[tuple[PutRequest, float, bool]], now: float
) -> tuple[list[PutStatus | NotFoundError], Waiters]:
    """Several puts (``(request, expires, same)`` as for ``queue_put``) in one transaction
    (group commit), each still all or nothing: a refusal or a missing queue is found before
    that put writes anything, and fails only that put."""
    results: list[PutStatus | NotFoundError] = []
    waiters: dict[int, bytes] = {}
    for req, expires, same in plans:
        try:
            status, found = queue_put(c, req, now, expires, same)
        except NotFoundError as exc:
            results.append(exc)
            continue
        results.append(status)
        waiters.update(found)
    return results, list(waiters.items())


def _room(
    c: sqlite3.Connection, object_id: str, part: bytes, now: float, max_items: int, max_partitions: int
) -> PutStatus:
    """A put of no items only checks for room, as on Redis: no partition appears, none lives longer."""
    key = (object_id, part)
    row = c.execute("SELECT expires_at, n FROM partitions WHERE object_id = ? AND part = ?", key).fetchone()
    if row is not None and row[0] > now:
        return PutStatus.FULL if row[1] > max_items else PutStatus.OK
    if row is None:
        _require(c, object_id)
    (live,) = c.execute(
        "SELECT COUNT(*) FROM partitions WHERE object_id = ? AND expires_at > ?", (object_id, now)
    ).fetchone()
    return PutStatus.TOO_MANY_PARTITIONS if live >= max_partitions else PutStatus.OK


def queue_get(
    c: sqlite3.Connection,
    object_id: str,
    part: bytes,
    n: int,
    now: float,
    addr: bytes | None = None,
    wid: int | None = None,
) -> tuple[list[bytes], Waiters, int | None]:
    """Take up to ``n`` items: ``(items, waiters to wake, waiter id)``.

    A blocking getter passes its wake-up address: when the partition is empty, it is
    registered as a waiter in this same transaction (so a put that commits after it wakes
    it: no lost wake-ups, no separate re-check), and the returned id is passed back on the
    next try, which unregisters it in the transaction that takes its items.
    """
    key = (object_id, part)
    if not c.execute(_GET_FAST, (n, object_id, part, now)).rowcount:
        found = c.execute(
            "SELECT expires_at FROM partitions WHERE object_id = ? AND part = ?", key
        ).fetchone()
        if found is None:
            _require(c, object_id)
        elif found[0] <= now:
            c.execute("DELETE FROM partitions WHERE object_id = ? AND part = ?", key)
        if addr is not None and wid is None:
            wid = add_waiter(c, object_id, part, False, addr)
        return [], [], wid
    waiting = True
    if n == 1:
        first = c.execute(_TAKE_ONE, (object_id, part, object_id, part)).fetchone()
        data, waiting = ([first[0]], first[1]) if first else ([], False)
    else:
        rows = c.execute(
            "DELETE FROM items WHERE seq IN (SELECT seq FROM items WHERE object_id = ? AND part = ? "
            "ORDER BY seq LIMIT ?) RETURNING seq, data",
            (object_id, part, n),
        ).fetchall()
        rows.sort()  # RETURNING gives no order guarantee
        data = [r[1] for r in rows]
    if wid is not None:
        c.execute("DELETE FROM waiters WHERE id = ?", (wid,))
    return data, c.execute(_WAITERS, (object_id, part, 1)).fetchall() if waiting else [], None


def queue_len(c: sqlite3.Connection, object_id: str, part: bytes | None, now: float) -> int:
    if part is None:
        (total,) = c.execute(
            "SELECT SUM(n) FROM partitions WHERE object_id = ? AND expires_at > ?", (object_id, now)
        ).fetchone()
    else:
        row = c.execute(
            "SELECT n FROM partitions WHERE object_id = ? AND part = ? AND expires_at > ?",
            (object_id, part, now),
        ).fetchone()
        total = None if row is None else row[0]
    if total is None:
        _require(c, object_id)
        return 0
    return int(total)


def queue_clear(c: sqlite3.Connection, object_id: str, part: bytes | None) -> Waiters:
    _require(c, object_id)
    if part is None:
        c.execute("DELETE FROM partitions WHERE object_id = ?", (object_id,))
        sql = "SELECT id, addr FROM waiters WHERE object_id = ? AND for_space = 1"
        return c.execute(sql, (object_id,)).fetchall()
    c.execute("DELETE FROM partitions WHERE object_id = ? AND part = ?", (object_id, part))
    sql = "SELECT id, addr FROM waiters WHERE object_id = ? AND part = ? AND for_space = 1"
    return c.execute(sql, (object_id, part)).fetchall()


def queue_scan(
    c: sqlite3.Connection, object_id: str, part: bytes, after: int, limit: int, now: float
) -> list[tuple[int, bytes]]:
    rows = c.execute(
        "SELECT i.seq, i.data FROM items i "
        "JOIN partitions p ON p.object_id = i.object_id AND p.part = i.part "
        "WHERE i.object_id = ? AND i.part = ? AND i.seq > ? AND p.expires_at > ? "
        "ORDER BY i.seq LIMIT ?",
        # Cursor 0 reads from the head: items given back to it have seqs <= 0
        # (_sqlite_queue_front.py); a real cursor is never 0.
        (object_id, part, after or -(1 << 63), now, limit),
    ).fetchall()
    if not rows:
        _require(c, object_id)
    return [(int(s), bytes(d)) for s, d in rows]


def queue_partitions(c: sqlite3.Connection, object_id: str, now: float) -> list[PartitionInfo]:
    _require(c, object_id)
    rows = c.execute(
        "SELECT part, n, expires_at FROM partitions WHERE object_id = ? AND expires_at > ? ORDER BY part",
        (object_id, now),
    ).fetchall()
    return [PartitionInfo(key=bytes(p), length=int(n), expires_at=float(e)) for p, n, e in rows]


def add_waiter(c: sqlite3.Connection, object_id: str, part: bytes, for_space: bool, addr: bytes) -> int:
    cur = c.execute(
        "INSERT INTO waiters(object_id, part, for_space, addr) VALUES (?, ?, ?, ?)",
        (object_id, part, int(for_space), addr),
    )
    return int(cur.lastrowid or 0)


def remove_stale_waiters(c: sqlite3.Connection, waiters: Waiters) -> None:
    # By id *and* address: ids are reused, and the waiter that failed to receive may since have
    # removed its row, and another (live) waiter may hold that id now.
    c.executemany("DELETE FROM waiters WHERE id = ? AND addr = ?", waiters)


def remove_waiters(c: sqlite3.Connection, ids: Sequence[int]) -> None:
    c.executemany("DELETE FROM waiters WHERE id = ?", [(i,) for i in ids])


# -- key/value -------------------------------------------------------------------------------


def kv_get(c: sqlite3.Connection, object_id: str, key: bytes) -> bytes | None:
    row = c.execute("SELECT value FROM kv WHERE object_id = ? AND key = ?", (object_id, key)).fetchone()
    if row is None:
        _require(c, object_id)
        return None
    return bytes(row[0])


def kv_contains(c: sqlite3.Connection, object_id: str, key: bytes) -> bool:
    row = c.execute("SELECT 1 FROM kv WHERE object_id = ? AND key = ?", (object_id, key)).fetchone()
    if row is None:
        _require(c, object_id)
        return False
    return True


def kv_put(
    c: sqlite3.Connection, object_id: str, items: Sequence[tuple[bytes, bytes]], only_new: bool
) -> bool:
    _require(c, object_id)
    if only_new:
        sql = "INSERT INTO kv(object_id, key, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        return c.execute(sql, (object_id, *items[0])).rowcount > 0
    c.executemany(
        "INSERT INTO kv(object_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT(object_id, key) DO UPDATE SET value = excluded.value",
        [(object_id, k, v) for k, v in items],
    )
    return True


def kv_pop(c: sqlite3.Connection, object_id: str, key: bytes) -> bytes | None:
    row = c.execute(
        "DELETE FROM kv WHERE object_id = ? AND key = ? RETURNING value", (object_id, key)
    ).fetchone()
    if row is None:
        _require(c, object_id)
        return None
    return bytes(row[0])


def kv_len(c: sqlite3.Connection, object_id: str) -> int:
    (n,) = c.execute("SELECT COUNT(*) FROM kv WHERE object_id = ?", (object_id,)).fetchone()
    if n == 0:
        _require(c, object_id)
    return int(n)


def kv_scan(
    c: sqlite3.Connection, object_id: str, after: bytes | None, limit: int
) -> list[tuple[bytes, bytes]]:
    rows = c.execute(
        "SELECT key, value FROM kv WHERE object_id = ? AND key > ? ORDER BY key LIMIT ?",
        # key > x'' skips only the empty key, which a serialized key never is.
        (object_id, b"" if after is None else after, limit),
    ).fetchall()
    if not rows:
        _require(c, object_id)
    return [(bytes(k), bytes(v)) for k, v in rows]


def kv_clear(c: sqlite3.Connection, object_id: str) -> None:
    _require(c, object_id)
    c.execute("DELETE FROM kv WHERE object_id = ?", (object_id,))
