"""Signature parity: every public callable chute adds for Modal app files takes Modal's parameters.

The installed ``modal`` package is the reference: each of its parameters must exist in chute
with the same name, kind and default (defaults that are private sentinel objects on both sides
count as equal). chute may add parameters only as keyword-only with a default (``result_ttl``,
``idempotency_key``) or as the leading positional-only object of a bare decorator (``_f``).
"""

from __future__ import annotations

import inspect
from typing import Any

import modal
import pytest

import chute
from chute._sync import function_ops, gen_ops, graph_ops

_BUILTIN_DEFAULTS = (str, int, float, bool, bytes, list, dict, tuple, type(None))


def _params(func: Any, drop_first: bool) -> list[inspect.Parameter]:
    params = list(inspect.signature(func).parameters.values())
    if (params and params[0].name in ("self", "cls")) or drop_first:
        params = params[1:]
    return params


def _same_default(a: Any, b: Any) -> bool:
    if a is inspect.Parameter.empty or b is inspect.Parameter.empty:
        return a is b
    if isinstance(a, _BUILTIN_DEFAULTS) or isinstance(b, _BUILTIN_DEFAULTS):
        return type(a) is type(b) and a == b
    return True  # both are private sentinels (modal's _NO_DEFAULT, AUTO_DOCKERIGNORE, …)


def assert_parity(chute_func: Any, modal_func: Any, drop_first: bool = False) -> None:
    ours = {p.name: p for p in _params(chute_func, drop_first)}
    theirs = _params(modal_func, False)
    for p in theirs:
        assert p.name in ours, f"{chute_func.__qualname__} lacks Modal's parameter {p.name!r}"
        mine = ours.pop(p.name)
        assert mine.kind == p.kind, (chute_func.__qualname__, p.name, mine.kind, p.kind)
        assert _same_default(mine.default, p.default), (
            chute_func.__qualname__,
            p.name,
            mine.default,
            p.default,
        )
    order_ours = [n for n in (q.name for q in _params(chute_func, drop_first)) if n not in ours]
    assert order_ours == [p.name for p in theirs], f"{chute_func.__qualname__}: parameter order differs"
    for extra in ours.values():
        allowed = (extra.kind is extra.KEYWORD_ONLY and extra.default is not extra.empty) or (
            extra.kind is extra.POSITIONAL_ONLY and extra.name in ("_f", "_cls")
        )
        assert allowed, f"{chute_func.__qualname__}: extra parameter {extra.name!r} must be keyword-only"


PAIRS: list[tuple[Any, Any]] = [
    (chute.App.__init__, modal.App.__init__),
    (chute.App.function, modal.App.function),
    (chute.App.cls, modal.App.cls),
    (chute.App.local_entrypoint, modal.App.local_entrypoint),
    (chute.App.run, modal.App.run),
    (chute.App.deploy, modal.App.deploy),
    (chute.App.include, modal.App.include),
    (chute.Function.from_name, modal.Function.from_name),
    (chute.Function.with_options, modal.Function.with_options),
    (chute.Function.with_concurrency, modal.Function.with_concurrency),
    (chute.Cls.from_name, modal.Cls.from_name),
    (chute.Cls.with_options, modal.Cls.with_options),
    (chute.Cls.with_concurrency, modal.Cls.with_concurrency),
    (chute.Cls.hydrate, modal.Cls.hydrate),
    (chute.enter, modal.enter),
    (chute.exit, modal.exit),
    (chute.method, modal.method),
    (chute.parameter, modal.parameter),
    (chute.current_function_call_id, modal.current_function_call_id),
    (chute.current_input_id, modal.current_input_id),
    (chute.is_local, modal.is_local),
    (chute.Period.__init__, modal.Period.__init__),
    (chute.Cron.__init__, modal.Cron.__init__),
    (chute.Secret.from_dict, modal.Secret.from_dict),
    (chute.Secret.from_name, modal.Secret.from_name),
    (chute.Secret.from_dotenv, modal.Secret.from_dotenv),
    (chute.Secret.from_local_environ, modal.Secret.from_local_environ),
    (chute.Secret.update, modal.Secret.update),
    (chute.Secret.hydrate, modal.Secret.hydrate),
    (chute.Secret.objects.create, modal.Secret.objects.create),
    (chute.Secret.objects.list, modal.Secret.objects.list),
    (chute.Secret.objects.delete, modal.Secret.objects.delete),
    (chute.Volume.objects.create, modal.Volume.objects.create),
    (chute.Volume.objects.list, modal.Volume.objects.list),
    (chute.Volume.objects.delete, modal.Volume.objects.delete),
]
IMAGE_METHODS = [n for n in dir(chute.Image) if not n.startswith("_") and callable(getattr(chute.Image, n))]
VOLUME_METHODS = [
    "from_name",
    "from_id",
    "ephemeral",
    "commit",
    "reload",
    "listdir",
    "iterdir",
    "read_file",
    "read_file_into_fileobj",
    "remove_file",
    "copy_files",
    "batch_upload",
    "read_only",
    "with_mount_options",
    "hydrate",
]
# chute binds these as `dual` descriptors over module functions whose first parameter is the object.
DUALS = [
    (function_ops.get_current_stats, modal.Function.get_current_stats),
    (function_ops.update_autoscaler, modal.Function.update_autoscaler),
    (function_ops.hydrate, modal.Function.hydrate),
    (gen_ops.remote_gen, modal.Function.remote_gen),
    (graph_ops.get_call_graph, modal.FunctionCall.get_call_graph),
]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=lambda f: getattr(f, "__qualname__", repr(f)))
def test_signature_matches_modal(ours: Any, theirs: Any) -> None:
    assert_parity(ours, theirs)


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_image_methods_match_modal(name: str) -> None:
    assert hasattr(modal.Image, name), f"chute.Image.{name} is not a Modal method"
    assert_parity(getattr(chute.Image, name), getattr(modal.Image, name))


@pytest.mark.parametrize("name", VOLUME_METHODS)
def test_volume_methods_match_modal(name: str) -> None:
    assert_parity(getattr(chute.Volume, name), getattr(modal.Volume, name))


@pytest.mark.parametrize(("ours", "theirs"), DUALS, ids=lambda f: getattr(f, "__qualname__", repr(f)))
def test_dual_methods_match_modal(ours: Any, theirs: Any) -> None:
    assert_parity(ours, theirs, drop_first=True)


def test_every_modal_image_builder_exists() -> None:
    builders = {n for n in dir(modal.Image) if not n.startswith("_") and callable(getattr(modal.Image, n))}
    missing = builders - set(IMAGE_METHODS) - {"publish", "get_dashboard_url", "client", "logs", "object_id"}
    assert not missing, missing


def test_exception_names_and_bases_match_modal() -> None:
    import modal.exception as me

    names = [
        "ConnectionError",
        "InputCancellation",
        "ResourceExhaustedError",
        "UnimplementedError",
        "ExecutionError",
        "PermissionDeniedError",
        "InternalError",
        "InternalFailure",
        "ServiceError",
        "DataLossError",
        "VersionError",
        "ImageBuildError",
        "SandboxTimeoutError",
        "ExecTimeoutError",
        "VolumeUploadTimeoutError",
        "MountUploadTimeoutError",
        "InteractiveTimeoutError",
        "DeprecationError",
        "AsyncUsageWarning",
        "ServerWarning",
    ]
    for name in names:
        ours, theirs = getattr(chute.exception, name), getattr(me, name)
        for base in theirs.__mro__[1:]:
            if base.__module__ == "modal.exception" and not base.__name__.startswith("_"):
                assert issubclass(ours, getattr(chute.exception, base.__name__)), (name, base)
            elif base.__module__ == "builtins":
                assert issubclass(ours, base), (name, base)
    assert not issubclass(chute.exception.InputCancellation, Exception)
    assert issubclass(chute.exception.BackendUnavailableError, chute.exception.ConnectionError)
    assert issubclass(chute.exception.ConnectionError, ConnectionError)
