"""Storage contract, key/value (Dict): put/only_new/get/contains/pop/len/scan/clear and
deletion, on every backend.

SOURCE of tests/_sync/test_backend_contract_kv.py (scripts/unasync.py): the backend under test
(fixture ``b``) is the async backend here and the generated sync backend there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chute.backends._async.base import AsyncBackend
from chute.exception import NotFoundError
from tests._async.contract_helpers import new_dict


async def test_kv_ops(b: AsyncBackend) -> None:
    d = await new_dict(b)
    assert await b.kv_get(d, b"k") is None
    assert await b.kv_put(d, [(b"k", b"1"), (b"j", b"2")], only_new=False) is True
    assert await b.kv_get(d, b"k") == b"1"
    assert await b.kv_contains(d, b"j") is True
    assert await b.kv_contains(d, b"zz") is False
    assert await b.kv_put(d, [(b"k", b"new")], only_new=True) is False
    assert await b.kv_get(d, b"k") == b"1"
    assert await b.kv_put(d, [(b"n", b"3")], only_new=True) is True
    assert await b.kv_put(d, [(b"k", b"9")], only_new=False) is True
    assert await b.kv_get(d, b"k") == b"9"
    assert await b.kv_len(d) == 3
    assert await b.kv_pop(d, b"k") == b"9"
    assert await b.kv_pop(d, b"k") is None
    assert await b.kv_len(d) == 2
    assert [k for k, _ in await b.kv_scan(d, None, 10)] == [b"j", b"n"]
    await b.kv_clear(d)
    assert await b.kv_len(d) == 0
    assert await b.kv_scan(d, None, 10) == []
    assert await b.kv_put(d, [(b"k", b"again")], only_new=True) is True
    assert await b.get_object(d) is not None  # clearing keeps the dict


async def test_kv_keys_and_values_are_opaque_bytes(b: AsyncBackend) -> None:
    d = await new_dict(b)
    pairs = [(b"", b""), (b"\x00", b"\x00\x00"), (b"\xff" * 3, bytes(range(256))), (b"big", b"v" * 100_000)]
    await b.kv_put(d, pairs, only_new=False)
    for k, v in pairs:
        assert await b.kv_get(d, k) == v
    assert await b.kv_len(d) == len(pairs)
    assert await b.kv_contains(d, b"") is True
    assert await b.kv_pop(d, b"") == b""  # an empty value is a value, not a miss
    assert await b.kv_contains(d, b"") is False


async def test_kv_last_write_in_a_batch_wins(b: AsyncBackend) -> None:
    d = await new_dict(b)
    await b.kv_put(d, [(b"k", b"1"), (b"k", b"2")], only_new=False)
    assert await b.kv_get(d, b"k") == b"2"
    assert await b.kv_len(d) == 1


async def test_kv_dicts_are_independent(b: AsyncBackend) -> None:
    one, two = await new_dict(b, "one"), await new_dict(b, "two")
    await b.kv_put(one, [(b"k", b"1")], only_new=False)
    assert await b.kv_get(two, b"k") is None
    assert await b.kv_put(two, [(b"k", b"2")], only_new=True) is True
    await b.kv_clear(one)
    assert await b.kv_get(two, b"k") == b"2"


async def test_kv_scan_bytewise_order_and_paging(b: AsyncBackend) -> None:
    d = await new_dict(b)
    keys = [bytes([i, j]) for i in (0, 1, 127, 128, 255) for j in (0, 255)] + [b"a", b"ab", b"b"]
    await b.kv_put(d, [(k, k + b"!") for k in keys], only_new=False)
    seen: list[bytes] = []
    after = None
    while True:
        page = await b.kv_scan(d, after, 4)
        if not page:
            break
        for k, v in page:
            assert v == (b"x" if k == b"\xff\xff\xff" else k + b"!")
        seen += [k for k, _ in page]
        after = page[-1][0]
        if len(seen) == 4:  # changes during the scan: a later key appears, an earlier one no-op
            await b.kv_put(d, [(b"\xff\xff\xff", b"x"), (b"\x00", b"y")], only_new=False)
            await b.kv_pop(d, keys[0])
    assert seen == sorted([*keys, b"\xff\xff\xff"])


async def test_kv_deleted_dict_raises_not_found(b: AsyncBackend) -> None:
    d = await new_dict(b)
    await b.kv_put(d, [(b"k", b"v")], only_new=False)
    assert await b.delete_object(d) is True
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
            await call()
