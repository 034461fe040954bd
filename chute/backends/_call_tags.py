"""Shard tags of function calls: which hash slot a function's calls live in (pure: no I/O).

On Redis every call of one function shares a hash slot of its own (``_redis_keys``), so the
functions of a Cluster spread over its masters. A call is often addressed by its id alone
(``job_get``, ``job_heartbeat``, ``FunctionCall.from_id``), so chute's call ids carry the tag of
their function: ``fc-`` + the 4-character tag + 18 random alphanumerics (still ``fc-`` + 22
alphanumerics, as before). An id made elsewhere (any string) has a tag too, derived from the id
(``home_tag``); the Redis backend then stores a locator there (``_redis_keys.ShardKeys.loc``).

SQLite ignores tags: to it a call id is just an id.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
TAG_CHARS = 4
_RANDOM_CHARS = 22 - TAG_CHARS
# A random byte to an alphanumeric: the first 248 byte values cover the 62 characters 4 times
# each, the last 8 once more (a slight bias; 18 of them still carry ~106 bits), far cheaper
# per call id than base-62 of a big integer.
_BYTE_TO_CHAR = bytes((_ALPHABET * 5)[:256], "ascii")
_TAGGED = re.compile(r"fc-[A-Za-z0-9]{22}")


def _base62(data: bytes, n: int) -> str:
    x = int.from_bytes(data)
    chars = []
    for _ in range(n):
        x, r = divmod(x, 62)
        chars.append(_ALPHABET[r])
    return "".join(chars)


@functools.lru_cache(maxsize=4096)
def function_tag(env: str, app: str, function: str) -> str:
    """The shard tag of a function's calls: 4 alphanumerics (62**4 values, spread evenly over
    Redis Cluster's 16,384 slots by CRC16)."""
    return _base62(hashlib.sha256(f"{env}\0{app}\0{function}".encode()).digest(), TAG_CHARS)


def home_tag(call_id: str) -> str:
    """The tag a call id names: its characters 4-7 for a ``fc-`` + 22 alphanumerics id, else
    one derived from the whole id. The Redis backend looks a call up there first."""
    if _TAGGED.fullmatch(call_id):
        return call_id[3 : 3 + TAG_CHARS]
    return _base62(hashlib.sha256(call_id.encode()).digest(), TAG_CHARS)


def new_call_id(tag: str) -> str:
    """``fc-`` + ``tag`` + 18 random alphanumerics (~106 bits): a call id of the function whose
    tag it is (``function_tag``)."""
    return "fc-" + tag + secrets.token_bytes(_RANDOM_CHARS).translate(_BYTE_TO_CHAR).decode()


def derived_call_id(tag: str, seed: bytes) -> str:
    """A call id with ``tag`` whose other characters are derived from ``seed`` (ids that any
    process must be able to compute again, e.g. the inputs of a Modal ``map``)."""
    return "fc-" + tag + _base62(hashlib.sha256(seed).digest(), _RANDOM_CHARS)
