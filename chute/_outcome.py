"""Encoding of call inputs and outcomes (pure: no I/O).

An outcome is one signed payload (``_serialize``) holding either ``("ok", value)`` or
``("err", summary, traceback_text, exception_pickle)``. The exception is pickled separately
so that the traceback text stays readable (dashboard, ``chute call status``) in a process
that cannot import the exception's class.
"""

from __future__ import annotations

from typing import Any

import cloudpickle

from chute import _serialize
from chute._ref import random_id
from chute.config import Settings
from chute.exception import DeserializationError, RemoteError, RequestSizeError, SerializationError

_MAX_ERROR_LINE = 500
# Bytes of an error outcome besides its traceback and exception (tags, summary, pickle framing).
_OVERHEAD = 4 * _MAX_ERROR_LINE


def new_call_id() -> str:
    """``fc-`` followed by 22 random alphanumerics."""
    return random_id("fc")


def _check_size(data: bytes, settings: Settings, what: str) -> bytes:
    limit = settings.limits.max_value_bytes
    if len(data) > limit:
        raise RequestSizeError(
            f"{what} serialize to {len(data):,} bytes, over the {limit:,}-byte limit "
            "(CHUTE_MAX_VALUE_BYTES). Pass a reference (a path, a key) instead of the data."
        )
    return data


def dump_args(args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings) -> bytes:
    parts = [(f"argument {i}", a) for i, a in enumerate(args)]
    parts += [(f"argument {k!r}", v) for k, v in kwargs.items()]
    data = _dumps((args, kwargs), settings, "the call's arguments", parts)
    return _check_size(data, settings, "The call's arguments")


def load_args(payload: bytes, settings: Settings, call_id: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _serialize.loads(payload, settings.secret, what=f"the arguments of {call_id}")
    return tuple(args), dict(kwargs)


def error_line(exc: BaseException) -> str:
    """``"ValueError: boom"``, on one line and bounded, for listings."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= _MAX_ERROR_LINE else text[: _MAX_ERROR_LINE - 1] + "…"


def pack_value(value: Any, settings: Settings) -> bytes:
    """The outcome of a call that returned ``value``. Raises RequestSizeError/SerializationError."""
    data = _dumps(("ok", value), settings, "the call's result", [("it", value)])
    return _check_size(data, settings, "The call's result")


def _dumps(payload: Any, settings: Settings, what: str, parts: list[tuple[str, Any]]) -> bytes:
    """``_serialize.dumps(payload)``; on failure, name the part that cannot be pickled (not
    the tuple that carries it)."""
    try:
        return _serialize.dumps(payload, settings.secret)
    except SerializationError:
        for label, part in parts:
            try:
                _serialize.dumps(part)
            except SerializationError as exc:
                raise SerializationError(
                    f"Cannot serialize {what}: {label} is a {type(part).__name__} that cloudpickle cannot "
                    f"pickle ({exc.__cause__}). Use plain data (or objects whose classes are importable)."
                ) from exc.__cause__
        raise


def truncate(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, keeping its start and end around a
    marker that says how much was cut (the end of a traceback names the error)."""
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= max_bytes:
        return text
    marker = f"\n… [{len(data) - max_bytes:,} bytes truncated to fit CHUTE_MAX_VALUE_BYTES] …\n"
    keep = max(0, max_bytes - len(marker.encode()))
    head = data[: keep // 2].decode("utf-8", "ignore")
    tail = data[len(data) - (keep - keep // 2) :].decode("utf-8", "ignore") if keep else ""
    return head + marker + tail


def pack_error(exc: BaseException, traceback_text: str, settings: Settings) -> bytes:
    """The outcome of a call that raised ``exc``, at most ``CHUTE_MAX_VALUE_BYTES``.

    The traceback is truncated (with a marker) to a share of the limit; an exception that
    pickles larger than its share is stored with its message truncated the same way, and one
    that cannot be pickled (or rebuilt) becomes a RemoteError carrying its one-line summary."""
    limit = settings.limits.max_value_bytes
    budget = max(limit // 2 - _OVERHEAD, 0)
    summary = error_line(exc)
    try:
        blob: bytes | None = cloudpickle.dumps(exc)
    except Exception:
        blob = None
    if blob is not None and len(blob) > budget:
        blob = _smaller(exc, budget)
    text = truncate(traceback_text, budget)
    data = _serialize.dumps(("err", summary, text, blob), settings.secret)
    if len(data) > limit:  # a tiny limit: keep only what must be there
        data = _serialize.dumps(("err", summary[: max(limit // 4, 1)], "", None), settings.secret)
    return data


def _smaller(exc: BaseException, budget: int) -> bytes | None:
    """The pickle of an exception of the same type with its message truncated, if that type
    takes a message and the result fits; None otherwise (``unpack`` raises RemoteError)."""
    try:
        small = type(exc)(truncate(str(exc), budget // 2))
        blob: bytes = cloudpickle.dumps(small)
    except Exception:
        return None
    return blob if len(blob) <= budget else None


def unpack(data: bytes, settings: Settings, call_id: str) -> Any:
    """The call's return value, or raise the exception it failed with."""
    outcome = _serialize.loads(data, settings.secret, what=f"the result of {call_id}")
    if outcome[0] == "ok":
        return outcome[1]
    _, summary, traceback_text, blob = outcome
    exc: Any
    try:
        exc = cloudpickle.loads(blob) if blob is not None else RemoteError(summary)
    except Exception as load_error:
        raise DeserializationError(
            f"Function call {call_id} failed with {summary}, and that exception cannot be "
            f"deserialized here ({type(load_error).__name__}: {load_error})."
        ) from None
    if not isinstance(exc, BaseException):
        # A class whose __reduce__ rebuilds something else: raise what we know instead.
        exc = RemoteError(f"Function call {call_id} failed with {summary}")
    if traceback_text:
        exc.add_note(f"Remote traceback of {call_id}:\n{traceback_text.rstrip()}")
    raise exc


def traceback_of(data: bytes, settings: Settings) -> str | None:
    """The remote traceback text of a failed outcome, without unpickling the exception."""
    try:
        outcome = _serialize.loads(data, settings.secret, what="a call outcome")
    except Exception:
        return None
    if outcome[0] != "err":
        return None
    return str(outcome[2] or outcome[1])
