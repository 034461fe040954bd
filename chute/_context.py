"""The call context of an executor: which call runs now, and whether this is an executor.

Pure and dependency-free, so every layer may ask (``spawn`` records the parent call of a call
spawned inside another one). ``chute._runtime`` sets the context around each call it runs.
Executors are the processes named ``chute-executor-*`` (or any process that called
``enter_executor()``): ``is_local()`` is False there, as in the main process of a Modal container.
"""

from __future__ import annotations

import contextvars
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager

EXECUTOR_PROCESS_PREFIX = "chute-executor-"
# Reserved keyword of a generator call: the id of the queue its values go to (remote_gen).
STREAM_KW = "__chute_stream__"

_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("chute_call_id", default=None)
_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("chute_input_id", default=None)
_in_executor = False


def enter_executor() -> None:
    """Mark this process as an executor (``is_local()`` becomes False)."""
    global _in_executor
    _in_executor = True


def is_local() -> bool:
    """False only in an executor process, where a worker runs calls (Modal's container);
    True everywhere else, including processes an executor starts.

    Example:
        ```python
        if not chute.is_local():
            import torch  # only where functions run
        ```
    """
    return not (_in_executor or multiprocessing.current_process().name.startswith(EXECUTOR_PROCESS_PREFIX))


def current_function_call_id() -> str | None:
    """The id (``fc-…``) of the call being run, or None outside a call (as in Modal).

    Example:
        ```python
        @app.function()
        def work() -> str:
            return chute.current_function_call_id() or "local"
        ```
    """
    return _call_id.get()


def current_input_id() -> str | None:
    """The id (``in-…``) of the input being run, or None outside a call. A call runs one
    input, named after the call, except a map's chunk (``chute._chunk``): its inputs share
    the call and each has an id of its own (``in-…-<index>``), as inputs of a Modal map do."""
    return _input_id.get()


def input_id_of(call_id: str) -> str:
    """The input id of a call (chute has one input per call)."""
    return "in-" + call_id.removeprefix("fc-")


@contextmanager
def call_context(call_id: str, input_index: int | None = None) -> Iterator[None]:
    """Make ``call_id`` the current call (and its input, or its ``input_index``-th input in a
    map chunk) inside the block."""
    input_id = input_id_of(call_id) if input_index is None else f"{input_id_of(call_id)}-{input_index}"
    tokens = (_call_id.set(call_id), _input_id.set(input_id))
    try:
        yield
    finally:
        _input_id.reset(tokens[1])
        _call_id.reset(tokens[0])
