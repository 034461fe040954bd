# Auto-generated from tests/_async/test_backend_contract_logs.py by scripts/unasync.py: DO NOT EDIT.
"""Storage contract, call logs: append per attempt, bounded to the last bytes, TTL, on every backend.

SOURCE of tests/_sync/test_backend_contract_logs.py (scripts/unasync.py): the backend under test
(fixture ``b``) is the async backend here and the generated sync backend there.
"""

from __future__ import annotations

import time

from chute._outcome import new_call_id
from chute.backends._sync.base import Backend
from chute.backends.types import LogChunk


def test_call_logs_append_per_attempt_in_order(b: Backend) -> None:
    call = new_call_id("main", "logs-app", "f")
    assert b.call_logs(call) == []
    b.call_logs_append(
        [LogChunk(call, 1, b"one\n", 60), LogChunk(call, 1, b"two\n", 60), LogChunk(call, 2, b"", 60)],
        max_bytes=1000,
    )
    b.call_logs_append([LogChunk(call, 2, b"retry\n", 60)], max_bytes=1000)
    assert b.call_logs(call) == [(1, b"one\ntwo\n"), (2, b"retry\n")]
    other = new_call_id("main", "logs-app", "f")
    assert b.call_logs(other) == []


def test_call_logs_keep_the_last_max_bytes(b: Backend) -> None:
    call = new_call_id("main", "logs-app", "f")
    b.call_logs_append([LogChunk(call, 1, bytes(range(200)), 60)], max_bytes=50)
    assert b.call_logs(call) == [(1, bytes(range(150, 200)))]
    b.call_logs_append([LogChunk(call, 1, b"\x00\xff" * 10, 60)], max_bytes=50)
    assert b.call_logs(call) == [(1, bytes(range(170, 200)) + b"\x00\xff" * 10)]


def test_call_logs_expire_after_the_ttl_of_the_last_write(b: Backend) -> None:
    call = new_call_id("main", "logs-app", "f")
    b.call_logs_append([LogChunk(call, 1, b"a", 60)], max_bytes=100)
    b.call_logs_append([LogChunk(call, 2, b"b", 0.3)], max_bytes=100)
    time.sleep(0.8)
    assert b.call_logs(call) == []  # one TTL for the call: the last write's
