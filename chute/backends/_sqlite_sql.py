"""SQLite schema and the bodies of every transaction (pure functions of a connection).

Both the sync and the async SQLite backends run these same functions; only how a
transaction is opened and retried differs (``_sqlite_conn``). Each body runs inside
``BEGIN IMMEDIATE`` (writes) or as a single statement (reads), so it is atomic.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from chute.backends.types import Kind, ObjectInfo
from chute.exception import NotFoundError

# 2: jobs tables (_sqlite_jobs_sql), 3: call_logs, 4: job control, 5: calls.args (the arguments
# summary, added to older databases by _sqlite_jobs_sql.upgrade); all IF NOT EXISTS. 6: queue item
# counts derived from items.pos instead of partitions.n (_sqlite_queue_sql.upgrade).
SCHEMA_VERSION = 6

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
    expires_at  REAL NOT NULL,
    PRIMARY KEY (object_id, part)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS partitions_by_expiry ON partitions(expires_at);

-- AUTOINCREMENT, not a plain rowid: a plain rowid is reused after the newest row is
-- deleted, and iterate()'s cursor relies on seq never going backwards. `pos`: the item's place
-- in its partition, consecutive from head to tail, so a partition's count is tail - head + 1
-- (_sqlite_queue_sql). No foreign key to `partitions` (its check on every insert costs as much as
-- a tenth of a put): the trigger below removes a partition's items with it, also when the
-- partition goes with its queue. Databases before schema 6: see _sqlite_queue_sql.upgrade.
CREATE TABLE IF NOT EXISTS items(
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id   TEXT NOT NULL,
    part        BLOB NOT NULL,
    pos         INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_part ON items(object_id, part, seq, pos);
CREATE TRIGGER IF NOT EXISTS partition_items AFTER DELETE ON partitions BEGIN
    DELETE FROM items WHERE object_id = old.object_id AND part = old.part;
END;

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


# -- waiters (queue and jobs wake-ups) -------------------------------------------------------


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
