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
from collections.abc import Callable, Collection, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from chute import _options, _validate
from chute._client import Client
from chute._inputs import with_policies
from chute._jobs import DEFAULT_RESULT_TTL, MAX_LOST_ATTEMPTS, FunctionSpec, RateLimit, Retries
from chute._sync import call_ops as _call_ops
from chute.exception import InvalidError
from chute.function import Function

if TYPE_CHECKING:
    from chute.image import Image
    from chute.schedule import Schedule
    from chute.secret import Secret
    from chute.volume import Volume

__all__ = ["MAX_LOST_ATTEMPTS", "App", "Function", "FunctionSpec", "Retries", "find_function"]

P = ParamSpec("P")
R = TypeVar("R")


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
        worker_tags: Sequence[str] | None = None,
        rate_limit: RateLimit | None = None,
        max_concurrency_per_key: int | None = None,
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
        (seconds a result stays available, default 7 days). chute's job control: ``worker_tags``
        (only workers started with every tag, ``chute worker --tag gpu``, run it), ``rate_limit``
        (``chute.RateLimit(calls=, per_seconds=)``, across all workers) and
        ``max_concurrency_per_key`` (calls of one ``with_options(concurrency_key=...)`` running at
        once; keys are served round-robin). Cloud-only options (``cloud``,
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
            fn_spec = with_policies(
                dataclasses.replace(spec, module=raw.__module__, is_generator=gen, web=web), raw
            )
            _options.check_generator_and_schedule(raw, gen, fn_spec)
            fn_name = _validate.check_name(name or raw.__name__, "Function")
            fn = Function._new(self.name, fn_name, fn_spec, raw)
            fn._options, fn._app_functions = options, self.functions
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
