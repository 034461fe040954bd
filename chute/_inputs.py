"""``@chute.concurrent`` and ``@chute.batched``: how many inputs one executor takes at once.

Both go *below* ``@app.function()`` (as in Modal) and only mark the function; ``app.function``
reads the marks into the ``FunctionSpec``. See ``chute.worker`` for how executors run them.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from chute.exception import InvalidError

if TYPE_CHECKING:
    from chute._jobs import FunctionSpec

T = TypeVar("T")

MAX_BATCH_SIZE = 1000
MAX_BATCH_WAIT_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class Concurrency:
    max_inputs: int
    target_inputs: int | None = None


@dataclass(frozen=True)
class Batching:
    max_batch_size: int
    wait_ms: int


_CONCURRENCY_ATTR = "__chute_concurrency__"
_BATCHING_ATTR = "__chute_batching__"


def check_concurrency(max_inputs: object, target_inputs: object) -> Concurrency:
    if not isinstance(max_inputs, int) or isinstance(max_inputs, bool) or max_inputs < 1:
        raise InvalidError(f"max_inputs must be an int >= 1, got {max_inputs!r}.")
    if target_inputs is not None and (
        not isinstance(target_inputs, int) or isinstance(target_inputs, bool) or target_inputs < 1
    ):
        raise InvalidError(f"target_inputs must be None or an int >= 1, got {target_inputs!r}.")
    if target_inputs is not None and target_inputs > max_inputs:
        raise InvalidError("`target_inputs` parameter cannot be greater than `max_inputs`.")
    return Concurrency(max_inputs, target_inputs)


def _refuse_function_object(obj: object, decorator: str) -> None:
    if type(obj).__name__ == "Function" and hasattr(obj, "_ref"):  # a chute.Function (no import cycle)
        raise InvalidError(
            f"@chute.{decorator} must go below @app.function(), not above it: "
            "swap the order of the decorators."
        )


def concurrent(
    *, max_inputs: int | None = None, target_inputs: int | None = None
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Let one executor run up to ``max_inputs`` calls of the function at once.

    ``async def`` functions run as tasks on the executor's event loop; sync ones in a pool of
    ``max_inputs`` threads (so they must be thread-safe). The worker fills executors up to
    ``target_inputs`` (default ``max_inputs``) before it starts another one, and bursts to
    ``max_inputs`` when it may not start more. Each call keeps its own lease, timeout and
    cancellation. Stack it below ``@app.function()``.

    Raises:
        TypeError: ``max_inputs`` is missing (as in Modal).
        InvalidError: ``max_inputs < 1``, ``target_inputs > max_inputs``, or stacked above
            ``@app.function()``.

    Example:
        ```python
        @app.function()
        @chute.concurrent(max_inputs=100)
        async def fetch(url: str) -> int:
            async with httpx.AsyncClient() as client:
                return (await client.get(url)).status_code
        ```
    """
    if max_inputs is None:
        raise TypeError("@chute.concurrent() needs max_inputs=, e.g. @chute.concurrent(max_inputs=10).")
    policy = check_concurrency(max_inputs, target_inputs)

    def decorate(obj: Callable[..., T]) -> Callable[..., T]:
        _refuse_function_object(obj, "concurrent")
        setattr(obj, _CONCURRENCY_ATTR, policy)
        return obj

    return decorate


def check_batching(max_batch_size: object, wait_ms: object) -> Batching:
    if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= MAX_BATCH_SIZE:
        raise InvalidError(f"max_batch_size must be an int in [1, {MAX_BATCH_SIZE}], got {max_batch_size!r}.")
    if not isinstance(wait_ms, int) or not 0 <= wait_ms <= MAX_BATCH_WAIT_MS:
        raise InvalidError(f"wait_ms must be an int in [0, {MAX_BATCH_WAIT_MS}], got {wait_ms!r}.")
    return Batching(max_batch_size, wait_ms)


def batched(*, max_batch_size: int, wait_ms: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Group up to ``max_batch_size`` calls into one invocation that takes lists.

    Callers pass one value per parameter (``f.remote(x)``, ``f.map(xs)``); the executor
    waits up to ``wait_ms`` after the first queued input for the batch to fill, then calls
    the function once with one list per parameter. It must return a list of the same
    length: output *i* goes to input *i*. An exception fails every input of that batch.

    Raises:
        InvalidError: a limit is out of range (1..1000 inputs, 0..600000 ms), a parameter
            has a default, the function is a generator, or stacked above ``@app.function()``.

    Example:
        ```python
        @app.function()
        @chute.batched(max_batch_size=4, wait_ms=1000)
        async def multiply(xs: list[int], ys: list[int]) -> list[int]:
            return [x * y for x, y in zip(xs, ys)]

        multiply.remote(2, 100)  # 200, computed in a batch with other callers' inputs
        ```
    """
    policy = check_batching(max_batch_size, wait_ms)

    def decorate(obj: Callable[..., T]) -> Callable[..., T]:
        _refuse_function_object(obj, "batched")
        if inspect.isgeneratorfunction(obj) or inspect.isasyncgenfunction(obj):
            raise InvalidError(f"A @batched function cannot be a generator ({obj.__name__}).")
        defaults = [p.name for p in inspect.signature(obj).parameters.values() if p.default is not p.empty]
        if defaults:
            raise InvalidError(f"A @batched function cannot have parameters with defaults: {defaults}.")
        setattr(obj, _BATCHING_ATTR, policy)
        return obj

    return decorate


def policies_of(obj: Any) -> tuple[Concurrency | None, Batching | None]:
    """The marks ``concurrent``/``batched`` left on a function (or class)."""
    return getattr(obj, _CONCURRENCY_ATTR, None), getattr(obj, _BATCHING_ATTR, None)


def with_policies(spec: FunctionSpec, obj: object) -> FunctionSpec:
    """``spec`` with the ``@concurrent``/``@batched`` marks of ``obj`` (a function, or a class
    whose methods all run under them) applied."""
    concurrency, batching = policies_of(obj)
    if concurrency is not None:
        spec = dataclasses.replace(
            spec, max_inputs=concurrency.max_inputs, target_inputs=concurrency.target_inputs
        )
    if batching is not None:
        spec = dataclasses.replace(
            spec, batch_max_size=batching.max_batch_size, batch_wait_ms=batching.wait_ms
        )
    return spec
