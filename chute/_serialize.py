"""Payload encoding: cloudpickle, optional HMAC signature, size limits.

Wire format of every stored payload (queue item, dict key/value, call input/output)::

    b"\\x00" + pickle                       unsigned
    b"\\x01" + HMAC-SHA256(secret, pickle) + pickle   signed (CHUTE_SECRET set)

Unpickling runs code chosen by whoever wrote the bytes. With ``CHUTE_SECRET`` set, chute
checks the signature *before* unpickling and refuses unsigned or tampered payloads, so only
holders of the secret can make a reader execute anything.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from chute.exception import DeserializationError, IntegrityError, SerializationError

_UNSIGNED = 0
_SIGNED = 1
_MAC_LEN = 32
# Plain scalars pickle identically with the C pickler, which is several times faster than
# cloudpickle's Python-level reducer hook; anything else (functions, classes defined in
# __main__, containers of them) goes through cloudpickle so it is pickled by value.
_PLAIN_TYPES = frozenset({str, bytes, int, float, bool, type(None)})
# loads_many's per-item steps as C callables (map over them runs no bytecode per item).
_tag = operator.itemgetter(0)  # an empty payload raises IndexError: the precise path reports it
_body = operator.itemgetter(slice(1, None))


def dumps(value: Any, secret: bytes | None = None) -> bytes:
    """Serialize ``value``; raise SerializationError if it cannot be pickled."""
    return seal(pickle_value(value), secret)


def pickle_value(value: Any) -> bytes:
    """The bare pickle of ``value`` (no header); raise SerializationError if it cannot be pickled."""
    try:
        if type(value) in _PLAIN_TYPES:
            return pickle.dumps(value, protocol=5)
        body: bytes = cloudpickle.dumps(value, protocol=5)
        return body
    except Exception as exc:
        raise _unpicklable(value, exc) from exc


def dumps_args(args: tuple[Any, ...], kwargs: dict[str, Any], secret: bytes | None = None) -> bytes:
    """``dumps((args, kwargs), secret)``; with only plain scalar arguments (most calls and map
    inputs), by the C pickler alone: cloudpickle's per-call set-up is ~4x such a pickle.

    Raises:
        SerializationError: an argument cannot be pickled.
    """
    plain = _PLAIN_TYPES
    for value in args:
        if type(value) not in plain:
            return dumps((args, kwargs), secret)
    for value in kwargs.values():
        if type(value) not in plain:
            return dumps((args, kwargs), secret)
    return seal(pickle.dumps((args, kwargs), protocol=5), secret)


def dumps_many(values: Sequence[Any], secret: bytes | None = None) -> list[bytes]:
    """``[dumps(v, secret) for v in values]``, faster (a batch's per-item calls add up).

    Raises:
        SerializationError: a value cannot be pickled.
    """
    if secret is not None:
        return [dumps(v, secret) for v in values]
    plain, fast = _PLAIN_TYPES, pickle.dumps
    try:
        return [
            b"\x00" + (fast(v, 5) if type(v) in plain else cloudpickle.dumps(v, protocol=5)) for v in values
        ]
    except Exception:
        return [dumps(v) for v in values]  # raises, naming the value that cannot be pickled


def _unpicklable(value: Any, exc: Exception) -> SerializationError:
    return SerializationError(
        f"Cannot serialize a {type(value).__name__} with cloudpickle: {exc}. "
        "Store plain data (or an object whose class is importable) instead."
    )


def seal(body: bytes, secret: bytes | None) -> bytes:
    """Wrap a pickle in the stored format, signed when ``secret`` is set."""
    if secret is None:
        return b"\x00" + body
    return b"\x01" + hmac.new(secret, body, hashlib.sha256).digest() + body


What = str | Callable[[], str]  # how an error message names the payload; a callable is only
# called when there is an error to report (building the name per item costs more than the item)


def _name(what: What) -> str:
    return what if isinstance(what, str) else what()


def unseal(data: bytes, secret: bytes | None, what: What = "value") -> bytes:
    """The pickle inside a stored payload, after checking its signature when ``secret`` is set.

    Raises:
        IntegrityError: a bad signature, or an unsigned payload while ``secret`` is set.
        DeserializationError: not a chute payload.
    """
    if not data:
        raise DeserializationError(f"Failed to deserialize {_name(what)}: empty payload.")
    tag = data[0]
    if tag == _SIGNED:
        body = data[1 + _MAC_LEN :]
        if secret is not None:
            mac = hmac.new(secret, body, hashlib.sha256).digest()
            if not hmac.compare_digest(mac, data[1 : 1 + _MAC_LEN]):
                raise IntegrityError(
                    f"Refusing to deserialize {_name(what)}: its signature does not match CHUTE_SECRET "
                    "(tampered, or written with another secret)."
                )
    elif tag == _UNSIGNED:
        if secret is not None:
            raise IntegrityError(
                f"Refusing to deserialize {_name(what)}: it is not signed, and CHUTE_SECRET is set. "
                "Only writers that share CHUTE_SECRET may enqueue pickled data."
            )
        body = data[1:]
    else:
        raise DeserializationError(f"Failed to deserialize {_name(what)}: unknown payload format {tag:#x}.")
    return body


def loads(data: bytes, secret: bytes | None = None, what: What = "value") -> Any:
    """Verify (when ``secret`` is set) and unpickle; raise DeserializationError/IntegrityError."""
    return unpickle(unseal(data, secret, what), what)


def unpickle(body: bytes, what: What = "value") -> Any:
    """Unpickle a bare pickle (already verified); raise DeserializationError."""
    try:
        return pickle.loads(body)
    except Exception as exc:
        raise _undecodable(_name(what), exc) from exc


def loads_many(datas: Sequence[bytes], secret: bytes | None = None, what: What = "value") -> list[Any]:
    """``[loads(d, secret, what) for d in datas]``, faster; the same errors.

    Unsigned payloads (no ``CHUTE_SECRET``) are unpickled straight from their body.
    """
    if secret is not None:
        return [loads(d, secret, what) for d in datas]
    fast = pickle.loads
    try:
        if not any(map(_tag, datas)):  # every payload unsigned (tag 0): loops in C
            return list(map(fast, map(_body, datas)))
        return [fast(d[1:]) if d[0] == _UNSIGNED else loads(d, secret, what) for d in datas]
    except Exception:
        for d in datas:
            loads(d, secret, what)  # raises the precise error of the first bad payload
        raise


def _undecodable(what: str, exc: Exception) -> DeserializationError:
    if isinstance(exc, ModuleNotFoundError | ImportError):
        missing = getattr(exc, "name", None) or str(exc)
        return DeserializationError(
            f"Failed to deserialize {what}: module {missing!r} cannot be imported in this process. "
            "Install or import the library that defines the stored type here."
        )
    if isinstance(exc, AttributeError):
        return DeserializationError(
            f"Failed to deserialize {what}: {exc}. The type that was stored is not defined "
            "in this process (renamed, or defined in another program's __main__?)."
        )
    return DeserializationError(f"Failed to deserialize {what}: {type(exc).__name__}: {exc}")
