"""SQLite queue transactions (pure functions of a connection), and the queue schema's upgrade.

A partition's item count is not stored: it is derived from the items' positions. Each item
carries ``pos``, its place in its partition: a put appends at the tail's ``pos`` + 1, a get
removes the head, a give-back prepends below the head's ``pos``, so the positions of a
partition's items are always consecutive and its count is ``tail.pos - head.pos + 1`` (two
seeks in ``items_by_part``, which holds ``pos``). ``seq`` (AUTOINCREMENT, global, never
reused) stays the FIFO order and ``iterate``'s cursor; within a partition, ``seq`` and ``pos``
sort alike. So the common put is one ``INSERT`` and the common get one ``DELETE … RETURNING``:
neither writes the ``partitions`` row, which changes only when a partition is created, revived,
emptied by ``clear`` or given a new expiry. ``items`` has no foreign key to ``partitions`` (its
check costs on every insert): a trigger deletes a partition's items with the partition.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from chute.backends._sqlite_sql import Waiters, _require, add_waiter
from chute.backends.types import PartitionInfo, PutStatus
from chute.exception import NotFoundError

# The positions at both ends of partition ?1/?2 (NULL when it holds no item).
_HEAD = "(SELECT pos FROM items WHERE object_id = ?1 AND part = ?2 ORDER BY seq LIMIT 1)"
_TAIL = "(SELECT pos FROM items WHERE object_id = ?1 AND part = ?2 ORDER BY seq DESC LIMIT 1)"
# The same, correlated with a `partitions p` row.
_P_COUNT = (
    "ifnull((SELECT pos FROM items WHERE object_id = p.object_id AND part = p.part ORDER BY seq DESC LIMIT 1)"
    " - (SELECT pos FROM items WHERE object_id = p.object_id AND part = p.part ORDER BY seq LIMIT 1) + 1, 0)"
)

# The common put of one item: a live partition with room whose expiry does not move (expiries
# are rounded up to steps, see `expiry`, so puts within one step with the same TTL leave the row
# alone). Inserts nothing otherwise, and the put takes the slow path.
# A NULL position makes OR IGNORE skip the row. (Not INSERT … SELECT: SQLite copies a SELECT
# that reads the table it inserts into through a temporary table first, which costs more.)
_PUT_ONE = (
    "INSERT OR IGNORE INTO items(object_id, part, pos, data) VALUES (?1, ?2, ("
    "SELECT CASE WHEN ifnull(tail - head + 1, 0) < ?6 THEN ifnull(tail + 1, 0) END FROM ("
    f"SELECT {_TAIL} AS tail, {_HEAD} AS head FROM partitions "
    "WHERE object_id = ?1 AND part = ?2 AND expires_at = ?4 AND expires_at > ?5)), ?3) "
    # Whether a getter waits (a row only when the item was inserted): the waiter lookup is then
    # skipped in the common case, nobody blocked.
    "RETURNING EXISTS(SELECT 1 FROM waiters WHERE object_id = ?1 AND part = ?2 AND for_space = 0)"
)
_INSERT_AT = "INSERT INTO items(object_id, part, pos, data) VALUES (?, ?, ?, ?)"
# Several items: _CHUNK rows per statement, positions ?3, ?3 + 1, …. One step per chunk instead
# of per row: less CPU, and the sqlite3 module releases and retakes the GIL once per step, which
# costs a thread switch per row when another thread of the process is busy (a write-behind
# producer and its feeder).
_CHUNK = 64
_INSERT_CHUNK = "INSERT INTO items(object_id, part, pos, data) VALUES " + ", ".join(
    f"(?1, ?2, ?3 + {i}, ?{i + 4})" for i in range(_CHUNK)
)
_SPAN = f"SELECT expires_at, {_HEAD}, {_TAIL} FROM partitions WHERE object_id = ?1 AND part = ?2"
_LIVE = "EXISTS(SELECT 1 FROM partitions WHERE object_id = ?1 AND part = ?2 AND expires_at > ?3)"
# The common get: the head of a live partition. Also says whether a put waits for room.
_TAKE_ONE = (
    "DELETE FROM items WHERE seq = (SELECT seq FROM items WHERE object_id = ?1 AND part = ?2 "
    f"ORDER BY seq LIMIT 1) AND {_LIVE} "
    "RETURNING data, EXISTS(SELECT 1 FROM waiters WHERE object_id = ?1 AND part = ?2 AND for_space = 1)"
)
_TAKE_MANY = (
    "DELETE FROM items WHERE seq IN (SELECT seq FROM items WHERE object_id = ?1 AND part = ?2 "
    f"ORDER BY seq LIMIT ?4) AND {_LIVE} RETURNING seq, data"
)
WAITERS = "SELECT id, addr FROM waiters WHERE object_id = ? AND part = ? AND for_space = ?"


def upgrade(c: sqlite3.Connection) -> None:
    """Bring the queue tables of a database made before schema 6 (an item count ``n`` on each
    partition row, a foreign key from ``items``) to positions, inside the schema transaction and
    before ``SCHEMA`` (which then adds ``items_by_part`` and the trigger). Items keep their seqs,
    hence their order, and AUTOINCREMENT keeps its high-water mark: seqs never go back."""
    have = {row[1] for row in c.execute("PRAGMA table_info(items)")}
    if not have or "pos" in have:
        return  # a new database, or one upgraded already
    c.execute(
        "CREATE TABLE items_v6(seq INTEGER PRIMARY KEY AUTOINCREMENT, object_id TEXT NOT NULL, "
        "part BLOB NOT NULL, pos INTEGER NOT NULL, data BLOB NOT NULL)"
    )
    c.execute(
        "INSERT INTO items_v6(seq, object_id, part, pos, data) SELECT seq, object_id, part, "
        "row_number() OVER (PARTITION BY object_id, part ORDER BY seq) - 1, data FROM items"
    )
    (high,) = c.execute(
        "SELECT max(ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'items'), 0), "
        "ifnull((SELECT max(seq) FROM items), 0))"
    ).fetchone()
    c.execute("DROP TABLE items")  # and its index items_by_part (object_id, part, seq)
    c.execute("ALTER TABLE items_v6 RENAME TO items")
    c.execute("DELETE FROM sqlite_sequence WHERE name IN ('items', 'items_v6')")
    c.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('items', ?)", (high,))
    c.execute("ALTER TABLE partitions DROP COLUMN n")


def expiry(now: float, ttl: float) -> float:
    """A partition's expiry ``ttl`` seconds after ``now``, rounded up to a step of 0.1 % of
    ``ttl``, at least a millisecond (as on Redis) and at most a second.

    Puts with the same TTL within one step leave the partition row alone (the common put writes
    only its item): a queue with the default TTL of a day rewrites it at most once a second
    instead of once a millisecond, and its partitions live at most that second longer.
    """
    step = min(max(ttl / 1000, 0.001), 1.0)
    return math.ceil((now + ttl) / step) * step


class PutRequest(NamedTuple):
    """One ``queue_put``, as the backends hand it to a (grouped) transaction."""

    object_id: str
    part: bytes
    items: Sequence[bytes]
    ttl: float
    max_items: int
    max_partitions: int


def queue_put(
    c: sqlite3.Connection, req: PutRequest, now: float, expires: float
) -> tuple[PutStatus, Waiters]:
    """Append ``req.items`` (all or nothing); the partition then expires at ``expires``."""
    object_id, part, items = req.object_id, req.part, req.items
    k = len(items)
    if not k:
        return _room(c, object_id, part, now, req.max_items, req.max_partitions), []
    if k == 1:
        row = c.execute(_PUT_ONE, (object_id, part, items[0], expires, now, req.max_items)).fetchone()
        if row is not None:
            return PutStatus.OK, c.execute(WAITERS, (object_id, part, 0)).fetchall() if row[0] else []
    status, start = _put_slow(c, req, now, expires)
    if status is not PutStatus.OK:
        return status, []
    whole = k - k % _CHUNK
    if whole:
        c.executemany(
            _INSERT_CHUNK,
            [(object_id, part, start + i, *items[i : i + _CHUNK]) for i in range(0, whole, _CHUNK)],
        )
    if whole < k:
        c.executemany(_INSERT_AT, [(object_id, part, start + i, items[i]) for i in range(whole, k)])
    return PutStatus.OK, c.execute(WAITERS, (object_id, part, 0)).fetchall()


def _put_slow(c: sqlite3.Connection, req: PutRequest, now: float, expires: float) -> tuple[PutStatus, int]:
    """Several items, a new expiry, a new or expired partition, or no room: ``(status, the
    position the first item takes)``, with the partition row made ready for the items."""
    key = (req.object_id, req.part)
    k = len(req.items)
    row = c.execute(_SPAN, key).fetchone()
    if row is not None and row[0] > now:  # live
        exp, head, tail = row
        if (0 if tail is None else tail - head + 1) + k > req.max_items:
            return PutStatus.FULL, 0
        if exp != expires:
            c.execute(
                "UPDATE partitions SET expires_at = ?3 WHERE object_id = ?1 AND part = ?2", (*key, expires)
            )
        return PutStatus.OK, 0 if tail is None else tail + 1
    # A new partition, or an expired one coming back to life: both count against the cap.
    if row is None:
        _require(c, req.object_id)
    if k > req.max_items:
        return PutStatus.FULL, 0
    (live,) = c.execute(
        "SELECT COUNT(*) FROM partitions WHERE object_id = ? AND expires_at > ?", (req.object_id, now)
    ).fetchone()
    if live >= req.max_partitions:
        return PutStatus.TOO_MANY_PARTITIONS, 0
    if row is not None:
        c.execute("DELETE FROM items WHERE object_id = ? AND part = ?", key)
    c.execute(
        "INSERT OR REPLACE INTO partitions(object_id, part, expires_at) VALUES (?, ?, ?)",
        (*key, expires),
    )
    return PutStatus.OK, 0


def queue_put_group(
    c: sqlite3.Connection, plans: Sequence[tuple[PutRequest, float]], now: float
) -> tuple[list[PutStatus | NotFoundError], Waiters]:
    """Several puts (``(request, expires)`` as for ``queue_put``) in one transaction (group
    commit), each still all or nothing: a refusal or a missing queue is found before that put
    writes anything, and fails only that put."""
    results: list[PutStatus | NotFoundError] = []
    waiters: dict[int, bytes] = {}
    for req, expires in plans:
        try:
            status, found = queue_put(c, req, now, expires)
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
    row = c.execute(_SPAN, (object_id, part)).fetchone()
    if row is not None and row[0] > now:
        _, head, tail = row
        return PutStatus.FULL if (0 if tail is None else tail - head + 1) > max_items else PutStatus.OK
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
    waiting = True
    if n == 1:
        first = c.execute(_TAKE_ONE, (object_id, part, now)).fetchone()
        data, waiting = ([first[0]], first[1]) if first else ([], False)
    else:
        rows = c.execute(_TAKE_MANY, (object_id, part, now, n)).fetchall()
        rows.sort()  # RETURNING gives no order guarantee
        data = [r[1] for r in rows]
    if not data:
        return [], [], _empty(c, object_id, part, now, addr, wid)
    if wid is not None:
        c.execute("DELETE FROM waiters WHERE id = ?", (wid,))
    return data, c.execute(WAITERS, (object_id, part, 1)).fetchall() if waiting else [], None


def _empty(
    c: sqlite3.Connection, object_id: str, part: bytes, now: float, addr: bytes | None, wid: int | None
) -> int | None:
    """A get found nothing: drop an expired partition, register a blocking getter."""
    key = (object_id, part)
    found = c.execute("SELECT expires_at FROM partitions WHERE object_id = ? AND part = ?", key).fetchone()
    if found is None:
        _require(c, object_id)
    elif found[0] <= now:
        c.execute("DELETE FROM partitions WHERE object_id = ? AND part = ?", key)
    if addr is not None and wid is None:
        wid = add_waiter(c, object_id, part, False, addr)
    return wid


def queue_len(c: sqlite3.Connection, object_id: str, part: bytes | None, now: float) -> int:
    if part is None:
        sql = f"SELECT SUM({_P_COUNT}) FROM partitions p WHERE object_id = ? AND expires_at > ?"
        (total,) = c.execute(sql, (object_id, now)).fetchone()
    else:
        row = c.execute(
            f"SELECT {_P_COUNT} FROM partitions p WHERE object_id = ? AND part = ? AND expires_at > ?",
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
        f"SELECT part, {_P_COUNT}, expires_at FROM partitions p "
        "WHERE object_id = ? AND expires_at > ? ORDER BY part",
        (object_id, now),
    ).fetchall()
    return [PartitionInfo(key=bytes(p), length=int(n), expires_at=float(e)) for p, n, e in rows]
