"""SQLite queue schema 6 (item counts from ``items.pos``): a database file made by chute before it,
with its items and partition counts, keeps working after the upgrade on open."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from chute.backends.types import Kind, PutStatus
from tests._flavours import sync_open_backend

# The queue tables as schema 5 made them (an item count `n` on each partition row).
_SCHEMA_5_QUEUE = """
DROP TABLE items;
DROP TABLE partitions;
CREATE TABLE partitions(
    object_id   TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    part        BLOB NOT NULL,
    n           INTEGER NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (object_id, part)
) WITHOUT ROWID;
CREATE INDEX partitions_by_expiry ON partitions(expires_at);
CREATE TABLE items(
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id   TEXT NOT NULL,
    part        BLOB NOT NULL,
    data        BLOB NOT NULL,
    FOREIGN KEY (object_id, part) REFERENCES partitions(object_id, part) ON DELETE CASCADE
);
CREATE INDEX items_by_part ON items(object_id, part, seq);
"""
BIG = 1 << 30


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_schema_5_database_keeps_its_queue_items_counts_and_order(backend_url: str) -> None:
    oid = f"qu-{uuid.uuid4().hex[:16]}"
    b = sync_open_backend(backend_url)
    b.create_object(Kind.QUEUE, "main", "old", object_id=oid)
    b.close()
    path = Path(backend_url.removeprefix("sqlite://"))
    later = time.time() + 600
    conn = sqlite3.connect(path)
    try:  # as chute 5 left it: partition "" holds a given-back item and 3 puts, "p" 2 puts, interleaved
        conn.executescript(_SCHEMA_5_QUEUE)
        conn.execute(
            "INSERT INTO partitions VALUES (?, x'', 4, ?), (?, x'70', 2, ?)", (oid, later, oid, later)
        )
        rows = [(-1, b"", b"back"), (1, b"", b"a"), (2, b"p", b"x"), (3, b"", b"b"), (4, b"p", b"y")]
        rows += [(7, b"", b"c")]  # seqs 5 and 6 were taken and deleted before
        conn.executemany(
            "INSERT INTO items(seq, object_id, part, data) VALUES (?, ?, ?, ?)",
            [(s, oid, p, d) for s, p, d in rows],
        )
        conn.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'items'")
        conn.execute("PRAGMA user_version = 5")
        conn.commit()
    finally:
        conn.close()

    b = sync_open_backend(backend_url)
    try:
        assert b.queue_len(oid, b"") == 4 and b.queue_len(oid, b"p") == 2 and b.queue_len(oid, None) == 6
        assert [(p.key, p.length) for p in b.queue_partitions(oid)] == [(b"", 4), (b"p", 2)]
        scanned = b.queue_scan(oid, b"", 0, 10)
        assert [d for _, d in scanned] == [b"back", b"a", b"b", b"c"]
        # The cap counts the old items: room for exactly one more in "" under max_items=5.
        assert b.queue_put(oid, b"", [b"d"], ttl=600, max_items=5, max_partitions=BIG) is PutStatus.OK
        assert b.queue_put(oid, b"", [b"e"], ttl=600, max_items=5, max_partitions=BIG) is PutStatus.FULL
        new_seq = b.queue_scan(oid, b"", scanned[-1][0], 10)
        assert [d for _, d in new_seq] == [b"d"] and new_seq[0][0] > 9  # seqs never go back
        assert b.queue_get(oid, b"", 2, wait=0) == [b"back", b"a"]
        b.queue_give_back(oid, b"", [b"a"], ttl=600)
        assert b.queue_len(oid, b"") == 4
        assert b.queue_get(oid, b"", 10, wait=0) == [b"a", b"b", b"c", b"d"]
        assert b.queue_get(oid, b"p", 1, wait=0) == [b"x"] and b.queue_len(oid, b"p") == 1
        assert b.queue_put(oid, b"p", [b"z"], ttl=600, max_items=2, max_partitions=BIG) is PutStatus.OK
        assert b.queue_get(oid, b"p", 10, wait=0) == [b"y", b"z"]
        assert b.queue_len(oid, None) == 0
    finally:
        b.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 6
        assert "n" not in {r[1] for r in conn.execute("PRAGMA table_info(partitions)")}
        assert "pos" in {r[1] for r in conn.execute("PRAGMA table_info(items)")}
    finally:
        conn.close()


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_items_go_with_their_partition_and_queue(backend_url: str) -> None:
    """No foreign key from items (schema 6): a trigger removes them with their partition, whether
    the partition is cleared, expires, is revived, or goes with its deleted queue."""
    b = sync_open_backend(backend_url)
    path = Path(backend_url.removeprefix("sqlite://"))
    oids = [f"qu-{uuid.uuid4().hex[:16]}" for _ in range(2)]
    try:
        for oid in oids:
            b.create_object(Kind.QUEUE, "main", None, object_id=oid, ephemeral_ttl=600)
            for part in (b"", b"a", b"b"):
                assert (
                    b.queue_put(oid, part, [b"1", b"2"], ttl=600, max_items=BIG, max_partitions=BIG)
                    is PutStatus.OK
                )
        assert (
            b.queue_put(oids[0], b"short", [b"x"], ttl=0.05, max_items=BIG, max_partitions=BIG)
            is PutStatus.OK
        )

        def left(oid: str) -> int:
            with sqlite3.connect(path) as conn:
                return int(
                    conn.execute("SELECT COUNT(*) FROM items WHERE object_id = ?", (oid,)).fetchone()[0]
                )

        assert left(oids[0]) == 7
        b.queue_clear(oids[0], b"a")
        assert left(oids[0]) == 5
        time.sleep(0.1)
        b.collect_garbage()  # the expired partition "short"
        assert left(oids[0]) == 4
        b.queue_clear(oids[0], None)
        assert left(oids[0]) == 0
        assert b.delete_object(oids[1])
        assert left(oids[1]) == 0
    finally:
        b.close()


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_batches_around_the_insert_chunk_keep_order_and_count(backend_url: str) -> None:
    """put_many writes whole chunks of rows per statement and the rest one by one: every size
    around the chunk keeps FIFO order, the count and the cap."""
    b = sync_open_backend(backend_url)
    oid = f"qu-{uuid.uuid4().hex[:16]}"
    try:
        b.create_object(Kind.QUEUE, "main", None, object_id=oid, ephemeral_ttl=600)
        sent: list[bytes] = []
        for k in (1, 63, 64, 65, 128, 130):
            batch = [f"{len(sent) + i}".encode() for i in range(k)]
            assert b.queue_put(oid, b"", batch, ttl=600, max_items=BIG, max_partitions=BIG) is PutStatus.OK
            sent += batch
            assert b.queue_len(oid, b"") == len(sent)
        assert b.queue_get(oid, b"", 1000, wait=0) == sent
        cap = [b"x"] * 129
        assert b.queue_put(oid, b"", cap, ttl=600, max_items=128, max_partitions=BIG) is PutStatus.FULL
        assert b.queue_put(oid, b"", cap[:128], ttl=600, max_items=128, max_partitions=BIG) is PutStatus.OK
        assert b.queue_put(oid, b"", [b"y"], ttl=600, max_items=128, max_partitions=BIG) is PutStatus.FULL
        assert b.queue_len(oid, None) == 128
    finally:
        b.close()
