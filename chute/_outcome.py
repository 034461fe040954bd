"""Encoding of call inputs and outcomes (pure: no I/O).

An outcome is one signed payload (``_serialize.seal``) whose body has a small binary header,
so that its parts can be taken apart without unpickling anything (the Modal wire server
hands the value's pickle, or the exception's, to the ``modal`` client as it is)::

    b"O" + value_pickle                                          the call returned a value
    b"E" + struct(">III", len(summary), len(traceback), len(exc_type))
         + summary + traceback + exc_type + exception_pickle     the call raised

``summary`` (``"ValueError: boom"``), ``traceback`` and ``exc_type`` (``"module.QualName"``)
are UTF-8 text, readable in a process that cannot import the exception's class (dashboard,
``chute call status``). ``exception_pickle`` is empty when the exception could not be
pickled; it carries the remote traceback as a note on the exception. Outcomes stored by
chute before this format (one pickle of a tuple) are still read by ``unpack``/``traceback_of``.
"""

from __future__ import annotations

import json
import pickle
import struct
from dataclasses import dataclass
from typing import Any

import cloudpickle

from chute import _serialize
from chute.backends import _call_tags
from chute.config import Settings
from chute.exception import (
    DeserializationError,
    InvalidError,
    RemoteError,
    RequestSizeError,
    SerializationError,
)

_MAX_ERROR_LINE = 500
# Bytes of an error outcome besides its traceback and exception (tags, summary, type, header).
_OVERHEAD = 4 * _MAX_ERROR_LINE
_OK = b"O"
_ERR = b"E"
_HEADER = struct.Struct(">III")
_LEGACY = 0x80  # the PROTO opcode a pickle starts with: an outcome stored before this format


def new_call_id(env: str, app: str, function: str) -> str:
    """A new id for a call of this function: ``fc-`` followed by 22 alphanumerics, the first 4
    naming the function's shard (``chute.backends._call_tags``), the others random."""
    return _call_tags.new_call_id(_call_tags.function_tag(env, app, function))


def _check_size(data: bytes, settings: Settings, what: str) -> bytes:
    limit = settings.limits.max_value_bytes
    if len(data) > limit:
        raise RequestSizeError(
            f"{what} serialize to {len(data):,} bytes, over the {limit:,}-byte limit "
            "(CHUTE_MAX_VALUE_BYTES). Pass a reference (a path, a key) instead of the data."
        )
    return data


def dump_args(args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings) -> bytes:
    try:
        data = _serialize.dumps_args(args, kwargs, settings.secret)
    except SerializationError:
        parts = [(f"argument {i}", a) for i, a in enumerate(args)]
        parts += [(f"argument {k!r}", v) for k, v in kwargs.items()]
        _name_the_culprit("the call's arguments", parts)
        raise
    return _check_size(data, settings, "The call's arguments")


def _name_the_culprit(what: str, parts: list[tuple[str, Any]]) -> None:
    for label, part in parts:
        try:
            _serialize.dumps(part)
        except SerializationError as exc:
            raise SerializationError(
                f"Cannot serialize {what}: {label} is a {type(part).__name__} that cloudpickle cannot "
                f"pickle ({exc.__cause__}). Use plain data (or objects whose classes are importable)."
            ) from exc.__cause__


def check_args_size(payload: bytes, settings: Settings) -> bytes:
    """``payload`` (already encoded arguments), or RequestSizeError over CHUTE_MAX_VALUE_BYTES."""
    return _check_size(payload, settings, "The call's arguments")


# Per-call options (``with_options(timeout=, retries=, …)`` of a variant): a JSON header before
# the sealed arguments, ``b"\x02" + len(>H) + json``, read by the worker without unpickling.
_CALL_OPTIONS = 0x02
_OPTIONS_LEN = struct.Struct(">H")


def add_call_options(payload: bytes, options: dict[str, Any]) -> bytes:
    """``payload`` (sealed arguments) with per-call ``options`` (JSON-ready) in front."""
    if not options:
        return payload
    header = json.dumps(options, sort_keys=True, separators=(",", ":")).encode()
    return bytes([_CALL_OPTIONS]) + _OPTIONS_LEN.pack(len(header)) + header + payload


def split_call_options(payload: bytes) -> tuple[dict[str, Any], bytes]:
    """``(options, sealed arguments)`` of a stored call payload (``{}`` without options)."""
    if not payload or payload[0] != _CALL_OPTIONS:
        return {}, payload
    (size,) = _OPTIONS_LEN.unpack_from(payload, 1)
    start = 1 + _OPTIONS_LEN.size
    options: dict[str, Any] = json.loads(payload[start : start + size])
    return options, payload[start + size :]


def load_args(payload: bytes, settings: Settings, call_id: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    _, payload = split_call_options(payload)
    args, kwargs = _serialize.loads(payload, settings.secret, what=f"the arguments of {call_id}")
    return tuple(args), dict(kwargs)


def bind_method_args(params: bytes | None, args: bytes) -> bytes:
    """The arguments pickle of a class method's call made by another client (the ``modal``
    client): ``params`` is its pickled ``(args, kwargs)`` of the constructor (None: no
    parameters), ``args`` its pickled ``(args, kwargs)`` of the method. Loading the result
    (on a worker, after the signature check) gives ``((params_dict, *args), kwargs)``, the
    call chute's class methods take. Neither pickle is loaded here."""
    return pickle.dumps(_BoundArgs(params, args), protocol=5)


class _BoundArgs:
    def __init__(self, params: bytes | None, args: bytes) -> None:
        self.params, self.args = params, args

    def __reduce__(self) -> tuple[Any, tuple[bytes | None, bytes]]:
        return (_bound_args, (self.params, self.args))


def _bound_args(params: bytes | None, args: bytes) -> tuple[tuple[Any, ...], dict[str, Any]]:
    param_args, param_kwargs = pickle.loads(params) if params else ((), {})
    if param_args:
        raise InvalidError(
            "Can't use positional arguments with chute.parameter-based constructors: pass "
            "(<parameter_name>=value) keyword arguments."
        )
    call_args, call_kwargs = pickle.loads(args)
    return (dict(param_kwargs), *call_args), dict(call_kwargs)


def error_line(exc: BaseException) -> str:
    """``"ValueError: boom"``, on one line and bounded, for listings."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= _MAX_ERROR_LINE else text[: _MAX_ERROR_LINE - 1] + "…"


def _note(traceback_text: str, call_id: str | None) -> str:
    where = f" of {call_id}" if call_id else ""
    return f"Remote traceback{where}:\n{traceback_text.rstrip()}"


def pack_value(value: Any, settings: Settings) -> bytes:
    """The outcome of a call that returned ``value``. Raises RequestSizeError/SerializationError."""
    try:
        body = _OK + _serialize.pickle_value(value)
    except SerializationError:
        _name_the_culprit("the call's result", [("it", value)])
        raise
    return _check_size(_serialize.seal(body, settings.secret), settings, "The call's result")


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


def _smaller(exc: BaseException, budget: int) -> bytes:
    """The pickle of an exception of the same type with its message truncated, if that type
    takes a message and the result fits; ``b""`` otherwise (``unpack`` raises RemoteError)."""
    try:
        small = type(exc)(truncate(str(exc), budget // 2))
        blob: bytes = cloudpickle.dumps(small)
    except Exception:
        return b""
    return blob if len(blob) <= budget else b""


def pack_error(
    exc: BaseException, traceback_text: str, settings: Settings, call_id: str | None = None
) -> bytes:
    """The outcome of a call that raised ``exc``, at most ``CHUTE_MAX_VALUE_BYTES``.

    The exception is pickled with the remote traceback as a note (whoever unpickles it sees
    where it was raised); without a pickle (``exc`` cannot be pickled) readers raise a
    RemoteError with the summary instead. The traceback is truncated (with a marker) to a
    share of the limit; an exception that pickles larger than its share is stored with its
    message truncated the same way."""
    limit = settings.limits.max_value_bytes
    budget = max(limit // 2 - _OVERHEAD, 0)
    traceback_text = truncate(traceback_text, budget)
    note = _note(traceback_text, call_id) if traceback_text else None
    had_notes = hasattr(exc, "__notes__")
    try:
        if note is not None:
            exc.add_note(note)  # removed again below: the caller's exception is left as it was
        blob = cloudpickle.dumps(exc)
    except Exception:
        blob = b""
    finally:
        notes = getattr(exc, "__notes__", None)
        if note is not None and isinstance(notes, list) and note in notes:
            notes.remove(note)
            if not had_notes:
                del exc.__notes__
    if len(blob) > budget:
        blob = _smaller(exc, budget)
    kind = type(exc)
    texts = [error_line(exc), traceback_text, f"{kind.__module__}.{kind.__qualname__}"]
    data = _seal_error(texts, blob, settings)
    if len(data) > limit:  # a tiny limit: keep only what must be there
        data = _seal_error([texts[0][: max(limit // 4, 1)], "", texts[2]], b"", settings)
    return data


def _seal_error(texts: list[str], blob: bytes, settings: Settings) -> bytes:
    parts = [t.encode("utf-8", "replace") for t in texts]
    body = b"".join([_ERR, _HEADER.pack(*map(len, parts)), *parts, blob])
    return _serialize.seal(body, settings.secret)


@dataclass(frozen=True)
class Outcome:
    """An outcome taken apart (``split``); nothing in it has been unpickled.

    ``ok``: ``value`` is the return value's pickle. Otherwise ``summary``, ``traceback`` and
    ``exc_type`` describe the exception and ``exception`` is its pickle (``b""`` if none).
    """

    ok: bool
    value: bytes = b""
    summary: str = ""
    traceback: str = ""
    exc_type: str = ""
    exception: bytes = b""


def split(data: bytes, secret: bytes | None, what: str = "a call outcome") -> Outcome:
    """Verify an outcome's signature (when ``secret`` is set) and take it apart, unpickling
    nothing.

    Raises:
        IntegrityError: a bad or missing signature.
        DeserializationError: not an outcome of this format (or one stored by an older chute).
    """
    body = _serialize.unseal(data, secret, what)
    return _split_body(body, what)


def _split_body(body: bytes, what: str) -> Outcome:
    kind = body[:1]
    if kind == _OK:
        return Outcome(True, value=body[1:])
    if kind == _ERR and len(body) >= 1 + _HEADER.size:
        sizes = _HEADER.unpack_from(body, 1)
        start = 1 + _HEADER.size
        texts = []
        for size in sizes:
            texts.append(body[start : start + size].decode("utf-8", "replace"))
            start += size
        if start <= len(body):
            summary, traceback_text, exc_type = texts
            return Outcome(
                False, summary=summary, traceback=traceback_text, exc_type=exc_type, exception=body[start:]
            )
    if body[:1] == bytes([_LEGACY]):
        raise DeserializationError(f"Cannot read {what}: it was stored by an older version of chute.")
    raise DeserializationError(f"Cannot read {what}: not a chute call outcome.")


def unpack(data: bytes, settings: Settings, call_id: str) -> Any:
    """The call's return value, or raise the exception it failed with."""
    what = f"the result of {call_id}"
    body = _serialize.unseal(data, settings.secret, what)
    if body[:1] == bytes([_LEGACY]):
        return _unpack_legacy(_serialize.unpickle(body, what), call_id)
    outcome = _split_body(body, what)
    if outcome.ok:
        return _serialize.unpickle(outcome.value, what)
    if not outcome.exception:
        raise RemoteError(outcome.summary)
    exc: Any
    try:
        exc = cloudpickle.loads(outcome.exception)
    except Exception as load_error:
        raise DeserializationError(
            f"Function call {call_id} failed with {outcome.summary}, and that exception cannot be "
            f"deserialized here ({type(load_error).__name__}: {load_error})."
            + (f"\n{_note(outcome.traceback, call_id)}" if outcome.traceback else "")
        ) from None
    if not isinstance(exc, BaseException):
        # A class whose __reduce__ rebuilds something else: raise what we know instead.
        exc = RemoteError(f"Function call {call_id} failed with {outcome.summary}")
        if outcome.traceback:
            exc.add_note(_note(outcome.traceback, call_id))
    raise exc


def _unpack_legacy(outcome: Any, call_id: str) -> Any:
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
        exc = RemoteError(f"Function call {call_id} failed with {summary}")
    if traceback_text:
        exc.add_note(_note(traceback_text, call_id))
    raise exc


def traceback_of(data: bytes, settings: Settings) -> str | None:
    """The remote traceback text of a failed outcome, without unpickling the exception."""
    try:
        body = _serialize.unseal(data, settings.secret, "a call outcome")
        if body[:1] == bytes([_LEGACY]):
            legacy = _serialize.unpickle(body, "a call outcome")
            return None if legacy[0] != "err" else str(legacy[2] or legacy[1])
        outcome = _split_body(body, "a call outcome")
    except Exception:
        return None
    if outcome.ok:
        return None
    return outcome.traceback or outcome.summary
