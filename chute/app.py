"""``chute.App`` and ``chute.Function``: define job functions, spawn calls, look functions up.

Example:
    ```python
    # my_job_queue.py
    import chute

    app = chute.App("my-job-queue")

    @app.function(retries=3, timeout=60, max_containers=4)
    def process_job(data):
        return {"result": data}

    @app.local_entrypoint()
    def main():
        call = process_job.spawn("my-data")
        print(chute.FunctionCall.from_id(call.object_id).get(timeout=5))
    ```

``chute run my_job_queue.py`` runs ``main`` with workers; ``chute deploy`` registers the app
so ``chute.Function.from_name("my-job-queue", "process_job")`` works from any process, and
``chute worker my_job_queue.py`` runs its autoscaled worker pool on any machine.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from chute import _validate
from chute._async import call_ops as _call_ops_async
from chute._dual import dual
from chute._inputs import check_concurrency, policies_of
from chute._jobs import (
    DEFAULT_MAX_CONTAINERS,
    DEFAULT_RESULT_TTL,
    DEFAULT_SCALEDOWN_WINDOW,
    DEFAULT_TIMEOUT,
    MAX_LOST_ATTEMPTS,
    FunctionRef,
    FunctionSpec,
    Retries,
    check_spec,
)
from chute._mapping import BoundForEach, BoundMap, BoundSpawnMap, BoundStarmap
from chute._sync import call_ops as _call_ops
from chute.call import FunctionCall
from chute.exception import InvalidError

__all__ = ["MAX_LOST_ATTEMPTS", "App", "Function", "FunctionSpec", "Retries", "find_function"]

P = ParamSpec("P")
R = TypeVar("R")


class Function(Generic[P, R]):
    """A job function: call ``spawn``/``remote``/``map`` to run it on workers, ``local`` to run it here.

    Get one from ``@app.function()`` or, in any process, ``Function.from_name(app, name)``.
    """

    _ref: FunctionRef
    _raw: Callable[P, R] | None

    def __init__(self) -> None:
        raise RuntimeError("Define functions with @app.function() or look them up with Function.from_name().")

    @classmethod
    def _new(
        cls,
        app_name: str,
        name: str,
        spec: FunctionSpec,
        raw: Callable[P, R] | None,
        env: str | None = None,
        checked: bool = True,
    ) -> Function[P, R]:
        fn: Function[P, R] = cls.__new__(cls)
        fn._ref = FunctionRef(app_name, name, spec, env, checked, wrap_call=FunctionCall._of_ref)
        fn._raw = raw
        return fn

    @property
    def app_name(self) -> str:
        """The name of the app the function belongs to."""
        return self._ref.app_name

    @property
    def name(self) -> str:
        """The function's name within its app."""
        return self._ref.name

    @property
    def spec(self) -> FunctionSpec:
        """How the function runs (for a function looked up by name: once it has been used)."""
        return self._ref.spec

    @classmethod
    def from_name(
        cls, app_name: str, name: str, *, environment_name: str | None = None
    ) -> Function[..., Any]:
        """A deployed function (no I/O: a missing one raises ``NotFoundError`` on first use).

        Raises:
            InvalidError: invalid app or function name.
        """
        _validate.check_name(app_name, "App")
        _validate.check_name(name, "Function")
        env = _validate.check_env(environment_name) if environment_name else None
        return cls._new(app_name, name, FunctionSpec(), None, env, checked=False)

    def with_options(self, *, idempotency_key: str | None = None) -> Function[P, R]:
        """A copy whose ``spawn`` is idempotent: spawning again with the same key (while the
        first call's result is kept) returns the first call instead of running it twice."""
        fn: Function[P, R] = Function.__new__(Function)
        fn._ref = dataclasses.replace(self._ref, idempotency_key=idempotency_key)
        fn._raw = self._raw
        return fn

    spawn = dual(_call_ops.spawn, _call_ops_async.spawn, via="_ref")
    remote = dual(_call_ops.remote, _call_ops_async.remote, via="_ref")

    def local(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function in this process.

        Raises:
            ExecutionError: the function was looked up by name (its code is not here).
        """
        if self._raw is None:
            from chute.exception import ExecutionError

            raise ExecutionError(f"{self.app_name}.{self.name} was looked up by name: its code is not here.")
        return self._raw(*args, **kwargs)

    @property
    def map(self) -> BoundMap:
        """``f.map(*iterables, kwargs={}, order_outputs=True, return_exceptions=False)``: run the
        function on every element in parallel on workers (inputs submitted in batches); results
        in input order. ``async for r in f.map.aio(...)`` on an event loop."""
        return BoundMap(self._ref)

    @property
    def starmap(self) -> BoundStarmap:
        """``f.starmap(input_iterator, *, kwargs={}, ...)``: like ``map``, each element a tuple of
        positional arguments. ``f.starmap.aio(...)`` too."""
        return BoundStarmap(self._ref)

    @property
    def for_each(self) -> BoundForEach:
        """``f.for_each(*iterables, kwargs={}, ignore_exceptions=False)``: run on every element and
        wait for all; discard the results. ``await f.for_each.aio(...)`` too."""
        return BoundForEach(self._ref)

    @property
    def spawn_map(self) -> BoundSpawnMap:
        """``f.spawn_map(*iterables, kwargs={})``: submit every call (in batches) and return at once
        (None, as in Modal). ``await f.spawn_map.aio(...)`` too."""
        return BoundSpawnMap(self._ref)

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Function[P, R]:
        """A variant of this function that runs like ``@chute.concurrent(max_inputs=...)``, with
        its own executors (it autoscales independently of the base function, as in Modal).

        Workers serve what the app file defines, so create the variant at module level of the
        app file (``fast = slow.with_concurrency(max_inputs=8)``): it is registered in the app
        as ``<name>-c<max_inputs>[-t<target_inputs>]`` and deployed and served with it.

        Raises:
            InvalidError: ``max_inputs < 1`` or ``target_inputs > max_inputs``.
        """
        policy = check_concurrency(max_inputs, target_inputs)
        suffix = f"-c{policy.max_inputs}" + (f"-t{policy.target_inputs}" if policy.target_inputs else "")
        name = _validate.check_name(self.name + suffix, "Function")
        spec = dataclasses.replace(
            self.spec, max_inputs=policy.max_inputs, target_inputs=policy.target_inputs
        )
        variant = Function._new(self.app_name, name, spec, self._raw, self._ref.env_name, self._ref.checked)
        for app in _registry.get(self.app_name, []):
            if self.name in app.functions:
                app.functions.setdefault(name, variant)
                return app.functions[name]
        return variant

    def get_web_url(self) -> str | None:
        """The URL of a web endpoint (``@chute.asgi_app()`` etc.), None for other functions.

        Stable: the endpoint's port is allocated once and kept in the backend (see
        ``chute.web.ports``); ``chute serve`` serves it there.

        Raises:
            NotFoundError: the function was looked up by name and is not deployed.

        Example:
            ```python
            url = chute.Function.from_name("fastapi-modal", "fastapi_app").get_web_url()
            httpx.post(f"{url}/submit", params={"data": "x"})
            ```
        """
        _call_ops.ensure_deployed(self._ref)
        if self.spec.web is None:
            return None
        from chute.web.ports import web_url
        from chute.web.spec import WebSpec

        return web_url(self._ref.env, self.app_name, self.name, WebSpec.from_dict(self.spec.web))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.local(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # By reference: the receiver looks the deployed function up by name.
        return (_function_by_name, (self.app_name, self.name, self._ref.env_name))

    def __repr__(self) -> str:
        return f"Function({self.app_name}.{self.name})"


def _function_by_name(app_name: str, name: str, env: str | None) -> Function[..., Any]:
    return Function.from_name(app_name, name, environment_name=env)


class App:
    """A named group of job functions, and the entrypoint ``chute run`` calls.

    Raises:
        InvalidError: invalid name.
    """

    def __init__(self, name: str, *, image: Any = None) -> None:
        self.name = _validate.check_name(name, "App")
        self.image = image  # recorded only (chute.Image builds nothing yet)
        self.functions: dict[str, Function[Any, Any]] = {}
        self.entrypoints: dict[str, Callable[..., Any]] = {}
        _registry.setdefault(self.name, []).append(self)

    def function(
        self,
        *,
        retries: int | Retries | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_containers: int | None = None,
        min_containers: int = 0,
        scaledown_window: float = DEFAULT_SCALEDOWN_WINDOW,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> Callable[[Callable[P, R]], Function[P, R]]:
        """Make a job function.

        Args:
            retries: retries after a failed attempt (an exception, a timeout or a crash of
                the process running it): an int (1 s apart) or a ``chute.Retries``.
            timeout: seconds one attempt may run before its process is killed (1 s .. 24 h).
            max_containers: at most this many calls run at once, across every worker of the
                backend (default 8).
            min_containers: worker processes kept warm per ``chute worker`` even when idle.
            scaledown_window: seconds an idle worker process is kept before it exits.
            result_ttl: seconds a result stays available to ``FunctionCall.get`` (default 7 days).

        Raises:
            InvalidError: an option is out of range, or the function is a generator.
        """
        check_spec(timeout, max_containers, min_containers, scaledown_window, result_ttl)
        spec = FunctionSpec(
            retries=Retries.of(retries),
            timeout=float(timeout),
            max_containers=max_containers or DEFAULT_MAX_CONTAINERS,
            min_containers=min_containers,
            scaledown_window=float(scaledown_window),
            result_ttl=float(result_ttl),
        )

        def decorate(raw: Callable[P, R]) -> Function[P, R]:
            if inspect.isgeneratorfunction(raw) or inspect.isasyncgenfunction(raw):
                raise InvalidError(f"Cannot make generator function {raw.__name__} a chute function.")
            name = _validate.check_name(raw.__name__, "Function")
            web = _web_spec(raw, spec)
            concurrency, batching = policies_of(raw)
            fn_spec = dataclasses.replace(spec, module=raw.__module__, web=web)
            if concurrency is not None:
                fn_spec = dataclasses.replace(
                    fn_spec, max_inputs=concurrency.max_inputs, target_inputs=concurrency.target_inputs
                )
            if batching is not None:
                fn_spec = dataclasses.replace(
                    fn_spec, batch_max_size=batching.max_batch_size, batch_wait_ms=batching.wait_ms
                )
            fn = Function._new(self.name, name, fn_spec, raw)
            self.functions[name] = fn
            return fn

        return decorate

    def local_entrypoint(self) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Mark the function ``chute run FILE`` calls (with workers for this app running)."""

        def decorate(raw: Callable[P, R]) -> Callable[P, R]:
            self.entrypoints[raw.__name__] = raw
            return raw

        return decorate

    def deploy(self, *, environment_name: str | None = None) -> None:
        """Register this app's functions so ``Function.from_name`` finds them (``chute deploy``)."""
        specs = [(name, fn.spec) for name, fn in self.functions.items()]
        _call_ops.deploy(self.name, specs, environment_name)

    def __repr__(self) -> str:
        return f"App({self.name!r}, functions={sorted(self.functions)})"


# Every App constructed in this process, by name (workers find functions here).
_registry: dict[str, list[App]] = {}


def _web_spec(raw: Callable[..., Any], spec: FunctionSpec) -> dict[str, Any] | None:
    """The declaration a web decorator (``chute.asgi_app`` …) left on ``raw``, if any."""
    from chute.web.spec import WEB_ATTR

    web = getattr(raw, WEB_ATTR, None)
    if web is None:
        return None
    if spec.retries.max_retries:
        raise InvalidError(f"Web endpoint {raw.__name__} cannot have retries: a request is not retried.")
    return dict(web.to_dict())


def find_function(app_name: str, name: str) -> Function[Any, Any] | None:
    """The function defined in this process under ``app_name.name``, if any."""
    for app in _registry.get(app_name, []):
        if name in app.functions:
            return app.functions[name]
    return None
