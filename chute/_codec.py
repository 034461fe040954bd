"""Pure encoding of queue items and dict keys/values, with the size limits and their messages.

Shared by both flavours of the ops (``chute/_async``, generated ``chute/_sync``) and by the
adapters, so each rule exists once.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
from collections.abc import Sequence
from typing import Any

from chute import _serialize
from chute.backends.types import ObjectInfo
from chute.config import Settings
from chute.exception import InvalidError, RequestSizeError

MISSING: Any = object()
OPAQUE: Any = object()
_PLAIN_KEY_TYPES = (str, bytes, int, float, bool, type(None))


# -- queue items ---------------------------------------------------------------------------------


def encode_items(settings: Settings, values: Sequence[Any], method: str) -> list[bytes]:
    """Serialize queue items, each within ``CHUTE_MAX_ITEM_BYTES``.

    Raises:
        RequestSizeError: an item is too large.
        SerializationError: an item cannot be pickled.
    """
    items = _serialize.dumps_many(values, settings.secret)
    if items and max(map(len, items)) > settings.limits.max_item_bytes:
        for data in items:
            check_item_size(settings, data, method)  # raises, with the message
    return items


def check_item_size(settings: Settings, data: bytes, method: str) -> bytes:
    limit = settings.limits.max_item_bytes
    if len(data) > limit:
        raise RequestSizeError(
            f"Queue.{method} request is too large: an item serializes to {len(data):,} bytes, over "
            f"the {limit:,}-byte limit (CHUTE_MAX_ITEM_BYTES). Store large data elsewhere and "
            "queue a reference to it."
        )
    return data


def partition_cap(settings: Settings, info: ObjectInfo) -> int:
    """How many items one partition of this queue may hold."""
    limit = settings.limits.max_partition_items
    return limit if info.max_items is None else min(info.max_items, limit)


# -- dict keys and values ------------------------------------------------------------------------


class _SortedFrozenset:
    """Pickles as ``frozenset(<elements in canonical order>)``: a frozenset's own iteration
    order depends on per-process string hashing, so its plain pickle differs between processes."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.items = items

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (frozenset, (self.items,))


def canonical(key: Any) -> Any:
    """``key`` with its frozensets replaced by sorted stand-ins, or ``OPAQUE`` if it is not
    built only from plain scalars, tuples and frozensets (such keys are pickled as they are)."""
    t = type(key)
    if t in _PLAIN_KEY_TYPES:
        return key
    if t is tuple or t is frozenset:
        parts = [canonical(k) for k in key]
        if any(p is OPAQUE for p in parts):
            return OPAQUE
        if t is tuple:
            return tuple(parts)
        return _SortedFrozenset(tuple(sorted(parts, key=_pickle_canonical)))
    return OPAQUE


def _pickle_canonical(obj: Any) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    # No memo: equal values pickle to equal bytes however their parts are shared in memory
    # (("ab", "ab") built from one object or from two would otherwise differ).
    pickler.fast = True
    pickler.dump(obj)
    return buf.getvalue()


def encode_key(key: Any, secret: bytes | None) -> bytes:
    """The stored form of a key: equal keys give identical bytes in every process.

    Plain scalars, and tuples/frozensets built from them (nested freely), are pickled
    canonically. Other keys are cloudpickled as they are, which is deterministic for most
    simple objects but not guaranteed (Modal gives the same advice: prefer primitive keys).

    Raises:
        InvalidError: the key is not hashable.
    """
    if type(key) in _PLAIN_KEY_TYPES:
        return _serialize.dumps(key, secret)
    canon = canonical(key)
    if canon is OPAQUE:
        try:
            hash(key)
        except TypeError:
            raise InvalidError(
                f"Dict keys must be hashable, got an unhashable {type(key).__name__}. "
                "Use a tuple instead of a list, a frozenset instead of a set."
            ) from None
        return _serialize.dumps(key, secret)
    body = _pickle_canonical(canon)
    # Same wire format as _serialize.dumps (tag byte, then the HMAC when signing).
    if secret is None:
        return b"\x00" + body
    return b"\x01" + hmac.new(secret, body, hashlib.sha256).digest() + body


def check_key_size(settings: Settings, kb: bytes, method: str) -> bytes:
    limit = settings.limits.max_value_bytes
    if len(kb) > limit:
        raise RequestSizeError(
            f"Dict.{method} request is too large: a key serializes to {len(kb):,} bytes, over the "
            f"{limit:,}-byte limit (CHUTE_MAX_VALUE_BYTES)."
        )
    return kb


def check_value_size(settings: Settings, data: bytes, method: str) -> bytes:
    limit = settings.limits.max_value_bytes
    if len(data) > limit:
        raise RequestSizeError(
            f"Dict.{method} request is too large: a value serializes to {len(data):,} bytes, over the "
            f"{limit:,}-byte limit (CHUTE_MAX_VALUE_BYTES). Store large data elsewhere and put a "
            "reference to it in the Dict."
        )
    return data


def encode_entry(settings: Settings, key: Any, value: Any, method: str) -> tuple[bytes, bytes]:
    """A dict entry's stored key and value, each within the size limit."""
    kb = check_key_size(settings, encode_key(key, settings.secret), method)
    return kb, check_value_size(settings, _serialize.dumps(value, settings.secret), method)
