"""``chute.parameter`` and the method decorators ``@chute.enter``/``@chute.exit``/``@chute.method``.

They mark a class body; ``@app.cls`` (``chute.cls``) reads the marks. A marked method stays a
descriptor: inside an instance, ``self.method`` is the instance's bound ``Function`` for
``@chute.method``s (``.remote``/``.local``, or call it), and the plain bound method otherwise.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any

from chute.exception import InvalidError


class _NoDefault:
    def __repr__(self) -> str:
        return "chute.cls._NO_DEFAULT"


_NO_DEFAULT: Any = _NoDefault()


class _Parameter:
    """What ``chute.parameter()`` puts in a class body."""

    def __init__(self, default: Any, init: bool) -> None:
        self.default = default
        self.init = init

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        if obj is not None:
            if self.default is _NO_DEFAULT:
                raise AttributeError("field has no default value and no specified value")
            return self.default
        return self


def parameter(*, default: Any = _NO_DEFAULT, init: bool = True) -> Any:
    """Declare a class parameter: ``name: str = chute.parameter()`` (int, str, bytes or bool).

    ``init=False`` only annotates an attribute (set by an enter hook, say): not a parameter.

    Example:
        ```python
        @app.cls()
        class Model:
            size: int = chute.parameter(default=3)
        ```
    """
    return _Parameter(default, init)


class Flags(enum.IntFlag):
    """What a decorator made of a method (Modal's ``_PartialFunctionFlags`` values)."""

    ENTER_PRE_SNAPSHOT = 2
    ENTER_POST_SNAPSHOT = 4
    EXIT = 8
    CALLABLE_INTERFACE = 16


_LIFECYCLE = Flags.ENTER_PRE_SNAPSHOT | Flags.ENTER_POST_SNAPSHOT | Flags.EXIT


class PartialFunction:
    """A method marked by ``@chute.enter``/``@chute.exit``/``@chute.method``, in a class body."""

    def __init__(self, raw_f: Callable[..., Any], flags: Flags, is_generator: bool | None = None) -> None:
        self.raw_f = raw_f
        self.flags = flags
        self.is_generator = is_generator
        functools.update_wrapper(self, raw_f)  # type: ignore[arg-type]

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        bound = getattr(obj, "_chute_obj", None)
        if bound is not None and self.flags & Flags.CALLABLE_INTERFACE:
            # Inside a method: self.other is the Function of the same instance (.remote/.local, or call it).
            return getattr(bound, self.raw_f.__name__)
        return self.raw_f.__get__(obj, objtype)


def _decorator(flags: Flags, is_generator: bool | None = None) -> Callable[[Any], PartialFunction]:
    from chute.function import Function

    def decorate(f: Any) -> PartialFunction:
        if isinstance(f, Function):
            raise InvalidError(
                "Chute's method decorators must go below @app.function/@app.cls: swap the order."
            )
        if isinstance(f, PartialFunction):
            merged = f.flags | flags
            if merged & Flags.CALLABLE_INTERFACE and merged & _LIFECYCLE:
                raise InvalidError(
                    f"{f.raw_f.__name__}: @chute.method cannot be combined with enter/exit hooks."
                )
            return PartialFunction(f.raw_f, merged, f.is_generator if is_generator is None else is_generator)
        if not callable(f):
            raise TypeError(f"Expected a function, got {type(f).__name__}.")
        return PartialFunction(f, flags, is_generator)

    return decorate


def enter(*, snap: bool = False) -> Callable[[Any], PartialFunction]:
    """Mark a method (``self`` only) run when an instance is built, before it serves a call.

    ``snap=True`` hooks run first (they need ``enable_memory_snapshot=True`` on ``@app.cls``).
    """
    return _decorator(Flags.ENTER_PRE_SNAPSHOT if snap else Flags.ENTER_POST_SNAPSHOT)


def exit() -> Callable[[Any], PartialFunction]:
    """Mark a method (``self`` only) run when an instance's executor stops."""
    return _decorator(Flags.EXIT)


def method(*, is_generator: bool | None = None) -> Callable[[Any], PartialFunction]:
    """Mark a method callable with ``.remote``/``.spawn``/``.map`` (``.remote_gen`` for generators)."""
    return _decorator(Flags.CALLABLE_INTERFACE, is_generator)


def partials(user_cls: type, flags: Flags) -> dict[str, PartialFunction]:
    """The class's marked methods with any of ``flags``, base classes first, then definition order."""
    out: dict[str, PartialFunction] = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, PartialFunction) and value.flags & flags:
                out[name] = value
    return out
