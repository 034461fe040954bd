"""Pure argument checks shared by every entry point (API, CLI, HTTP, settings). Each raises
InvalidError with the fix.

Every timeout, TTL, count and name a user can give goes through here, so one rule holds
everywhere: numbers are finite, in range and not ``bool``; strings fully match their pattern
(``fullmatch``, so a trailing newline is refused too).
"""

from __future__ import annotations

import math
import re

from chute.exception import InvalidError

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_APP_ID_RE = re.compile(r"ap-[A-Za-z0-9]{22}")
MAX_NAME_LEN = 64
MAX_PARTITION_KEY_BYTES = 64
OBJECT_ID_RE = re.compile(r"(qu|di|fc|ap|fu)-[A-Za-z0-9]{22}")

# Longest TTL (and finite wait) anywhere: 10 years. Expiry times stay far inside what
# datetime, SQLite and Redis (milliseconds in Lua's doubles) represent exactly.
MAX_TTL = 10 * 365 * 24 * 3600
# Largest count: the largest integer SQLite's INTEGER (int64) and Redis's Lua numbers
# (doubles) both hold exactly.
MAX_COUNT = 2**53 - 1


def check_name(name: object, kind: str) -> str:
    """Validate an object name as Modal does: 1-64 chars of ``[A-Za-z0-9._-]``."""
    if not isinstance(name, str):
        raise InvalidError(f"Invalid {kind} name: expected a str, got {type(name).__name__}.")
    if not name or len(name) > MAX_NAME_LEN or not _NAME_RE.fullmatch(name) or _APP_ID_RE.fullmatch(name):
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
    if not isinstance(object_id, str) or not OBJECT_ID_RE.fullmatch(object_id):
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
    try:
        key = partition.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidError(
            f"Queue partition key {partition!r} is not valid Unicode text (it contains a lone "
            "surrogate): pass a str that encodes to UTF-8."
        ) from None
    if not key or len(key) > max_bytes:
        raise InvalidError(
            f"Queue partition key must be non-empty and at most {max_bytes} bytes (UTF-8); "
            f"got {len(key)} bytes. Pass partition=None for the default partition."
        )
    return key


def _number(value: object, what: str, expected: str) -> float:
    """``value`` as a finite float, or InvalidError (bool, non-numbers, NaN, ±inf, huge ints)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidError(f"{what} must be {expected}, got {type(value).__name__} {value!r}.")
    if isinstance(value, int) and abs(value) > MAX_COUNT:
        raise InvalidError(f"{what} must be {expected}, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidError(f"{what} must be {expected}, got {value!r}.")
    return number


def check_seconds(
    value: object,
    what: str,
    *,
    minimum: float = 0.0,
    maximum: float = MAX_TTL,
    exclusive_min: bool = False,
    unit: str = "seconds",
) -> float:
    """A finite number (of ``unit``) in ``[minimum, maximum]`` (``(minimum, …]`` with ``exclusive_min``)."""
    low = "(" if exclusive_min else "["
    of = f" of {unit}" if unit else ""
    expected = f"a number{of} in {low}{minimum:g}, {maximum:g}]"
    number = _number(value, what, expected)
    if number > maximum or number < minimum or (exclusive_min and number == minimum):
        raise InvalidError(f"{what} must be {expected}, got {value!r}.")
    return number


def check_timeout(timeout: object, what: str = "timeout") -> float | None:
    """``None`` (wait forever) or a finite number of seconds ≥ 0 (at most 10 years)."""
    if timeout is None:
        return None
    kind = type(timeout)
    if (kind is float or kind is int) and 0 <= timeout <= MAX_TTL:  # type: ignore[operator]  # hot path
        return float(timeout)  # type: ignore[arg-type]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidError(f"{what} must be a number of seconds or None, got {type(timeout).__name__}.")
    if not (isinstance(timeout, int) or math.isfinite(timeout)) or not 0 <= timeout <= MAX_TTL:
        raise InvalidError(
            f"{what} must be between 0 and {MAX_TTL:,} seconds (10 years), or None to wait forever; "
            f"got {timeout!r}."
        )
    return float(timeout)


def check_ttl(ttl: object, what: str = "partition_ttl") -> float:
    """A TTL: a positive, finite number of seconds, at most 10 years (``MAX_TTL``)."""
    kind = type(ttl)
    if (kind is float or kind is int) and 0 < ttl <= MAX_TTL:  # type: ignore[operator]  # hot path
        return float(ttl)  # type: ignore[arg-type]
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidError(f"{what} must be a number of seconds, got {type(ttl).__name__}.")
    if not (isinstance(ttl, int) or math.isfinite(ttl)) or not 0 < ttl <= MAX_TTL:
        raise InvalidError(
            f"{what} must be a positive number of seconds, at most {MAX_TTL:,} (10 years); got {ttl!r}."
        )
    return float(ttl)


def check_count(n: object, what: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """An int in ``[minimum, maximum]`` (not a bool), e.g. ``get_many``'s ``n_values``."""
    if isinstance(n, bool) or not isinstance(n, int) or not minimum <= n <= maximum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise InvalidError(f"{what} must be {kind}, at most {maximum:,}; got {n!r}.")
    return n


# -- environment variables (strings) ------------------------------------------------------------


def env_count(name: str, raw: str) -> int:
    """A ``CHUTE_*`` count: a positive decimal integer (``1e20``, ``0`` and ``-1`` are refused)."""
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidError(f"{name}={raw!r} is not an integer: set it to a positive whole number.") from None
    if not 1 <= value <= MAX_COUNT:
        raise InvalidError(f"{name}={raw!r} must be a positive integer, at most {MAX_COUNT:,}.")
    return value


def env_seconds(name: str, raw: str, maximum: float = MAX_TTL) -> float:
    """A ``CHUTE_*`` duration: a positive, finite number of seconds up to ``maximum``."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise InvalidError(f"{name}={raw!r} is not a number of seconds: set it to e.g. 5 or 0.5.") from None
    if not math.isfinite(value) or not 0 < value <= maximum:
        raise InvalidError(f"{name}={raw!r} must be a positive number of seconds, at most {maximum:,g}.")
    return value
