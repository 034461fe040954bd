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
from chute.exception import DeserializationError, RemoteError, RequestSizeError

_MAX_ERROR_LINE = 500


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
    return _check_size(_serialize.dumps((args, kwargs), settings.secret), settings, "The call's arguments")


def load_args(payload: bytes, settings: Settings, call_id: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    args, kwargs = _serialize.loads(payload, settings.secret, what=f"the arguments of {call_id}")
    return tuple(args), dict(kwargs)


def error_line(exc: BaseException) -> str:
    """``"ValueError: boom"``, on one line and bounded, for listings."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= _MAX_ERROR_LINE else text[: _MAX_ERROR_LINE - 1] + "…"


def pack_value(value: Any, settings: Settings) -> bytes:
    """The outcome of a call that returned ``value``. Raises RequestSizeError/SerializationError."""
    return _check_size(_serialize.dumps(("ok", value), settings.secret), settings, "The call's result")


def pack_error(exc: BaseException, traceback_text: str, settings: Settings) -> bytes:
    """The outcome of a call that raised ``exc``; falls back to a RemoteError if ``exc``
    itself cannot be pickled."""
    try:
        blob: bytes | None = cloudpickle.dumps(exc)
    except Exception:
        blob = None
    return _serialize.dumps(("err", error_line(exc), traceback_text, blob), settings.secret)


def unpack(data: bytes, settings: Settings, call_id: str) -> Any:
    """The call's return value, or raise the exception it failed with."""
    outcome = _serialize.loads(data, settings.secret, what=f"the result of {call_id}")
    if outcome[0] == "ok":
        return outcome[1]
    _, summary, traceback_text, blob = outcome
    exc: BaseException
    try:
        exc = cloudpickle.loads(blob) if blob is not None else RemoteError(summary)
    except Exception as load_error:
        raise DeserializationError(
            f"Function call {call_id} failed with {summary}, and that exception cannot be "
            f"deserialized here ({type(load_error).__name__}: {load_error})."
        ) from None
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
