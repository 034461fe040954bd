"""``chute run FILE[::NAME] [--option value …]``: what ``modal run`` does, for chute apps.

``NAME`` picks a local entrypoint, a function, or ``Class.method``, as ``modal run`` resolves it:
candidates are the module's variables (``LocalEntrypoint``, ``Function``, ``Cls`` methods as
``var.method``) and, for every ``App`` variable, ``appvar.tag`` and ``appvar.Class.method``. A
name matches exactly or as a prefix (``x`` matches ``x.*``). The highest priority wins: module
entrypoint > module function/method > app entrypoint > app function/method, and it must be
unique there. The target's parameters become ``--options`` (``_`` → ``-``) typed by their
annotations: str, int, float, bool (``--x/--no-x``), datetime, ``Literal`` of str or int,
``Optional[T]``; ``*args`` alone takes the remaining tokens.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chute._entrypoint import LocalEntrypoint
from chute.exception import ExecutionError, InvalidError

if TYPE_CHECKING:
    from chute.app import App


@dataclass(frozen=True)
class Runnable:
    """One candidate of ``chute run``: its names, priority (lower wins) and what to run."""

    names: tuple[str, ...]
    priority: int
    kind: str  # "entrypoint" | "function" | "method"
    target: Any  # LocalEntrypoint | Function | (Cls, method name)
    app: App


def runnables(module: types.ModuleType) -> list[Runnable]:
    """Every runnable of the module, with all its names (a runnable reachable by several names
    keeps the best priority)."""
    found: dict[int, Runnable] = {}
    for names, priority, kind, target, key, app in [*_module_level(module), *_app_level(module)]:
        old = found.get(id(key))
        if old is None:
            found[id(key)] = Runnable(tuple(names), priority, kind, target, app)
        elif priority < old.priority:
            found[id(key)] = Runnable((*names, *old.names), priority, kind, target, app)
        else:
            found[id(key)] = Runnable((*old.names, *names), old.priority, old.kind, old.target, old.app)
    return list(found.values())


_Candidate = tuple[list[str], int, str, Any, Any, "App"]


def _module_level(module: types.ModuleType) -> list[_Candidate]:
    from chute.app import Function
    from chute.cls import Cls

    out: list[_Candidate] = []
    for var, value in vars(module).items():
        if isinstance(value, LocalEntrypoint):
            out.append(([var], 0, "entrypoint", value, value, value.app))
        elif isinstance(value, Function) and "." not in value.name and (app := _app_of(value)) is not None:
            out.append(([var], 1, "function", value, value, app))
        elif isinstance(value, Cls) and (app := _app_of_cls(value)) is not None:
            for method, fn in value._methods.items():
                out.append(([f"{var}.{method}"], 1, "method", (value, method), fn, app))
    return out


def _app_level(module: types.ModuleType) -> list[_Candidate]:
    from chute.app import App

    out: list[_Candidate] = []
    for var, app in vars(module).items():
        if not isinstance(app, App):
            continue
        for tag, entry in app.entrypoints.items():
            out.append(([f"{var}.{tag}"], 2, "entrypoint", entry, entry, app))
        for fn in app.functions.values():
            if "." not in fn.name:
                out.append(([f"{var}.{fn.name}"], 3, "function", fn, fn, app))
        for cls in app.classes.values():
            for method, fn in cls._methods.items():
                out.append(([f"{var}.{cls.name}.{method}"], 3, "method", (cls, method), fn, app))
    return out


def _app_of(fn: Any) -> App | None:
    from chute.app import _registry

    for app in _registry.get(fn.app_name, []):
        if any(f is fn for f in app.functions.values()):
            return app
    return None


def _app_of_cls(cls: Any) -> App | None:
    from chute.app import _registry

    for app in _registry.get(cls.app_name, []):
        if any(c is cls for c in app.classes.values()):
            return app
    return None


def pick(module: types.ModuleType, name: str | None, ref: str) -> Runnable:
    """The runnable ``name`` selects (or the only one at the best priority).

    Raises:
        InvalidError: nothing matches, or several match at the winning priority.
    """
    candidates = runnables(module)
    if name is not None:
        candidates = [r for r in candidates if any(n == name or n.startswith(name + ".") for n in r.names)]
    if not candidates:
        every = sorted(n for r in runnables(module) for n in r.names)
        raise InvalidError(f"{ref}: nothing to run named {name!r}. Runnables: {', '.join(every) or 'none'}.")
    best = min(r.priority for r in candidates)
    winners = [r for r in candidates if r.priority == best]
    if len(winners) > 1:
        listing = ", ".join(sorted(r.names[0] for r in winners))
        raise InvalidError(
            f"{ref} has several runnables ({listing}): pick one with {ref.split('::')[0]}::NAME."
        )
    return winners[0]


def split_ref(ref: str) -> tuple[str, str | None]:
    """``file.py::name`` → (file, name); a single ``:`` is refused with a hint.

    Raises:
        InvalidError: ``file.py:name``.
    """
    if "::" in ref:
        file, name = ref.split("::", 1)
        return file, name or None
    if ":" in ref and not Path(ref).exists():
        file, _, name = ref.rpartition(":")
        raise InvalidError(f"Invalid reference {ref!r}: did you mean '{file}::{name}'?")
    return ref, None


# -- command-line options ---------------------------------------------------------------------------


class _LiteralInt(click.Choice):  # type: ignore[type-arg]
    def __init__(self, values: tuple[int, ...]) -> None:
        self.int_values = {str(v): v for v in values}
        super().__init__(list(self.int_values))

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value in self.int_values.values():
            return value
        return self.int_values[super().convert(str(value), param, ctx)]


_PARSERS: dict[Any, Any] = {str: str, int: int, float: float, bool: bool, datetime.datetime: click.DateTime()}


def _parser(name: str, hint: Any) -> tuple[Any, bool]:
    """(click type, is_flag) for an annotation. Raises InvalidError for unsupported ones."""
    if hint is inspect.Parameter.empty:
        return str, False
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _parser(name, args[0])
    if origin is typing.Literal:
        values = typing.get_args(hint)
        if all(isinstance(v, str) for v in values):
            return click.Choice(list(values)), False
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return _LiteralInt(values), False
    if hint in _PARSERS:
        return _PARSERS[hint], hint is bool
    raise InvalidError(f"Parameter `{name}` has unparseable annotation: {hint}")


def _options_of(func: Callable[..., Any], skip_first: bool = False) -> tuple[list[click.Parameter], bool]:
    """click options for the function's parameters, and whether it takes ``*args``."""
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise ExecutionError(
            f"Unable to generate command line interface: unparseable type hints: {exc}"
        ) from exc
    params = list(inspect.signature(func).parameters.values())[1 if skip_first else 0 :]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if variadic and named:
        raise InvalidError(
            "Functions with variable-length positional arguments (*args) cannot have other parameters."
        )
    out: list[click.Parameter] = []
    for p in named:
        cli = p.name.replace("_", "-")
        kind, flag = _parser(p.name, hints.get(p.name, inspect.Parameter.empty))
        decl = f"--{cli}/--no-{cli}" if flag else f"--{cli}"
        extra: dict[str, Any] = {"required": True} if p.default is p.empty else {"default": p.default}
        out.append(click.Option([decl, p.name], type=kind, show_default=p.default is not p.empty, **extra))
    return out, variadic


def _class_options(cls: Any) -> list[click.Parameter]:
    from chute._partial import _NO_DEFAULT

    out: list[click.Parameter] = []
    for name, kind in cls._types.items():
        default = inspect.getattr_static(cls._user_cls, name).default
        flag = kind is bool
        cli = name.replace("_", "-")
        decl = f"--{cli}/--no-{cli}" if flag else f"--{cli}"
        extra: dict[str, Any] = {"required": True} if default is _NO_DEFAULT else {"default": default}
        out.append(click.Option([decl, name], type=kind if kind is not bytes else str, **extra))
    return out


def build_call(runnable: Runnable, detach: bool) -> tuple[click.Command, list[Any]]:
    """A click command parsing the runnable's options; calling it stores the result in the list.

    Raises:
        InvalidError: unsupported annotations, or a generator function as the target.
    """
    result: list[Any] = []
    if runnable.kind == "entrypoint":
        raw = runnable.target.raw_f
        params, variadic = _options_of(raw)

        def call(args: Sequence[str], kwargs: dict[str, Any]) -> Any:
            value = raw(*args, **kwargs)
            return asyncio.run(value) if inspect.iscoroutine(value) else value

    elif runnable.kind == "function":
        fn = runnable.target
        if fn.spec.is_generator:
            raise InvalidError(
                "A generator function cannot be called with `chute run`: use a local entrypoint."
            )
        params, variadic = _options_of(fn._raw)

        def call(args: Sequence[str], kwargs: dict[str, Any]) -> Any:
            return fn.spawn(*args, **kwargs).get() if detach else fn.remote(*args, **kwargs)

    else:
        cls, method = runnable.target
        method_fn = cls._methods[method]
        if method_fn.spec.is_generator:
            raise InvalidError(
                "A generator method cannot be called with `chute run`: use a local entrypoint."
            )
        params, variadic = _options_of(getattr(cls._user_cls, method).raw_f, skip_first=True)
        class_params = _class_options(cls)
        params = class_params + params
        names = {p.name for p in class_params}

        def call(args: Sequence[str], kwargs: dict[str, Any]) -> Any:
            obj = cls(**{k: v for k, v in kwargs.items() if k in names})
            bound = getattr(obj, method)
            rest = {k: v for k, v in kwargs.items() if k not in names}
            return bound.spawn(*args, **rest).get() if detach else bound.remote(*args, **rest)

    def command(**kwargs: Any) -> None:
        ctx = click.get_current_context()
        result.append(call(tuple(ctx.args) if variadic else (), kwargs))

    cmd = click.Command(
        runnable.names[0],
        params=params,
        callback=command,
        context_settings={"allow_extra_args": variadic, "ignore_unknown_options": variadic},
    )
    return cmd, result


def write_result(path: str, value: Any) -> None:
    """``--write-result PATH``: the value must be str or bytes (as in Modal).

    Raises:
        InvalidError: another type.
    """
    if isinstance(value, str):
        Path(path).write_text(value)
    elif isinstance(value, bytes):
        Path(path).write_bytes(value)
    else:
        raise InvalidError(
            f"Function must return str or bytes when using `--write-result`; got {type(value).__name__}."
        )


def run_ref(ref: str, args: Sequence[str], *, env: str | None, detach: bool, write: str | None) -> int:
    """Load ``ref``, parse ``args`` as the target's options, run it inside ``app.run()``.

    Returns the exit code (click usage errors: 2).

    Raises:
        InvalidError: a bad reference or target.
        Exception: what the entrypoint (or the remote function) raised.
    """
    from chute.worker import load_target

    file, name = split_ref(ref)
    module = load_target(file)
    runnable = pick(module, name, ref)
    cmd, result = build_call(runnable, detach)
    try:
        ctx = cmd.make_context(f"chute run {ref}", list(args))
    except click.exceptions.Exit as stop:
        return int(stop.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    with runnable.app.run(environment_name=env, detach=detach), ctx:
        cmd.invoke(ctx)
    if write is not None and result:
        write_result(write, result[0])
    return 0
