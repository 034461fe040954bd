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
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from chute import _options, _validate
from chute._async import call_ops as _call_ops_async
from chute._async import function_ops as _function_ops_async
from chute._async import gen_ops as _gen_ops_async
from chute._client import Client
from chute._dual import dual, dual_iter
from chute._jobs import DEFAULT_RESULT_TTL, MAX_LOST_ATTEMPTS, FunctionRef, FunctionSpec, Retries
from chute._options import FunctionOptions
from chute._sync import call_ops as _call_ops
from chute._sync import function_ops as _function_ops
from chute._sync import gen_ops as _gen_ops
from chute.call import FunctionCall
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.image import Image
    from chute.schedule import Schedule
    from chute.secret import Secret
    from chute.volume import Volume

__all__ = ["MAX_LOST_ATTEMPTS", "App", "Function", "FunctionSpec", "Retries", "find_function"]

P = ParamSpec("P")
R = TypeVar("R")


class Function(Generic[P, R]):
    """A job function: call ``spawn``/``remote``/``map`` to run it on workers, ``local`` to run it here.

    Get one from ``@app.function()`` or, in any process, ``Function.from_name(app, name)``.
    """

    _ref: FunctionRef
    _raw: Callable[P, R] | None
    # The live objects behind the options (image, secrets, volumes…): None when looked up by name.
    _options: FunctionOptions | None = None

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
        cls,
        app_name: str,
        name: str,
        *,
        version: int | None = None,
        environment_name: str | None = None,
        client: Client | None = None,
    ) -> Function[..., Any]:
        """A deployed function (no I/O: a missing one raises ``NotFoundError`` on first use).

        Raises:
            InvalidError: invalid app or function name, or a class method (``Cls.from_name``).
        """
        _validate.check_name(app_name, "App")
        _validate.check_name(name, "Function")
        if "." in name:
            raise InvalidError(
                f"Invalid Function name {name!r}: to use a class method, look the class up with "
                f"chute.Cls.from_name({app_name!r}, {name.split('.')[0]!r})."
            )
        env = _validate.check_env(environment_name) if environment_name else None
        return cls._new(app_name, name, FunctionSpec(), None, env, checked=False)

    def _copy(self, **ref_changes: Any) -> Function[P, R]:
        fn: Function[P, R] = Function.__new__(Function)
        fn._ref = dataclasses.replace(self._ref, **ref_changes)
        fn._raw, fn._options = self._raw, self._options
        return fn

    def with_options(
        self,
        *,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        gpu: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        volumes: dict[str | PurePosixPath, Volume] = {},  # noqa: B006 - Modal's signature; never mutated
        retries: int | Retries | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        timeout: int | None = None,
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        routing_region: str | None = None,
        idempotency_key: str | None = None,
    ) -> Function[P, R]:
        """A variant of the function with other options (Modal's ``with_options``).

        Set options replace the base ones (``secrets`` and ``volumes`` replace, they do not
        extend); ``None`` leaves an option unchanged. ``idempotency_key`` (chute's) makes
        ``spawn`` idempotent: spawning again with the same key, while the first call's result
        is kept, returns the first call instead of running it twice.

        The variant's calls go to the function's own workers; running them with the variant's
        timeout, retries and resources is the worker's part (not yet applied per call).

        Raises:
            InvalidError: an option out of range.
        """
        fn = self._copy(idempotency_key=idempotency_key or self._ref.idempotency_key)
        fn._ref.spec, fn._options = _options.with_options(
            self.spec,
            self._options,
            cpu=cpu,
            memory=memory,
            gpu=gpu,
            env=env,
            secrets=secrets,
            volumes=volumes,
            retries=retries,
            max_containers=max_containers,
            buffer_containers=buffer_containers,
            scaledown_window=scaledown_window,
            timeout=timeout,
            region=region,
            cloud=cloud,
            routing_region=routing_region,
        )
        return fn

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Function[P, R]:
        """A variant that may run up to ``max_inputs`` calls at once per executor.

        Raises:
            InvalidError: ``max_inputs`` < 1, or ``target_inputs`` not an int in [1, max_inputs].
        """
        return self._copy(
            spec=dataclasses.replace(self.spec, **_options.check_concurrency(max_inputs, target_inputs))
        )

    remote_gen = dual_iter(_gen_ops.remote_gen, _gen_ops_async.remote_gen, via="_ref")
    get_current_stats = dual(
        _function_ops.get_current_stats, _function_ops_async.get_current_stats, via="_ref"
    )
    update_autoscaler = dual(
        _function_ops.update_autoscaler, _function_ops_async.update_autoscaler, via="_ref"
    )

    def hydrate(self, client: Client | None = None) -> Function[P, R]:
        """Look the function up now (``NotFoundError`` if it is not deployed); returns it."""
        _function_ops.hydrate(self._ref)
        return self

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

    def map(
        self, *iterables: Iterable[Any], order_outputs: bool = True, return_exceptions: bool = False
    ) -> _MapIter:
        """Run the function on every element (of the zipped iterables) in parallel on workers.

        Yields results in input order (``order_outputs=False``: as they finish). A failed call
        raises its exception unless ``return_exceptions=True``, which yields it instead. Shows
        a progress bar when stderr is a terminal. ``async for r in f.map.aio(...)`` too.

        Example:
            ```python
            squares = list(square.map(range(10)))
            ```
        """
        self._no_generator("map")
        return _MapIter(
            self, [(args, {}) for args in zip(*iterables, strict=False)], order_outputs, return_exceptions
        )

    def starmap(
        self,
        input_iterator: Iterable[Iterable[Any]],
        *,
        order_outputs: bool = True,
        return_exceptions: bool = False,
    ) -> _MapIter:
        """Like ``map``, but each element is a tuple of positional arguments."""
        self._no_generator("starmap")
        return _MapIter(
            self, [(tuple(args), {}) for args in input_iterator], order_outputs, return_exceptions
        )

    def for_each(self, *iterables: Iterable[Any], ignore_exceptions: bool = False) -> None:
        """Run the function on every element and wait for all; discard the results.

        Raises:
            Exception: the first failure, unless ``ignore_exceptions``.
        """
        for _ in self.map(*iterables, order_outputs=False, return_exceptions=ignore_exceptions):
            pass

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

    def _no_generator(self, method: str) -> None:
        if self.spec.is_generator:
            raise InvalidError(f"A generator function cannot be called with `.{method}(...)`.")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.local(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # By reference: the receiver looks the deployed function up by name.
        return (_function_by_name, (self.app_name, self.name, self._ref.env_name))

    def __repr__(self) -> str:
        return f"Function({self.app_name}.{self.name})"


def _function_by_name(app_name: str, name: str, env: str | None) -> Function[..., Any]:
    return Function.from_name(app_name, name, environment_name=env)


class _MapIter:
    """The iterator ``Function.map`` returns; ``.aio()`` gives the async version."""

    def __init__(
        self,
        fn: Function[Any, Any],
        arg_lists: list[tuple[tuple[Any, ...], dict[str, Any]]],
        order_outputs: bool,
        return_exceptions: bool,
    ) -> None:
        self._args = (fn._ref, arg_lists, order_outputs, return_exceptions)
        self._it: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._it = _call_ops.map_calls(*self._args)
        return next(self._it)

    def aio(self) -> AsyncIterator[Any]:
        return _call_ops_async.map_calls(*self._args)


class App:
    """A group of job functions and classes, and the entrypoints ``chute run`` calls.

    ``name`` defaults to the name of the module that creates the app (its file's stem), so the
    process submitting calls and the workers importing the file agree on it. ``image``,
    ``secrets`` and ``volumes`` are defaults for every function and class of the app.

    Raises:
        InvalidError: an invalid name, tag, image, secret list or volume path.

    Example:
        ```python
        app = chute.App("inference", secrets=[chute.Secret.from_name("hf")])

        @app.function
        def square(x: int) -> int:
            return x * x

        if __name__ == "__main__":
            with app.run():
                print(square.remote(3))
        ```
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        image: Image | None = None,
        secrets: Sequence[Secret] = [],
        volumes: dict[str | PurePosixPath, Volume] = {},  # noqa: B006
        include_source: bool = True,
    ) -> None:
        from chute import _app_setup

        self._module = _app_setup.caller_module()
        self.name = (
            _validate.check_name(name, "App") if name is not None else _app_setup.default_name(self._module)
        )
        self.tags, self.image, self.secrets, self.volumes = _app_setup.check_app_options(
            tags, image, secrets, volumes
        )
        self.include_source = include_source
        self.functions: dict[str, Function[Any, Any]] = {}
        self.classes: dict[str, Any] = {}  # name -> chute.Cls
        self.entrypoints: dict[str, Any] = {}  # name -> LocalEntrypoint
        self._running = False
        _registry.setdefault(self.name, []).append(self)

    @property
    def description(self) -> str:
        """The app's name (Modal's label for an app)."""
        return self.name

    @property
    def app_id(self) -> str | None:
        """None: chute identifies apps by name."""
        return None

    @_options.reject_removed
    def function(
        self,
        _f: Callable[..., Any] | None = None,
        /,
        *,
        image: Image | None = None,
        schedule: Schedule | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | list[str] | None = None,
        serialized: bool = False,
        network_file_systems: dict[str | PurePosixPath, Any] = {},  # noqa: B006
        volumes: dict[str | PurePosixPath, Volume] = {},  # noqa: B006
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        ephemeral_disk: int | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        proxy: Any = None,
        retries: int | Retries | None = None,
        timeout: int = 300,
        startup_timeout: int | None = None,
        name: str | None = None,
        is_generator: bool | None = None,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        routing_region: str | None = None,
        nonpreemptible: bool = False,
        enable_memory_snapshot: bool = False,
        block_network: bool = False,
        restrict_modal_access: bool = False,
        single_use_containers: bool = False,
        i6pn: bool | None = None,
        include_source: bool | None = None,
        experimental_options: dict[str, Any] | None = None,
        _experimental_restrict_output: bool = False,
        max_inputs: int | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> Any:
        """Make a job function: ``@app.function`` or ``@app.function(...)`` with Modal's options.

        Options with a local meaning: ``retries`` (an int, 1 s apart, or ``chute.Retries``),
        ``timeout`` (seconds per attempt, 1 s .. 24 h), ``startup_timeout``, ``max_containers``
        (calls running at once across every worker, default 8), ``min_containers``,
        ``buffer_containers``, ``scaledown_window`` (idle seconds before an executor exits),
        ``single_use_containers`` (or the deprecated ``max_inputs=1``), ``env``/``secrets``/
        ``volumes``/``image`` (the executor's environment and mounts), ``gpu``/``cpu``/``memory``
        (recorded on the spec), ``schedule`` (``chute.Period``/``chute.Cron``), ``name`` (default:
        the function's name), ``is_generator``, ``serialized``, and chute's ``result_ttl``
        (seconds a result stays available, default 7 days). Cloud-only options (``cloud``,
        ``region``, ``proxy``, ``block_network``, …) are accepted and named once in an
        ``IgnoredOptionWarning``.

        Raises:
            TypeError: used on a class (use ``@app.cls``), or an unknown option.
            InvalidError: an option out of range; a method or a non-global function without
                ``serialized=True``; ``retries`` on a generator; a schedule on a function with
                required parameters.
            DeprecationError: an option Modal removed (``keep_warm``, ``concurrency_limit``…).
        """
        kwargs = {k: v for k, v in locals().items() if k not in ("self", "_f")}
        spec, options = _options.build(self, kwargs, FunctionSpec())

        def decorate(raw: Callable[P, R]) -> Function[P, R]:
            _options.check_function_target(raw, serialized)
            gen = is_generator if is_generator is not None else _is_generator_function(raw)
            web = _web_spec(raw, spec)
            if web is not None and gen:
                raise InvalidError(f"Web endpoint {raw.__name__} cannot be a generator.")
            fn_spec = dataclasses.replace(spec, module=raw.__module__, is_generator=gen, web=web)
            _options.check_generator_and_schedule(raw, gen, fn_spec)
            fn_name = _validate.check_name(name or raw.__name__, "Function")
            fn = Function._new(self.name, fn_name, fn_spec, raw)
            fn._options = options
            self.functions[fn_name] = fn
            return fn

        return decorate(_f) if _f is not None else decorate

    @_options.reject_removed
    def cls(
        self,
        _cls: type | None = None,
        /,
        *,
        image: Image | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | list[str] | None = None,
        serialized: bool = False,
        network_file_systems: dict[str | PurePosixPath, Any] = {},  # noqa: B006
        volumes: dict[str | PurePosixPath, Volume] = {},  # noqa: B006
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        ephemeral_disk: int | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        proxy: Any = None,
        retries: int | Retries | None = None,
        timeout: int = 300,
        startup_timeout: int | None = None,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        routing_region: str | None = None,
        nonpreemptible: bool = False,
        enable_memory_snapshot: bool = False,
        block_network: bool = False,
        restrict_modal_access: bool = False,
        single_use_containers: bool = False,
        i6pn: bool | None = None,
        include_source: bool | None = None,
        experimental_options: dict[str, Any] | None = None,
        _experimental_restrict_output: bool = False,
        max_inputs: int | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> Any:
        """Make a class whose ``@chute.method()`` methods run on workers (``chute.Cls``).

        Takes ``@app.function``'s options except ``schedule``, ``name`` and ``is_generator``.
        See ``chute.cls`` for parameters, lifecycle hooks and methods.

        Raises:
            TypeError: not used on a class.
            InvalidError: an ``__init__``, a parameter without an annotation or of a type other
                than int, str, bytes or bool, or an option out of range.
        """
        from chute import cls as _cls_mod

        kwargs = {k: v for k, v in locals().items() if k not in ("self", "_cls", "_cls_mod")}
        spec, options = _options.build(self, kwargs, FunctionSpec())

        def decorate(user_cls: type) -> Any:
            return _cls_mod.register(self, user_cls, spec, options, enable_memory_snapshot)

        return decorate(_cls) if _cls is not None else decorate

    def local_entrypoint(self, _f: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
        """Mark a function that ``chute run FILE`` calls locally, with this app's workers running.

        Its parameters become command-line options (``chute run app.py --n 3``), typed by
        their annotations as ``modal run`` does. It may be async.

        Raises:
            InvalidError: a second entrypoint with the same name.
        """
        from chute._entrypoint import LocalEntrypoint

        def decorate(raw: Callable[..., Any]) -> LocalEntrypoint:
            tag = name if name is not None else raw.__qualname__
            if tag in self.entrypoints:
                raise InvalidError(
                    f"Duplicate local entrypoint name: {tag}. Local entrypoint names must be unique."
                )
            entrypoint = self.entrypoints[tag] = LocalEntrypoint(raw, self)
            return entrypoint

        return decorate(_f) if _f is not None else decorate

    def run(
        self,
        *,
        name: str | None = None,
        client: Client | None = None,
        detach: bool = False,
        interactive: bool = False,
        environment_name: str | None = None,
    ) -> Any:
        """Register the app and run a worker pool for it in the background, for the block.

        ``with app.run():`` or ``async with app.run():``. On exit the pool stops; calls still
        running are given back (they stay queued for any worker), not failed.

        Raises:
            InvalidError: the app is already running, or ``run`` is called inside an executor.

        Example:
            ```python
            with app.run():
                print(square.remote(4))
            ```
        """
        from chute._run import RunContext

        return RunContext(self, environment_name=environment_name, detach=detach)

    def deploy(
        self,
        *,
        name: str | None = None,
        environment_name: str | None = None,
        tag: str = "",
        client: Client | None = None,
        strategy: str = "rolling",
    ) -> App:
        """Register this app's functions so ``Function.from_name`` finds them (``chute deploy``).

        Raises:
            InvalidError: an invalid ``tag`` or ``strategy``.
        """
        from chute import _app_setup

        _app_setup.check_deploy(name, tag, strategy)
        specs = [(fn_name, fn.spec) for fn_name, fn in self.functions.items()]
        _call_ops.deploy(self.name, specs, environment_name)
        return self

    def include(self, other_app: App, inherit_tags: bool = True) -> App:
        """Add another app's functions, classes and entrypoints to this one; returns self."""
        for fn in other_app.functions.values():
            self.functions[fn.name] = fn._copy(app_name=self.name)
        self.classes.update(other_app.classes)
        self.entrypoints.update(other_app.entrypoints)
        if inherit_tags:
            self.tags = {**other_app.tags, **self.tags}
        return self

    def __repr__(self) -> str:
        return f"App({self.name!r}, functions={sorted(self.functions)})"


def _is_generator_function(raw: Callable[..., Any]) -> bool:
    return inspect.isgeneratorfunction(raw) or inspect.isasyncgenfunction(raw)


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
