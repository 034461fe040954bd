"""``chute.Function``: a job function's handle — spawn, remote, map, look up by name.

Defined with ``@app.function()`` (``chute.app``) or looked up with ``Function.from_name``;
the calls go through the call ops (``chute/_async/call_ops.py``) over the function's
``FunctionRef``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from chute import _options, _validate
from chute._async import call_ops as _call_ops_async
from chute._async import function_ops as _function_ops_async
from chute._async import gen_ops as _gen_ops_async
from chute._client import Client
from chute._dual import dual, dual_iter
from chute._inputs import check_concurrency
from chute._jobs import FunctionRef, FunctionSpec, Retries, check_call_control
from chute._mapping import BoundForEach, BoundMap, BoundSpawnMap, BoundStarmap
from chute._options import FunctionOptions
from chute._sync import call_ops as _call_ops
from chute._sync import function_ops as _function_ops
from chute._sync import gen_ops as _gen_ops
from chute.call import FunctionCall
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.secret import Secret
    from chute.volume import Volume

__all__ = ["Function"]

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
    # The functions of the app that defined this one (variants register there), None by name.
    _app_functions: dict[str, Function[..., Any]] | None = None

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
        fn._raw, fn._options, fn._app_functions = self._raw, self._options, self._app_functions
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
        delay: float | None = None,
        at: datetime | None = None,
        priority: int | None = None,
        concurrency_key: str | None = None,
        debounce: bool | None = None,
    ) -> Function[P, R]:
        """A variant of the function with other options (Modal's ``with_options``).

        Set options replace the base ones (``secrets`` and ``volumes`` replace, they do not
        extend); ``None`` leaves an option unchanged. ``idempotency_key`` (chute's) makes
        ``spawn`` idempotent: spawning again with the same key, while the first call's result
        is kept, returns the first call instead of running it twice.

        chute's job control (see the "Job control" docs page): ``delay`` (seconds) or ``at``
        (a timezone-aware datetime): the call is not started before then. ``priority`` (an int
        in [-1000, 1000], default 0): among the function's pending calls higher goes first,
        FIFO within one. ``concurrency_key``: with ``@app.function(max_concurrency_per_key=n)``
        at most n calls of one key run at once, and keys are served round-robin.
        ``debounce=True`` (with ``idempotency_key`` and usually ``delay``): a spawn while the
        key's call is still pending replaces its arguments and pushes its start back to
        ``delay`` from now, instead of being dropped.

        The variant's calls go to the function's own workers, which run each of them with the
        variant's ``timeout`` and ``retries`` (stored with the call). The other options
        (resources, ``max_containers``, ``secrets``…) describe the variant but do not change how
        the base function's executors run: define a second function for those.

        Raises:
            InvalidError: an option out of range; ``at`` without a timezone; ``debounce``
                without an ``idempotency_key``.

        Example:
            ```python
            report.with_options(delay=60).spawn()
            urgent = process.with_options(priority=10)
            per_tenant = process.with_options(concurrency_key=f"tenant-{tenant_id}")
            reindex.with_options(idempotency_key=doc_id, delay=5, debounce=True).spawn(doc_id)
            ```
        """
        key = idempotency_key or self._ref.idempotency_key
        control = check_call_control(
            self._ref.control,
            delay=delay,
            at=at,
            priority=priority,
            concurrency_key=concurrency_key,
            debounce=debounce,
            idempotency_key=key,
        )
        per_call = dict(self._ref.call_options or {})
        if timeout is not None:
            per_call["timeout"] = float(timeout)
        if retries is not None:
            per_call["retries"] = dataclasses.asdict(Retries.of(retries))
        fn = self._copy(idempotency_key=key, call_options=per_call or None, control=control)
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
        """A variant of this function that runs like ``@chute.concurrent(max_inputs=...)``, with
        its own executors (it autoscales independently of the base function, as in Modal).

        Workers serve what the app file defines, so create the variant at module level of the
        app file (``fast = slow.with_concurrency(max_inputs=8)``): it is registered in the app
        as ``<name>-c<max_inputs>[-t<target_inputs>]`` and deployed and served with it.

        Raises:
            InvalidError: ``max_inputs < 1`` or ``target_inputs > max_inputs``.

        Example:
            ```python
            fetch_many = fetch.with_concurrency(max_inputs=50)
            ```
        """
        policy = check_concurrency(max_inputs, target_inputs)
        suffix = f"-c{policy.max_inputs}" + (f"-t{policy.target_inputs}" if policy.target_inputs else "")
        name = _validate.check_name(self.name + suffix, "Function")
        spec = dataclasses.replace(
            self.spec, max_inputs=policy.max_inputs, target_inputs=policy.target_inputs
        )
        variant = Function._new(self.app_name, name, spec, self._raw, self._ref.env_name, self._ref.checked)
        variant._options, variant._app_functions = self._options, self._app_functions
        if self._app_functions is not None and self.name in self._app_functions:
            return cast("Function[P, R]", self._app_functions.setdefault(name, variant))
        return variant

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

    @property
    def map(self) -> BoundMap:
        """``f.map(*iterables, kwargs={}, order_outputs=True, return_exceptions=False)``: run the
        function on every element in parallel on workers (inputs submitted in batches); results
        in input order. ``async for r in f.map.aio(...)`` on an event loop.

        Example:
            ```python
            squares = list(square.map(range(10)))
            ```
        """
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
