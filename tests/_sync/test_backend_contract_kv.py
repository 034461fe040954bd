# Auto-generated from tests/_async/test_backend_contract_kv.py by scripts/unasync.py: DO NOT EDIT.
"""Storage contract, key/value (Dict): put/only_new/get/contains/pop/len/scan/clear and
deletion, on every backend.

SOURCE of tests/_sync/test_backend_contract_kv.py (scripts/unasync.py): the backend under test
(fixture ``b``) is the async backend here and the generated sync backend there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chute.backends._sync.base import Backend
from chute.exception import NotFoundError
from tests._sync.contract_helpers import new_dict


def test_kv_ops(b: Backend) -> None:
    d = new_dict(b)
    assert b.kv_get(d, b"k") is None
    assert b.kv_put(d, [(b"k", b"1"), (b"j", b"2")], only_new=False) is True
    assert b.kv_get(d, b"k") == b"1"
    assert b.kv_contains(d, b"j") is True
    assert b.kv_contains(d, b"zz") is False
    assert b.kv_put(d, [(b"k", b"new")], only_new=True) is False
    assert b.kv_get(d, b"k") == b"1"
    assert b.kv_put(d, [(b"n", b"3")], only_new=True) is True
    assert b.kv_put(d, [(b"k", b"9")], only_new=False) is True
    assert b.kv_get(d, b"k") == b"9"
    assert b.kv_len(d) == 3
    assert b.kv_pop(d, b"k") == b"9"
    assert b.kv_pop(d, b"k") is None
    assert b.kv_len(d) == 2
    assert [k for k, _ in b.kv_scan(d, None, 10)] == [b"j", b"n"]
    b.kv_clear(d)
    assert b.kv_len(d) == 0
    assert b.kv_scan(d, None, 10) == []
    assert b.kv_put(d, [(b"k", b"again")], only_new=True) is True
    assert b.get_object(d) is not None  # clearing keeps the dict


def test_kv_keys_and_values_are_opaque_bytes(b: Backend) -> None:
    d = new_dict(b)
    pairs = [(b"", b""), (b"\x00", b"\x00\x00"), (b"\xff" * 3, bytes(range(256))), (b"big", b"v" * 100_000)]
    b.kv_put(d, pairs, only_new=False)
    for k, v in pairs:
        assert b.kv_get(d, k) == v
    assert b.kv_len(d) == len(pairs)
    assert b.kv_contains(d, b"") is True
    assert b.kv_pop(d, b"") == b""  # an empty value is a value, not a miss
    assert b.kv_contains(d, b"") is False


def test_kv_last_write_in_a_batch_wins(b: Backend) -> None:
    d = new_dict(b)
    b.kv_put(d, [(b"k", b"1"), (b"k", b"2")], only_new=False)
    assert b.kv_get(d, b"k") == b"2"
    assert b.kv_len(d) == 1


def test_kv_dicts_are_independent(b: Backend) -> None:
    one, two = new_dict(b, "one"), new_dict(b, "two")
    b.kv_put(one, [(b"k", b"1")], only_new=False)
    assert b.kv_get(two, b"k") is None
    assert b.kv_put(two, [(b"k", b"2")], only_new=True) is True
    b.kv_clear(one)
    assert b.kv_get(two, b"k") == b"2"


def test_kv_scan_bytewise_order_and_paging(b: Backend) -> None:
    d = new_dict(b)
    keys = [bytes([i, j]) for i in (0, 1, 127, 128, 255) for j in (0, 255)] + [b"a", b"ab", b"b"]
    b.kv_put(d, [(k, k + b"!") for k in keys], only_new=False)
    seen: list[bytes] = []
    after = None
    while True:
        page = b.kv_scan(d, after, 4)
        if not page:
            break
        for k, v in page:
            assert v == (b"x" if k == b"\xff\xff\xff" else k + b"!")
        seen += [k for k, _ in page]
        after = page[-1][0]
        if len(seen) == 4:  # changes during the scan: a later key appears, an earlier one no-op
            b.kv_put(d, [(b"\xff\xff\xff", b"x"), (b"\x00", b"y")], only_new=False)
            b.kv_pop(d, keys[0])
    assert seen == sorted([*keys, b"\xff\xff\xff"])


def test_kv_deleted_dict_raises_not_found(b: Backend) -> None:
    d = new_dict(b)
    b.kv_put(d, [(b"k", b"v")], only_new=False)
    assert b.delete_object(d) is True
    calls: list[Callable[[], Any]] = [
        lambda: b.kv_get(d, b"k"),
        lambda: b.kv_contains(d, b"k"),
        lambda: b.kv_put(d, [(b"k", b"v")], only_new=False),
        lambda: b.kv_put(d, [(b"k", b"v")], only_new=True),
        lambda: b.kv_pop(d, b"k"),
        lambda: b.kv_len(d),
        lambda: b.kv_scan(d, None, 10),
        lambda: b.kv_clear(d),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()
