"""A call's arguments summary: a short, human-readable ``f(1, 'abc', x=[1, 2, 3, ...])``.

Made by the caller at submit and stored with the call, so that the call's detail (``chute call
status``, ``GET /calls/{id}``, the dashboard) can show the arguments without unpickling them:
unpickling runs code, and the server or dashboard may not even have the user's modules.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Iterable
from typing import Any

from chute._context import STREAM_KW

# Longest summary stored (characters, the ellipsis included).
MAX_SUMMARY = 200
_ELLIPSIS = "…"
# Types whose builtin repr is short and cannot raise (ints and strs: when small).
_PLAIN = (bool, float, type(None))
_SMALL_INT = 10**15
_SHORT_STR = 40


class _Repr(reprlib.Repr):
    """reprlib's bounds (depth, items per container, characters per value); an object whose
    ``__repr__`` raises reads as ``<Foo object>`` (no address: the summary is for people)."""

    def __init__(self) -> None:
        super().__init__()
        # Set one by one: Repr() takes no keyword arguments before Python 3.12.
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxarray = 6
        self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 4
        self.maxstring = _SHORT_STR
        self.maxlong = 40
        self.maxother = 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 10_000:  # str() of a huge int is slow (and refused past 4300 digits)
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            s = repr(x)
        except Exception:
            return f"<{_type_name(x)} object>"
        if len(s) > self.maxother:
            half = max(0, (self.maxother - 3) // 2)
            s = s[:half] + "..." + s[len(s) - (self.maxother - 3 - half) :]
        return s


def _type_name(x: Any) -> str:
    try:
        return type(x).__qualname__
    except Exception:
        return "?"


_REPR = _Repr()


def _plain(values: Iterable[Any]) -> bool:
    """Whether every value's builtin repr is short and cannot raise (most map inputs), so that
    reprlib (4 to 8 us on a small tuple) can be skipped. One loop, no call per value: it runs on
    the caller's hot path (each input of a map)."""
    for value in values:
        kind = type(value)
        if kind is int:
            if not -_SMALL_INT < value < _SMALL_INT:
                return False
        elif kind is str:
            if len(value) > _SHORT_STR:
                return False
        elif kind not in _PLAIN:
            return False
    return True


def _one(value: Any) -> str:
    """``value`` bounded; never raises (a repr that fails in reprlib itself reads as a placeholder)."""
    kind = type(value)
    if (kind is int and -_SMALL_INT < value < _SMALL_INT) or (kind is str and len(value) <= _SHORT_STR):
        return repr(value)
    if kind is tuple or kind is list:
        if len(value) <= _REPR.maxlist:
            if _plain(value):
                return repr(value)
        elif _plain(head := value[: _REPR.maxlist]):  # reprlib's form: the first items, then ...
            inner = ", ".join(map(repr, head))
            return f"[{inner}, ...]" if kind is list else f"({inner}, ...)"
    elif kind is dict:
        if len(value) <= _REPR.maxdict and _plain(value) and _plain(value.values()):
            return repr(value)
    elif _plain((value,)):
        return repr(value)
    try:
        return _REPR.repr(value)
    except Exception:
        return f"<{_type_name(value)} object>"


def _bounded(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """The reprs of many arguments, up to the first ones that fill a summary (and "…")."""
    parts: list[str] = []
    size = 0
    for key, value in itertools.chain(zip(itertools.repeat(""), args), kwargs.items()):
        if size > MAX_SUMMARY:
            parts.append(_ELLIPSIS)  # cut anyway: the rest is not repr'd
            break
        if key != STREAM_KW:
            parts.append(f"{key}={_one(value)}" if key else _one(value))
            size += len(parts[-1]) + 2
    return parts


def summarize(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The call ``name(*args, **kwargs)`` as short text: each value repr'd within reprlib's
    bounds, the whole cut to ``MAX_SUMMARY`` characters (ending in "…"). Never raises, whatever
    the arguments' ``__repr__`` does. chute's internal keyword arguments are left out.

    Example:
        ```python
        summarize("f", (1, "abc"), {"x": list(range(100))})
        # "f(1, 'abc', x=[0, 1, 2, 3, 4, 5, ...])"
        ```
    """
    if len(args) + len(kwargs) > 8:
        parts = _bounded(args, kwargs)
    else:
        parts = [_one(v) for v in args]
        if kwargs:
            parts += [f"{k}={_one(v)}" for k, v in kwargs.items() if k != STREAM_KW]
    text = f"{name}({', '.join(parts)})"
    if not text.isascii():
        # A __repr__ may return lone surrogates, which cannot be stored as UTF-8.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MAX_SUMMARY:
        text = text[: MAX_SUMMARY - len(_ELLIPSIS)] + _ELLIPSIS
    return text
