"""Pure argument checks shared by every public entry point. Each raises InvalidError with the fix."""

from __future__ import annotations

import re

from chute.exception import InvalidError

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_APP_ID_RE = re.compile(r"^ap-[A-Za-z0-9]{22}$")
MAX_NAME_LEN = 64
MAX_PARTITION_KEY_BYTES = 64
OBJECT_ID_RE = re.compile(r"^(qu|di|fc|ap|fu)-[A-Za-z0-9]{22}$")


def check_name(name: object, kind: str) -> str:
    """Validate an object name as Modal does: 1-64 chars of ``[A-Za-z0-9._-]``."""
    if not isinstance(name, str):
        raise InvalidError(f"Invalid {kind} name: expected a str, got {type(name).__name__}.")
    if not name or len(name) > MAX_NAME_LEN or not _NAME_RE.match(name) or _APP_ID_RE.match(name):
        raise InvalidError(
            f"Invalid {kind} name: {name!r}. Names may contain only alphanumeric characters, dashes, "
            f"periods and underscores, and must be 1 to {MAX_NAME_LEN} characters long."
        )
    return name


def check_env(env: object) -> str:
    """Environments are names too (they namespace every object)."""
    return check_name(env, "environment")


def check_object_id(object_id: object, prefix: str, kind: str) -> str:
    """Validate an id such as ``qu-…`` for a Queue."""
    if not isinstance(object_id, str) or not OBJECT_ID_RE.match(object_id):
        raise InvalidError(
            f"Invalid {kind} id {object_id!r}: expected '{prefix}-' followed by 22 characters."
        )
    if not object_id.startswith(prefix + "-"):
        raise InvalidError(f"{object_id!r} is not a {kind} id: {kind} ids start with '{prefix}-'.")
    return object_id


def partition_key(partition: object, max_bytes: int = MAX_PARTITION_KEY_BYTES) -> bytes:
    """``None`` → ``b""`` (the default partition); otherwise 1..max_bytes UTF-8 bytes."""
    if partition is None:
        return b""
    if not isinstance(partition, str):
        raise InvalidError(f"Queue partition key must be a str or None, got {type(partition).__name__}.")
    key = partition.encode("utf-8")
    if not key or len(key) > max_bytes:
        raise InvalidError(
            f"Queue partition key must be non-empty and at most {max_bytes} bytes (UTF-8); "
            f"got {len(key)} bytes. Pass partition=None for the default partition."
        )
    return key


def check_timeout(timeout: object, what: str = "timeout") -> float | None:
    """``None`` (wait forever) or a finite number ≥ 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidError(f"{what} must be a number of seconds or None, got {type(timeout).__name__}.")
    if timeout < 0 or timeout != timeout or timeout == float("inf"):
        raise InvalidError(f"{what} must be >= 0 seconds (or None to wait forever), got {timeout!r}.")
    return float(timeout)


def check_ttl(ttl: object) -> float:
    """A partition TTL: a positive, finite number of seconds."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < float("inf"):
        raise InvalidError(f"partition_ttl must be a positive number of seconds, got {ttl!r}.")
    return float(ttl)


def check_count(n: object, what: str) -> int:
    """A positive int, e.g. ``get_many``'s ``n_values``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidError(f"{what} must be a positive int, got {n!r}.")
    return n
