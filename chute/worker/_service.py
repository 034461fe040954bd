"""What an executor serves: a function, how to call it, and its lifecycle hooks."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

from chute._app_file import load_target
from chute.app import Function, find_function
from chute.exception import InvalidError


class Service:
    """One executor's user code: ``handler`` runs each input (or batch).

    ``enter`` runs once, before the first input; ``exit`` once, when the executor stops
    (scale-down, the worker's SIGTERM). An ``@app.cls`` method's handler
    (``chute.cls.run_method``) builds the executor's instance for the call's parameters on
    first use (``@enter`` hooks run then, once) and ``exit`` runs the ``@exit`` hooks of
    every instance built.
    """

    def __init__(self, fn: Function[..., Any]) -> None:
        if fn._raw is None:
            raise InvalidError(f"{fn.app_name}.{fn.name} has no code in this process.")
        spec = fn.spec
        self.name = f"{fn.app_name}.{fn.name}"
        self.raw: Callable[..., Any] = fn._raw
        self.handler: Callable[..., Any] = fn._raw
        self.is_async = inspect.iscoroutinefunction(fn._raw)
        self.max_inputs = spec.max_inputs
        self.batch_max_size = spec.batch_max_size
        self.batch_wait_ms = spec.batch_wait_ms

    @property
    def serial(self) -> bool:
        """A plain sync function: one call at a time, in the main thread."""
        return not self.is_async and self.max_inputs == 1 and self.batch_max_size is None

    def enter(self) -> None:
        """Set-up before the first input. An ``@app.cls`` without parameters whose ``@enter``
        hooks are all sync builds its one instance now, so its hooks run before the executor
        reports ready (within ``startup_timeout``); other classes build theirs on first use."""
        raw = self.raw
        if not isinstance(raw, functools.partial) or not raw.args:
            return
        from chute import cls as cls_module
        from chute._partial import Flags, partials

        target = raw.args[0]
        if raw.func is not cls_module.run_method or not isinstance(target, cls_module.Cls) or target._types:
            return
        user_cls = target._require_local()
        hooks = [
            *partials(user_cls, Flags.ENTER_PRE_SNAPSHOT).values(),
            *partials(user_cls, Flags.ENTER_POST_SNAPSHOT).values(),
        ]
        if not any(inspect.iscoroutinefunction(h.raw_f) for h in hooks):
            cls_module.executor_instance(target, {})

    def exit(self) -> None:
        """Tear-down when the executor stops (``@app.cls``: ``@exit`` hooks of the instances
        this executor built, one per parameter set, each entered by its first call)."""
        cls_module = sys.modules.get("chute.cls")
        if cls_module is not None:
            cls_module.exit_executor_instances()


def load_service(target: str, app: str, function: str) -> Service:
    """Import ``target`` and build the service of ``app.function``.

    Raises:
        InvalidError: the target cannot be imported or does not define the function.
    """
    load_target(target)
    fn = find_function(app, function)
    if fn is None:
        raise InvalidError(f"{target} defines no function {app}.{function}")
    return Service(fn)
