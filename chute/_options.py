"""Modal's ``@app.function(...)`` / ``@app.cls(...)`` keyword arguments: validate, store, warn.

Options with a local meaning end up in two places: JSON-ready values on the ``FunctionSpec``
(stored by deploy, read by workers and listings; secrets appear there by name or key names
only, never by value) and live objects (``Image``, ``Secret``, ``Volume``, ``Schedule``) on the
``FunctionOptions`` kept by the ``Function`` in the process that defined it. Options that mean
nothing outside Modal's cloud are accepted and named once per process in an
``IgnoredOptionWarning``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from chute import _settings_table, _validate
from chute.exception import DeprecationError, IgnoredOptionWarning, InvalidError

# Image, Secret, Volume and Schedule are imported where an option uses them: an app that
# passes none of them (and the executors importing it) does not load those modules.
if TYPE_CHECKING:
    from chute._jobs import FunctionSpec
    from chute.image import Image
    from chute.schedule import Schedule
    from chute.secret import Secret
    from chute.volume import Volume

P = ParamSpec("P")
R = TypeVar("R")

MAX_SCALEDOWN_WINDOW = 3600
_GPU_RE = re.compile(r"^[A-Za-z0-9_-]+(?::(\d+))?$")

# Options Modal removed: passing one raises DeprecationError, as Modal does.
REMOVED = {
    "keep_warm": "The 'keep_warm' parameter has been renamed to 'min_containers'.",
    "concurrency_limit": "The 'concurrency_limit' parameter has been renamed to 'max_containers'.",
    "container_idle_timeout": "The 'container_idle_timeout' parameter has been renamed to "
    "'scaledown_window'.",
    "allow_concurrent_inputs": "The 'allow_concurrent_inputs' parameter is deprecated. "
    "Use the '@chute.concurrent' decorator instead.",
}

# Cloud-only options and their defaults: a value other than the default draws the warning.
IGNORED: dict[str, Any] = {
    "network_file_systems": {},
    "ephemeral_disk": None,
    "proxy": None,
    "cloud": None,
    "region": None,
    "routing_region": None,
    "nonpreemptible": False,
    "enable_memory_snapshot": False,
    "block_network": False,
    "restrict_modal_access": False,
    "i6pn": None,
    "include_source": None,
    "experimental_options": None,
    "_experimental_restrict_output": False,
}
_warned: set[str] = set()


def reject_removed(method: Callable[P, R]) -> Callable[P, R]:
    """Raise ``DeprecationError`` for Modal's removed keyword arguments (keeps the signature)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for name in kwargs:
            if name in REMOVED:
                raise DeprecationError(REMOVED[name])
        return method(*args, **kwargs)

    return wrapper


def warn_ignored(options: Mapping[str, Any], stacklevel: int = 5) -> None:
    """One ``IgnoredOptionWarning`` naming the cloud-only options set here that were not
    named before in this process (not in executors: the process that defined the app warned)."""
    from chute._context import is_local

    if not is_local() or _settings_table.read("CHUTE_QUIET_IGNORED_OPTIONS"):
        return
    names = [k for k, default in IGNORED.items() if k in options and options[k] != default]
    image = options.get("image")
    if image is not None and image.builds_something:
        names.insert(0, "image")
    new = [n for n in names if n not in _warned]
    if not new:
        return
    _warned.update(new)
    shown = ", ".join(f"{n}=" for n in new)
    what = (
        " (its .env() variables do apply; `chute worker --all` builds the image of deployed code)"
        if "image" in new
        else ""
    )
    warnings.warn(
        f"chute ignores {shown} outside Modal's cloud{what}: packages are not installed and placement "
        "options have no effect; functions run in the worker's own Python environment.",
        IgnoredOptionWarning,
        stacklevel=stacklevel,
    )


@dataclass(frozen=True)
class FunctionOptions:
    """The live objects behind a function's options (secrets in order: the app's, the
    function's, then ``env=`` as a last ``Secret.from_dict``)."""

    image: Image | None = None
    secrets: tuple[Secret, ...] = ()
    env: dict[str, str | None] | None = None
    volumes: dict[str, Volume] = field(default_factory=dict)
    schedule: Schedule | None = None
    gpu: str | list[str] | None = None
    cpu: float | tuple[float, float] | None = None
    memory: int | tuple[int, int] | None = None


def _check_int(value: object, name: str, minimum: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise InvalidError(f"{name} must be an int >= {minimum}, got {value!r}.")


def check_gpu(gpu: object) -> str | list[str] | None:
    """``"H100"``, ``"A100:2"``, ``"any"`` or a list of them (a fallback ranking).

    Raises:
        InvalidError: not a str or list of str, or a non-integer count.
    """
    if gpu is None:
        return None
    items: list[Any] = gpu if isinstance(gpu, list) else [gpu]
    for item in items:
        if not isinstance(item, str) or not _GPU_RE.match(item):
            raise InvalidError(
                f"Invalid gpu={gpu!r}: use a GPU type with an optional integer count, "
                "e.g. 'H100' or 'A100:2'."
            )
    checked: list[str] = items
    return checked if isinstance(gpu, list) else checked[0]


def _check_resource(value: object, name: str, kind: type) -> Any:
    if value is None:
        return None
    pair: tuple[Any, ...] = value if isinstance(value, tuple) else (value,)
    numbers = all(isinstance(v, kind | int) and not isinstance(v, bool) for v in pair)
    ok = numbers and len(pair) in (1, 2) and all(float(v) > 0 for v in pair)
    if not ok or (len(pair) == 2 and pair[0] > pair[1]):
        raise InvalidError(f"{name} must be a positive number or a (request, limit) pair, got {value!r}.")
    return list(pair) if len(pair) == 2 else pair[0]


def _check_secrets(secrets: object) -> tuple[Secret, ...]:
    if secrets is None:
        return ()
    from chute.secret import Secret

    if (
        isinstance(secrets, Secret)
        or not isinstance(secrets, Collection)
        or isinstance(secrets, str | Mapping)
    ):
        raise InvalidError(
            "secrets must be a list of chute.Secret, e.g. secrets=[chute.Secret.from_name('x')]."
        )
    out = tuple(secrets)
    if not all(isinstance(s, Secret) for s in out):
        raise InvalidError(f"secrets must contain only chute.Secret objects, got {out!r}.")
    return out


def check_volumes(volumes: object) -> dict[str, Volume]:
    """``{mount_path: Volume}`` with checked paths.

    Raises:
        InvalidError: not a dict of Volumes, an invalid path, or one volume at two paths.
    """
    if not isinstance(volumes, Mapping):
        raise InvalidError("volumes must be a dict of mount path to chute.Volume, e.g. {'/data': vol}.")
    if not volumes:
        return {}
    from chute.volume import Volume, check_mount_path

    out: dict[str, Volume] = {}
    seen: dict[str, str] = {}
    for path, vol in volumes.items():
        if not isinstance(vol, Volume):
            raise InvalidError(f"volumes[{path!r}] must be a chute.Volume, got {type(vol).__name__}.")
        mount_at = check_mount_path(path)
        if vol.object_id in seen:
            raise InvalidError(
                f"Volume {vol.name!r} is mounted at both {seen[vol.object_id]!r} and {mount_at!r}."
            )
        seen[vol.object_id] = mount_at
        out[mount_at] = vol
    return out


def check_max_inputs(max_inputs: object) -> bool:
    """Modal's deprecated ``max_inputs``: only 1 (= ``single_use_containers=True``) is accepted."""
    if max_inputs is None:
        return False
    if not isinstance(max_inputs, int) or isinstance(max_inputs, bool):
        raise InvalidError(f"`max_inputs` must be an int, not {type(max_inputs).__name__}")
    if max_inputs <= 0:
        raise InvalidError("`max_inputs` must be positive")
    if max_inputs > 1:
        raise InvalidError("Only `max_inputs=1` is currently supported")
    warnings.warn(
        "The `max_inputs` parameter is deprecated. Please set `single_use_containers=True` instead.",
        DeprecationError,
        stacklevel=4,
    )
    return True


class AppDefaults(Protocol):
    """What ``build`` reads of the ``chute.App`` (its app-wide image, secrets and volumes)."""

    @property
    def image(self) -> Image | None: ...
    @property
    def secrets(self) -> Sequence[Secret]: ...
    @property
    def volumes(self) -> Mapping[str, Volume]: ...


def build(
    app: AppDefaults, kwargs: dict[str, Any], base: FunctionSpec
) -> tuple[FunctionSpec, FunctionOptions]:
    """Validate Modal's keyword arguments and return (spec, options), app defaults merged in.

    Raises:
        InvalidError: an option out of Modal's (or chute's) range.
    """
    from chute._jobs import DEFAULT_MAX_CONTAINERS, DEFAULT_SCALEDOWN_WINDOW, Retries, check_spec

    timeout = kwargs["timeout"]
    if timeout is None:
        raise InvalidError("timeout=None is not allowed: pass a number of seconds (default 300).")
    window = kwargs["scaledown_window"]
    window = DEFAULT_SCALEDOWN_WINDOW if window is None else window
    if isinstance(window, int | float) and window > MAX_SCALEDOWN_WINDOW:
        raise InvalidError(f"scaledown_window must be at most {MAX_SCALEDOWN_WINDOW} s, got {window}.")
    min_c = kwargs["min_containers"]
    _check_int(min_c, "min_containers", 0)
    _check_int(kwargs["buffer_containers"], "buffer_containers", 0)
    check_spec(timeout, kwargs["max_containers"], min_c or 0, window, kwargs["result_ttl"])
    startup = kwargs["startup_timeout"]
    if startup is not None and (not isinstance(startup, int | float) or startup <= 0):
        raise InvalidError(f"startup_timeout must be a positive number of seconds, got {startup!r}.")
    image, schedule = _check_image_and_schedule(kwargs["image"] or app.image, kwargs.get("schedule"))
    env = kwargs["env"]
    secrets = (*app.secrets, *_check_secrets(kwargs["secrets"]))
    if env:
        from chute.secret import Secret

        secrets = (*secrets, Secret.from_dict(env))
    volumes = {**app.volumes, **check_volumes(kwargs["volumes"])}
    single_use = check_max_inputs(kwargs["max_inputs"]) or bool(kwargs["single_use_containers"])
    options = FunctionOptions(
        image=image,
        secrets=secrets,
        env=dict(env) if env else None,
        volumes=volumes,
        schedule=schedule,
        gpu=check_gpu(kwargs["gpu"]),
        cpu=_check_resource(kwargs["cpu"], "cpu", float),
        memory=_check_resource(kwargs["memory"], "memory", int),
    )
    spec = dataclasses.replace(
        base,
        retries=Retries.of(kwargs["retries"]),
        timeout=float(timeout),
        startup_timeout=float(startup) if startup is not None else None,
        max_containers=kwargs["max_containers"] or DEFAULT_MAX_CONTAINERS,
        min_containers=min_c or 0,
        buffer_containers=kwargs["buffer_containers"],
        scaledown_window=float(window),
        result_ttl=float(kwargs["result_ttl"]),
        single_use_containers=single_use,
        gpu=options.gpu,
        cpu=options.cpu if not isinstance(options.cpu, tuple) else list(options.cpu),
        memory=options.memory if not isinstance(options.memory, tuple) else list(options.memory),
        schedule=schedule.to_json() if schedule is not None else None,
        secrets=[s._describe() for s in secrets],
        volumes={path: vol.name for path, vol in volumes.items()},
        image=image.object_id if image is not None else None,
        serialized=bool(kwargs.get("serialized", False)),
    )
    spec = dataclasses.replace(spec, **check_job_control(kwargs))
    warn_ignored({**kwargs, "image": image})
    return spec, options


def check_job_control(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The spec fields of ``worker_tags``, ``rate_limit`` and ``max_concurrency_per_key``.

    Raises:
        InvalidError: a tag that is not a name, a rate limit that is not a ``chute.RateLimit``,
            or a per-key cap that is not an int >= 1.
    """
    from chute._jobs import RateLimit

    out: dict[str, Any] = {}
    tags = kwargs.get("worker_tags")
    if tags is not None:
        if isinstance(tags, str) or not isinstance(tags, Sequence):
            raise InvalidError(f"worker_tags must be a list of tags, e.g. ['gpu'], got {tags!r}.")
        out["worker_tags"] = sorted({_validate.check_name(t, "Worker tag") for t in tags})
    limit = kwargs.get("rate_limit")
    if limit is not None:
        if not isinstance(limit, RateLimit):
            raise InvalidError(f"rate_limit must be a chute.RateLimit(calls=, per_seconds=), got {limit!r}.")
        out["rate_limit"] = {"calls": limit.calls, "per_seconds": limit.per_seconds}
    per_key = kwargs.get("max_concurrency_per_key")
    if per_key is not None:
        _check_int(per_key, "max_concurrency_per_key", 1)
        out["max_concurrency_per_key"] = per_key
    return out


def _check_image_and_schedule(image: object, schedule: object) -> tuple[Image | None, Schedule | None]:
    if image is not None:
        from chute.image import Image

        if not isinstance(image, Image):
            raise InvalidError(f"image must be a chute.Image, got {type(image).__name__}.")
    if schedule is not None:
        from chute.schedule import Schedule

        if not isinstance(schedule, Schedule):
            raise InvalidError("schedule must be a chute.Period or chute.Cron.")
    return image, schedule


def check_function_target(f: object, serialized: bool) -> None:
    """What ``@app.function`` may decorate (Modal's decoration-time errors).

    Raises:
        TypeError: a class (use ``@app.cls``).
        InvalidError: a method, a non-global function without ``serialized=True``, or a
            chute lifecycle/method decorator stacked below ``@app.function``.
    """
    from chute._partial import PartialFunction

    if inspect.isclass(f):
        raise TypeError(
            "The `@app.function` decorator cannot be used on a class. Please use `@app.cls` instead."
        )
    if isinstance(f, PartialFunction):
        raise InvalidError(
            "The `@app.function` decorator cannot be used on class methods: use `@app.cls` with "
            "`@chute.method()` instead."
        )
    if not callable(f):
        raise TypeError(f"@app.function must decorate a function, got {type(f).__name__}.")
    qualname = getattr(f, "__qualname__", "")
    if "<locals>" in qualname and not serialized:
        raise InvalidError(
            "The `@app.function` decorator must apply to functions in global scope, unless `serialized=True` "
            "is set (workers import the function from its module)."
        )
    if "." in qualname and "<locals>" not in qualname:
        raise InvalidError(
            "The `@app.function` decorator cannot be used on class methods. Please use `@app.cls` with "
            "`@chute.method()` instead."
        )


def check_generator_and_schedule(raw: Callable[..., Any], is_generator: bool, spec: FunctionSpec) -> None:
    """Modal's rules: no ``retries`` on a generator; a scheduled function takes no required arguments.

    Raises:
        InvalidError: either rule is broken.
    """
    if is_generator and spec.retries.max_retries:
        raise InvalidError(f"Generator function {raw.__name__} cannot have retries.")
    if spec.schedule is not None:
        required = [
            p.name
            for p in inspect.signature(raw).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise InvalidError(
                f"Function {raw.__name__} has a schedule, so it must be callable with no arguments; "
                f"it requires {required}."
            )


def with_options(
    spec: FunctionSpec, options: FunctionOptions | None, **kwargs: Any
) -> tuple[FunctionSpec, FunctionOptions]:
    """A variant's (spec, options): set values replace the base ones (``secrets``/``volumes`` replace,
    they do not extend; ``None`` leaves an option unchanged), as Modal's ``with_options``.

    Raises:
        InvalidError: an option out of range.
    """
    from chute._jobs import Retries, check_spec

    base = options or FunctionOptions()
    changes: dict[str, Any] = {}
    opt_changes: dict[str, Any] = {}
    if kwargs.get("retries") is not None:
        changes["retries"] = Retries.of(kwargs["retries"])
    for name in ("timeout", "scaledown_window"):
        if kwargs.get(name) is not None:
            changes[name] = float(kwargs[name])
    for name in ("max_containers", "buffer_containers"):
        if kwargs.get(name) is not None:
            _check_int(kwargs[name], name, 1 if name == "max_containers" else 0)
            changes[name] = kwargs[name]
    if kwargs.get("gpu") is not None:
        opt_changes["gpu"] = changes["gpu"] = check_gpu(kwargs["gpu"])
    for name, kind in (("cpu", float), ("memory", int)):
        if kwargs.get(name) is not None:
            opt_changes[name] = _check_resource(kwargs[name], name, kind)
            changes[name] = opt_changes[name]
    if kwargs.get("secrets") is not None or kwargs.get("env"):
        secrets = _check_secrets(kwargs.get("secrets")) if kwargs.get("secrets") is not None else base.secrets
        if kwargs.get("env"):
            from chute.secret import Secret

            secrets = (*secrets, Secret.from_dict(kwargs["env"]))
            opt_changes["env"] = dict(kwargs["env"])
        opt_changes["secrets"] = secrets
        changes["secrets"] = [s._describe() for s in secrets]
    if kwargs.get("volumes"):
        opt_changes["volumes"] = check_volumes(kwargs["volumes"])
        changes["volumes"] = {p: v.name for p, v in opt_changes["volumes"].items()}
    new_spec = dataclasses.replace(spec, **changes)
    check_spec(
        new_spec.timeout, new_spec.max_containers, new_spec.min_containers, new_spec.scaledown_window, 1
    )
    warn_ignored({k: v for k, v in kwargs.items() if k in ("region", "cloud", "routing_region")})
    return new_spec, dataclasses.replace(base, **opt_changes)
