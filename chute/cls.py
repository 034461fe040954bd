"""Classes: ``@app.cls``, ``chute.parameter``, ``@chute.enter``/``@chute.exit``/``@chute.method``.

```python
@app.cls(timeout=600)
class Model:
    name: str = chute.parameter()
    size: int = chute.parameter(default=3)

    @chute.enter()
    def load(self) -> None:
        self.weights = load_weights(self.name)      # before the instance serves a call

    @chute.method()
    def predict(self, x: float) -> float:
        return self.weights(x)

    @chute.exit()
    def close(self) -> None: ...

Model(name="small").predict.remote(1.0)             # runs on a worker
```

Each ``@chute.method`` is a job function named ``"<Class>.<method>"``; its calls carry the
instance's parameters (defaults applied) as their first argument. An executor builds the
instance once per parameter set (``executor_instance``: ``__new__``, parameters set,
``__init__`` never called, enter hooks run once) and calls the method on it; the exit hooks of
every instance it built run when the executor stops (``exit_executor_instances``: scale-down,
the worker's SIGTERM, recycling). Instances with different parameters are distinct
(``Obj.__eq__``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import pickle
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from chute._inputs import with_policies
from chute._partial import (
    _NO_DEFAULT,
    Flags,
    PartialFunction,
    _Parameter,
    enter,
    exit,
    method,
    parameter,
    partials,
)
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute._options import FunctionOptions
    from chute.app import App, Function, FunctionSpec, Retries
    from chute.secret import Secret
    from chute.volume import Volume

PARAMETER_TYPES = (int, str, bytes, bool)
MAX_PARAMETER_BYTES = 16 * 1024


# -- registration ------------------------------------------------------------------------------------


def _parameter_types(user_cls: type) -> dict[str, type]:
    params = {k for k, v in vars(user_cls).items() if isinstance(v, _Parameter) and v.init}
    try:
        annotations = inspect.get_annotations(user_cls, eval_str=True)
    except Exception:
        raw = inspect.get_annotations(user_cls)
        named = {t.__name__: t for t in PARAMETER_TYPES}
        annotations = {k: named.get(v, v) if isinstance(v, str) else v for k, v in raw.items()}
    if params - annotations.keys():
        raise InvalidError("All chute.parameter() specifications need to be type-annotated")
    out: dict[str, type] = {}
    for name in params:
        kind = annotations[name]
        if kind not in PARAMETER_TYPES:
            raise InvalidError(
                f"Class parameter '{name}': type {kind!r} is not supported; use int, str, bytes or bool."
            )
        out[name] = kind
    return out


def register(app: App, user_cls: Any, spec: FunctionSpec, options: FunctionOptions, snapshots: bool) -> Cls:
    """``@app.cls``: check the class, register each method as a job function, return the ``Cls``.

    Raises:
        TypeError: not a class.
        InvalidError: see ``App.cls``.
    """
    import dataclasses

    from chute.app import Function

    if not inspect.isclass(user_cls):
        raise TypeError("The @app.cls decorator must be used on a class.")
    if user_cls.__init__ is not object.__init__:
        raise InvalidError(
            f"Chute class {user_cls.__name__} cannot have a custom constructor (__init__) method: use "
            "@chute.enter() for initialization and chute.parameter() for parameters."
        )
    types = _parameter_types(user_cls)
    if partials(user_cls, Flags.ENTER_PRE_SNAPSHOT) and not snapshots:
        raise InvalidError(
            "A class must have `enable_memory_snapshot=True` to use `snap=True` on its methods."
        )
    cls = Cls._new(app.name, user_cls.__name__, user_cls, types, None)
    for name, partial in partials(user_cls, Flags.CALLABLE_INTERFACE).items():
        gen = partial.is_generator
        if gen is None:
            gen = inspect.isgeneratorfunction(partial.raw_f) or inspect.isasyncgenfunction(partial.raw_f)
        if gen and spec.retries.max_retries:
            raise InvalidError(f"Generator method {user_cls.__name__}.{name} cannot have retries.")
        fn_spec = dataclasses.replace(spec, module=user_cls.__module__, is_generator=gen)
        fn_spec = with_policies(with_policies(fn_spec, user_cls), partial.raw_f)
        fn_name = f"{user_cls.__name__}.{name}"
        fn: Function[..., Any] = Function._new(
            app.name,
            fn_name,
            fn_spec,
            functools.partial(
                run_method_async if inspect.iscoroutinefunction(partial.raw_f) else run_method, cls, name
            ),
        )
        fn._options, fn._app_functions = options, app.functions
        app.functions[fn_name] = fn
        cls._methods[name] = fn
    for name, fn in _web_methods(app, user_cls, spec, options, types).items():
        app.functions[fn.name] = fn
        cls._methods[name] = fn
    app.classes[user_cls.__name__] = cls
    return cls


def _web_methods(
    app: App, user_cls: type, spec: FunctionSpec, options: FunctionOptions, types: dict[str, type]
) -> dict[str, Function[..., Any]]:
    """The class's web endpoints (``@chute.fastapi_endpoint()`` … on a method), each a function
    ``"<Class>.<method>"`` whose raw is the plain method: ``chute.web.executor`` builds one
    instance per executor (enter hooks once, parameters at their defaults) and serves it."""
    import dataclasses

    from chute.app import Function, _web_spec
    from chute.web.spec import WEB_ATTR

    found: dict[str, Any] = {}
    for klass in reversed(user_cls.__mro__):
        found.update({k: v for k, v in vars(klass).items() if getattr(v, WEB_ATTR, None) is not None})
    out: dict[str, Function[..., Any]] = {}
    for name, raw in found.items():
        missing = [p for p in types if inspect.getattr_static(user_cls, p).default is _NO_DEFAULT]
        if missing:
            raise InvalidError(
                f"Web endpoint {user_cls.__name__}.{name}: its executor builds the instance with the "
                f"parameters' defaults; give {missing} a default (chute.parameter(default=...))."
            )
        web = _web_spec(raw, spec)
        fn_spec = dataclasses.replace(spec, module=user_cls.__module__, is_generator=False, web=web)
        fn: Function[..., Any] = Function._new(app.name, f"{user_cls.__name__}.{name}", fn_spec, raw)
        fn._options, fn._app_functions = options, app.functions
        out[name] = fn
    return out


# -- executor side -----------------------------------------------------------------------------------


def _run_hooks(instance: Any, flags: Flags) -> None:
    for hook in partials(type(instance), flags).values():
        result = hook.raw_f(instance)
        if inspect.isawaitable(result):
            asyncio.run(_await(result))


async def _await(value: Any) -> Any:
    return await value


def _bare_instance(cls: Cls, params: dict[str, Any]) -> Any:
    """The user class built with ``__new__`` (``__init__`` is never called), parameters set,
    no hook run yet."""
    user_cls: Any = cls._require_local()
    instance = user_cls.__new__(user_cls)
    instance.__dict__.update(params)
    obj = Obj(cls, (), params)
    obj._instance = instance
    instance._chute_obj = obj
    return instance


def instance_for(cls: Cls, params: dict[str, Any]) -> Any:
    """A ready instance of the user class for these parameters: ``_bare_instance``, then the
    ``snap=True`` enter hooks and the other enter hooks run. Executors keep one per parameter
    set (``executor_instance``)."""
    instance = _bare_instance(cls, params)
    _run_hooks(instance, Flags.ENTER_PRE_SNAPSHOT)
    _run_hooks(instance, Flags.ENTER_POST_SNAPSHOT)
    return instance


def run_exit_hooks(instance: Any) -> None:
    """Run the instance's ``@chute.exit`` hooks (when its executor stops)."""
    _run_hooks(instance, Flags.EXIT)


# One instance per class and parameter set in an executor: built (enter hooks run) by its first
# call, kept for the next ones, exited when the executor stops (``exit_executor_instances``).
_instances: dict[tuple[int, str], Any] = {}
_building: dict[tuple[int, str], asyncio.Future[Any]] = {}
_lock = threading.Lock()


def _instance_key(cls: Cls, params: dict[str, Any]) -> tuple[int, str]:
    return (id(cls), repr(sorted(params.items())))


def executor_instance(cls: Cls, params: dict[str, Any]) -> Any:
    """This executor's instance for ``params``: built once (enter hooks run once), then reused.
    Thread-safe: ``@concurrent`` sync methods share it."""
    key = _instance_key(cls, params)
    with _lock:
        instance = _instances.get(key)
        if instance is None:
            instance = _instances[key] = instance_for(cls, params)
    return instance


async def executor_instance_async(cls: Cls, params: dict[str, Any]) -> Any:
    """``executor_instance`` on the executor's loop: async enter hooks are awaited there, and
    concurrent first calls wait for one build."""
    key = _instance_key(cls, params)
    instance = _instances.get(key)
    if instance is not None:
        return instance
    building = _building.get(key)
    if building is None:
        building = _building[key] = asyncio.get_running_loop().create_future()
        try:
            instance = _bare_instance(cls, params)
            for flags in (Flags.ENTER_PRE_SNAPSHOT, Flags.ENTER_POST_SNAPSHOT):
                for hook in partials(type(instance), flags).values():
                    result = hook.raw_f(instance)
                    if inspect.isawaitable(result):
                        await result
        except BaseException as exc:
            del _building[key]
            building.set_exception(exc)
            building.exception()  # retrieved: the next call tries again
            raise
        _instances[key] = instance
        building.set_result(instance)
        del _building[key]
        return instance
    return await asyncio.shield(building)


def exit_executor_instances() -> None:
    """Run the exit hooks of every instance this executor built (scale-down, SIGTERM, recycle)."""
    with _lock:
        instances = list(_instances.values())
        _instances.clear()
    for instance in instances:
        run_exit_hooks(instance)


def _checked(cls: Cls, params: dict[str, Any]) -> dict[str, Any]:
    """The call's parameters checked again, defaults applied: a client other than chute's (the
    ``modal`` client through ``chute modal-server``) sends them as its caller wrote them. Also
    keys the executor's instance the same whichever client called."""
    return Obj(cls, (), params)._remote_params()


def run_method(cls: Cls, name: str, params: dict[str, Any], /, *args: Any, **kwargs: Any) -> Any:
    """What a sync method's job function runs: this executor's instance, then the method.

    Raises:
        InvalidError: a missing or an unknown parameter (see ``_checked``).
        TypeError: a parameter of the wrong type.
    """
    instance = executor_instance(cls, _checked(cls, params))
    return getattr(type(instance), name).raw_f(instance, *args, **kwargs)


async def run_method_async(cls: Cls, name: str, params: dict[str, Any], /, *args: Any, **kwargs: Any) -> Any:
    """What an ``async def`` method's job function runs, on the executor's loop (raises as
    ``run_method``)."""
    instance = await executor_instance_async(cls, _checked(cls, params))
    return await getattr(type(instance), name).raw_f(instance, *args, **kwargs)


# -- Cls and its instances -----------------------------------------------------------------------------


class Cls:
    """A class made by ``@app.cls`` (or looked up with ``Cls.from_name``). Call it with keyword
    parameters to get an instance whose methods run remotely.

    Raises:
        AttributeError: a method used on the class itself (instantiate first: ``Model()``).
    """

    def __init__(self) -> None:
        raise RuntimeError("Define classes with @app.cls() or look them up with chute.Cls.from_name().")

    app_name: str
    name: str
    _user_cls: type | None
    _types: dict[str, type]
    _methods: dict[str, Function[..., Any]]
    _env_name: str | None

    @classmethod
    def _new(
        cls, app_name: str, name: str, user_cls: type | None, types: dict[str, type], env: str | None
    ) -> Cls:
        c = cls.__new__(cls)
        c.app_name, c.name, c._user_cls, c._types, c._methods, c._env_name = (
            app_name,
            name,
            user_cls,
            types,
            {},
            env,
        )
        return c

    @staticmethod
    def from_name(
        app_name: str,
        name: str,
        *,
        version: int | None = None,
        environment_name: str | None = None,
        client: Any = None,
    ) -> Cls:
        """A deployed class (lazy: a missing one raises ``NotFoundError`` on first use).

        Raises:
            InvalidError: an invalid app or class name.
        """
        from chute import _validate

        _validate.check_name(app_name, "App")
        _validate.check_name(name, "Cls")
        env = _validate.check_env(environment_name) if environment_name else None
        return Cls._new(app_name, name, None, {}, env)

    def _require_local(self) -> type:
        if self._user_cls is None:
            raise InvalidError(
                f"Class {self.app_name}.{self.name} was looked up by name: its code is not here."
            )
        return self._user_cls

    def _method(self, name: str) -> Function[..., Any]:
        from chute.app import Function, FunctionSpec

        fn = self._methods.get(name)
        if fn is not None:
            return fn
        if self._user_cls is not None:
            raise AttributeError(f"{self.name} has no @chute.method {name!r}.")
        return Function._new(
            self.app_name, f"{self.name}.{name}", FunctionSpec(), None, self._env_name, checked=False
        )

    def _variant(self, change: Callable[[Function[..., Any]], Function[..., Any]]) -> Cls:
        c = Cls._new(self.app_name, self.name, self._user_cls, self._types, self._env_name)
        c._methods = {name: change(fn) for name, fn in self._methods.items()}
        return c

    def with_options(
        self,
        *,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        gpu: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        volumes: dict[str | PurePosixPath, Volume] = {},  # noqa: B006 - Modal's signature
        retries: int | Retries | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        timeout: int | None = None,
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        routing_region: str | None = None,
    ) -> Cls:
        """A variant of the class with other options, applied before instantiation
        (``Model.with_options(gpu="H100")(name="a")``); see ``Function.with_options``."""
        kwargs = {k: v for k, v in locals().items() if k != "self"}
        return self._variant(lambda fn: fn.with_options(**kwargs))

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Cls:
        """A variant whose instances may serve up to ``max_inputs`` calls at once."""
        return self._variant(
            lambda fn: fn.with_concurrency(max_inputs=max_inputs, target_inputs=target_inputs)
        )

    def hydrate(self, client: Any = None) -> Cls:
        """Nothing to look up ahead of use: returns self."""
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Obj:
        return Obj(self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._methods or self._user_cls is None:
            raise AttributeError(
                f"{self.name}.{name}: instantiate the class first, e.g. {self.name}().{name}.remote(...)."
            )
        return getattr(self._user_cls, name)

    def __repr__(self) -> str:
        return f"Cls({self.app_name}.{self.name})"


class Obj:
    """An instance of a ``Cls``: its methods are Functions bound to its parameters.

    Raises:
        ValueError: a constructor argument cannot be pickled.
    """

    def __init__(self, cls: Cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for value in (*args, *kwargs.values()):
            try:
                pickle.dumps(value)
            except Exception as exc:
                raise ValueError(
                    f"Only pickleable arguments can be passed to a class constructor: {exc}"
                ) from None
        self._cls, self._args, self._kwargs = cls, args, kwargs
        self._instance: Any = None

    def _remote_params(self) -> dict[str, Any]:
        """The parameters, defaults applied, as the worker receives them.

        Raises:
            InvalidError: positional arguments, a missing or an unknown parameter, or over 16 KiB.
            TypeError: a value of the wrong type (``bool`` passes for ``int``).
        """
        if self._args:
            raise InvalidError(
                "Can't use positional arguments with chute.parameter-based constructors: pass "
                "(<parameter_name>=value) keyword arguments."
            )
        cls = self._cls
        if cls._user_cls is None:
            return dict(self._kwargs)
        unknown = set(self._kwargs) - cls._types.keys()
        if unknown:
            raise InvalidError(
                f"{cls.name} has no parameters {sorted(unknown)} (it has {sorted(cls._types)})."
            )
        params: dict[str, Any] = {}
        for name, kind in cls._types.items():
            value = self._kwargs.get(name, inspect.getattr_static(cls._user_cls, name).default)
            if value is _NO_DEFAULT:
                raise InvalidError(f"{cls.name}: missing required parameter {name!r}.")
            if not isinstance(value, kind):  # bool passes for int, as in Modal
                raise TypeError(f"Expected {kind.__name__}, got {type(value).__name__}")
            params[name] = value
        if len(pickle.dumps(params)) > MAX_PARAMETER_BYTES:
            raise InvalidError(f"{cls.name}: parameter values exceed {MAX_PARAMETER_BYTES} bytes.")
        return params

    def _local(self, enter: bool = True) -> Any:
        """The local instance (``.local()`` calls): built once, enter hooks run once."""
        if self._instance is None:
            user_cls: Any = self._cls._require_local()
            params = {n: inspect.getattr_static(user_cls, n).default for n in self._cls._types}
            bound = inspect.Signature(
                [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in params.items()]
            ).bind(*self._args, **self._kwargs)  # TypeError, as a constructor would raise
            missing = [n for n, v in {**params, **bound.arguments}.items() if v is _NO_DEFAULT]
            if missing:
                raise TypeError(f"{self._cls.name}() missing required parameters {missing}")
            if enter:
                self._instance = instance_for(self._cls, {**params, **bound.arguments})
                self._instance._chute_obj = self
                return self._instance
            instance = user_cls.__new__(user_cls)
            instance.__dict__.update({**params, **bound.arguments})
            return instance
        return self._instance

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        cls = self._cls
        if name in cls._methods or cls._user_cls is None:
            return _bind(self, name, cls._method(name))
        return getattr(self._local(enter=False), name)

    def _key(self) -> tuple[Any, ...]:
        try:
            params = self._remote_params()
        except (InvalidError, TypeError):
            return (id(self),)
        return (self._cls.app_name, self._cls.name, tuple(sorted(params.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Obj) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Obj({self._cls.name}, {self._kwargs!r})"


def _bind(obj: Obj, name: str, fn: Function[..., Any]) -> Function[..., Any]:
    """The method ``name`` of ``obj`` as a Function: remote calls carry its parameters (checked
    when a call is made, as in Modal), ``local`` runs on its local instance."""
    bound = fn._copy(bind_args=lambda: (obj._remote_params(),))
    bound._raw = None
    if obj._cls._user_cls is not None:

        def local(*args: Any, **kwargs: Any) -> Any:
            attr = getattr(type(obj._local()), name)
            # A web endpoint's method is the plain function, not a PartialFunction.
            return getattr(attr, "raw_f", attr)(obj._local(), *args, **kwargs)

        bound._raw = local
    return bound


__all__ = ["Cls", "Flags", "Obj", "PartialFunction", "enter", "exit", "instance_for", "method", "parameter"]
