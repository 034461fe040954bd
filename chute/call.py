"""``chute.FunctionCall``: a handle on one spawned call, usable from any process."""

from __future__ import annotations

from typing import Any

from chute import _validate
from chute._async import call_ops as _call_ops_async
from chute._async import control_ops as _control_ops_async
from chute._async import graph_ops as _graph_ops_async
from chute._client import Client
from chute._context import current_function_call_id
from chute._dual import dual, static_dual
from chute._jobs import CallInfo, CallRef
from chute._sync import call_ops as _call_ops
from chute._sync import control_ops as _control_ops
from chute._sync import graph_ops as _graph_ops
from chute.exception import InvalidError

__all__ = ["CallInfo", "CurrentCall", "FunctionCall", "current_call"]


class FunctionCall:
    """A spawned call. Get one from ``Function.spawn`` or, in any process, ``FunctionCall.from_id``.

    Example:
        ```python
        call = process_job.spawn("my-data")
        call_id = call.object_id                      # store it, send it to a browser…
        result = chute.FunctionCall.from_id(call_id).get(timeout=5)
        ```
    """

    _ref: CallRef

    def __init__(self) -> None:
        raise RuntimeError("Get a FunctionCall from Function.spawn(...) or FunctionCall.from_id(call_id).")

    @classmethod
    def _of_ref(cls, ref: CallRef) -> FunctionCall:
        call = cls.__new__(cls)
        call._ref = ref
        return call

    @classmethod
    def _new(cls, call_id: str, client: Client | None = None) -> FunctionCall:
        return cls._of_ref(CallRef(call_id, client or Client.from_env()))

    @property
    def object_id(self) -> str:
        """The call's id (``fc-…``): store it, send it anywhere, ``from_id`` it back."""
        return self._ref.id

    @classmethod
    def from_id(cls, function_call_id: str) -> FunctionCall:
        """A handle on the call with this id (no I/O: an unknown id fails on first use).

        Raises:
            InvalidError: the id is not a ``fc-…`` id.
        """
        return cls._new(_validate.check_object_id(function_call_id, "fc", "FunctionCall"))

    get = dual(_call_ops.get, _call_ops_async.get, via="_ref")
    cancel = dual(_call_ops.cancel, _call_ops_async.cancel, via="_ref")
    info = dual(_call_ops.info, _call_ops_async.info, via="_ref")
    get_call_graph = dual(_graph_ops.get_call_graph, _graph_ops_async.get_call_graph, via="_ref")
    retry = dual(_control_ops.retry, _control_ops_async.retry, via="_ref")

    gather = static_dual(
        lambda *calls: _gather(calls), lambda *calls: _agather(calls), doc=_call_ops_async.gather.__doc__
    )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (FunctionCall._new, (self.object_id,))

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunctionCall) and other.object_id == self.object_id

    def __hash__(self) -> int:
        return hash(self.object_id)


def _gather(calls: tuple[FunctionCall, ...]) -> list[Any]:
    return _call_ops.gather(*[c._ref for c in calls])


async def _agather(calls: tuple[FunctionCall, ...]) -> list[Any]:
    return await _call_ops_async.gather(*[c._ref for c in calls])


class CurrentCall:
    """The call running in this executor (``chute.current_call()``): its id, and its progress."""

    _ref: CallRef

    def __init__(self, call_id: str) -> None:
        self._ref = CallRef(call_id, Client.from_env())

    @property
    def object_id(self) -> str:
        """The call's id (``fc-…``)."""
        return self._ref.id

    set_progress = dual(_control_ops.set_progress, _control_ops_async.set_progress, via="_ref")

    def __repr__(self) -> str:
        return f"CurrentCall({self.object_id!r})"


def current_call() -> CurrentCall:
    """The call being run, to report its progress (``set_progress(fraction, **meta)``).

    Raises:
        InvalidError: called outside a call run by a worker.

    Example:
        ```python
        @app.function()
        def crunch(n: int) -> None:
            for i in range(n):
                ...
                chute.current_call().set_progress((i + 1) / n, step=i)
        ```
    """
    call_id = current_function_call_id()
    if call_id is None:
        raise InvalidError("chute.current_call() is only available inside a call run by a worker.")
    return CurrentCall(call_id)
