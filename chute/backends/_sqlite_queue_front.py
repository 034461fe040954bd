"""Putting items back at the head of a queue partition (``queue_give_back``), on SQLite.

A write-behind handle reads ahead (``chute/_readahead.py``) and gives back what it did not
use. ``items.seq`` is global to the database (AUTOINCREMENT, never reused), so a seq just
below the partition's head may belong to another partition's item: given-back items take
seqs below every item of the database instead (zero and negative: SQLite accepts an explicit
rowid, and AUTOINCREMENT only ever counts up from the largest one). They sort ahead of the
partition's items, and ``queue_scan`` reads from the lowest seq when its cursor is 0.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chute.backends._sqlite_queue_sql import _SPAN, WAITERS, expiry
from chute.backends._sqlite_sql import Waiters, _require


def queue_give_back(
    c: sqlite3.Connection, object_id: str, part: bytes, items: Sequence[bytes], ttl: float, now: float
) -> Waiters:
    """Insert ``items`` ahead of the partition's head, in order; the cap is not checked (they
    were in the partition before). Returns the getters to wake."""
    k = len(items)
    if not k:
        return []
    key = (object_id, part)
    row = c.execute(_SPAN, key).fetchone()
    head = None
    if row is None:
        _require(c, object_id)
        c.execute(
            "INSERT INTO partitions(object_id, part, expires_at) VALUES (?, ?, ?)", (*key, expiry(now, ttl))
        )
    elif row[0] <= now:  # expired: its old items are gone for good, as for a put
        c.execute("DELETE FROM items WHERE object_id = ? AND part = ?", key)
        c.execute(
            "UPDATE partitions SET expires_at = ? WHERE object_id = ? AND part = ?", (expiry(now, ttl), *key)
        )
    else:
        head = row[1]
    (low,) = c.execute("SELECT MIN(seq) FROM items").fetchone()  # the rowid's own b-tree: O(log n)
    first = min(low or 0, 0) - k  # seqs first .. first + k - 1, all below 0 and below any item
    # Positions just below the head's keep the partition's positions consecutive (its count).
    pos = (0 if head is None else head) - k
    c.executemany(
        "INSERT INTO items(seq, object_id, part, pos, data) VALUES (?, ?, ?, ?, ?)",
        [(first + i, object_id, part, pos + i, d) for i, d in enumerate(items)],
    )
    return c.execute(WAITERS, (object_id, part, 0)).fetchall()
