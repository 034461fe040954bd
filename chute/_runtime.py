"""What runs around a call in an executor: its context, its environment, its mounts, its result.

The worker's executor calls ``run_call`` (sync functions, generators) or ``run_call_async``
(``async def`` functions) for each call: it sets
``current_function_call_id()`` / ``current_input_id()`` (ContextVars in ``chute._context``, so
they are also right in the call's asyncio tasks), awaits a coroutine function's result, and
streams a generator's values to the caller of ``remote_gen``.

``executor_environment`` and ``mount_plan`` are pure: they compute the environment variables
and the volume mounts an executor of a function must have (applying them is the executor's job).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chute._context import STREAM_KW, call_context
from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute.app import Function
    from chute.image import Image
    from chute.volume import Volume


def run_call(
    raw: Callable[..., Any],
    call_id: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    input_index: int | None = None,
) -> Any:
    """Run one call of a function (``raw``, its code) in this thread and return its value.

    Used for sync functions (in the executor's main thread, or one of its input threads
    under ``@concurrent``) and for generators; a coroutine returned here runs on a loop of
    its own (``run_call_async`` is the path for ``async def`` functions on the executor's loop).

    Raises:
        Exception: whatever the function raised.
        InvalidError: a generator function called without a stream (use ``remote_gen``).
    """
    stream = kwargs.pop(STREAM_KW, None)
    with call_context(call_id, input_index):
        value = raw(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
        if inspect.isgenerator(value) or inspect.isasyncgen(value):
            if stream is None:
                raise InvalidError(f"{_name(raw)} is a generator function: call it with .remote_gen(...).")
            return (
                _stream_sync(value, stream)
                if inspect.isgenerator(value)
                else asyncio.run(_stream(value, stream))
            )
        return value


async def run_call_async(
    raw: Callable[..., Any],
    call_id: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    input_index: int | None = None,
) -> Any:
    """Run one call of an ``async def`` function on the running loop (the executor's): the
    call context is set in the call's own task, so concurrent calls each see their own id.

    Raises:
        Exception: whatever the function raised.
    """
    kwargs.pop(STREAM_KW, None)
    with call_context(call_id, input_index):
        return await raw(*args, **kwargs)


def _name(raw: Callable[..., Any]) -> str:
    return getattr(raw, "__name__", None) or repr(raw)


async def _await(value: Any) -> Any:
    from chute._client import Client

    try:
        return await value
    finally:
        await Client.from_env().aclose()  # the loop ends here: so do its connections


def _stream_sync(gen: Iterator[Any], queue_id: str) -> int:
    from chute.queue import Queue

    q = Queue.from_id(queue_id)
    n = 0
    for n, item in enumerate(gen, 1):
        q.put(("item", n, item))
    q.put(("end", n))
    return n


async def _stream(gen: AsyncIterator[Any], queue_id: str) -> int:
    from chute._client import Client
    from chute.queue import Queue

    q = Queue.from_id(queue_id)
    n = 0
    try:
        async for item in gen:
            n += 1
            await q.put.aio(("item", n, item))
        await q.put.aio(("end", n))
    finally:
        await Client.from_env().aclose()
    return n


# -- environment and mounts (pure) -------------------------------------------------------------------


def executor_environment(
    base: Mapping[str, str],
    *,
    image: Image | None = None,
    secret_values: Sequence[Mapping[str, str]] = (),
    env: Mapping[str, str | None] | None = None,
    image_built: bool = False,
) -> dict[str, str]:
    """The environment variables of a function's executor.

    Later layers win: the worker's own environment (``base``), then the image's ``.env()``
    variables, then each secret in order (the app's, then the function's), then the
    function's ``env=`` (``None`` values are dropped, as in Modal), then the variables chute
    reserves (``MODAL_IS_REMOTE=1`` that Modal code branches on, and ``CHUTE_IMAGE_ID`` when
    the executor runs in the image's built environment, ``image_built``: only there does
    ``Image.imports()`` let an ImportError through, as inside a Modal container).

    Example:
        ```python
        executor_environment({"PATH": "/bin"}, secret_values=[{"TOKEN": "x"}], env={"MODE": "prod"})
        # {"PATH": "/bin", "TOKEN": "x", "MODE": "prod", "MODAL_IS_REMOTE": "1"}
        ```
    """
    from chute._image_spec import IMAGE_ID_ENV

    out = dict(base)
    if image is not None:
        out.update(image.env_vars)
    for values in secret_values:
        out.update(values)
    out.update({k: v for k, v in (env or {}).items() if v is not None})
    if image is not None and image_built:
        out[IMAGE_ID_ENV] = image.object_id
    out["MODAL_IS_REMOTE"] = "1"
    return out


@dataclass(frozen=True)
class Mount:
    """Where a volume appears in an executor: ``path`` shows the directory ``source``."""

    path: str
    source: Path
    read_only: bool
    volume: str


def mount_plan(volumes: Mapping[str, Volume]) -> list[Mount]:
    """The mounts of a function's ``volumes={path: volume}``, sorted by path (parents first).

    Raises:
        InvalidError: an invalid mount path, or one volume mounted at two paths.
    """
    from chute.volume import check_mount_path

    seen: dict[str, str] = {}
    mounts = []
    for path, vol in volumes.items():
        mount_at = check_mount_path(path)
        if vol.object_id in seen:
            raise InvalidError(
                f"Volume {vol.name!r} is mounted at both {seen[vol.object_id]!r} and {mount_at!r}: "
                "mount it once."
            )
        seen[vol.object_id] = mount_at
        source = vol._root() / vol._sub_path if vol._sub_path else vol._root()
        mounts.append(Mount(mount_at, source, vol._read_only, vol.name))
    return sorted(mounts, key=lambda m: m.path)


def function_mounts(fn: Function[..., Any]) -> list[tuple[str, str, bool, str]]:
    """The mounts of a function's executor as ``(path, source directory, read_only, volume)``,
    parents first (what ``chute._platform.mount_volumes`` takes).

    Raises:
        NotFoundError: a volume does not exist (and was not declared ``create_if_missing``).
        InvalidError: see ``mount_plan``.
    """
    options = fn._options
    if options is None or not options.volumes:
        return []
    for vol in options.volumes.values():
        vol.local_path  # noqa: B018 - creates it if declared create_if_missing, else NotFoundError
    return [(m.path, str(m.source), m.read_only, m.volume) for m in mount_plan(options.volumes)]


def function_environment(fn: Function[..., Any], base: Mapping[str, str]) -> dict[str, str]:
    """``executor_environment`` for a function, resolving its secrets (reads the backend for
    named secrets, ``.env`` files for ``from_dotenv``).

    Raises:
        NotFoundError: a named secret does not exist.
    """
    options = fn._options
    if options is None:
        return executor_environment(base)
    return executor_environment(
        base, image=options.image, secret_values=[s.resolve() for s in options.secrets], env=options.env
    )


__all__ = [
    "Mount",
    "executor_environment",
    "function_environment",
    "function_mounts",
    "mount_plan",
    "run_call",
    "run_call_async",
]
