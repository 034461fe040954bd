"""``chute.FunctionCall``: a handle on one spawned call, usable from any process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chute import _validate
from chute._async import call_ops as _call_ops_async
from chute._client import Client
from chute._dual import dual, static_dual
from chute._sync import call_ops as _call_ops
from chute.backends.types import CallRecord, CallState


@dataclass(frozen=True)
class CallInfo:
    """What ``FunctionCall.info()`` returns. Times are Unix seconds (None until reached)."""

    id: str
    env: str
    app: str
    function: str
    state: CallState
    attempts: int
    failures: int
    lost: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None
    worker: str | None
    error: str | None
    traceback: str | None

    @classmethod
    def from_record(cls, record: CallRecord, traceback: str | None = None) -> CallInfo:
        return cls(
            id=record.id,
            env=record.env,
            app=record.app,
            function=record.function,
            state=record.state,
            attempts=record.attempts,
            failures=record.failures,
            lost=record.lost,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            expires_at=record.expires_at,
            worker=record.worker,
            error=record.error,
            traceback=traceback,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO strings, the state as its value."""
        out: dict[str, Any] = dict(self.__dict__)
        out["state"] = self.state.value
        for key in ("created_at", "started_at", "finished_at", "expires_at"):
            value = out[key]
            out[key] = None if value is None else datetime.fromtimestamp(value).astimezone().isoformat()
        return out


class FunctionCall:
    """A spawned call. Get one from ``Function.spawn`` or, in any process, ``FunctionCall.from_id``.

    Example:
        ```python
        call = process_job.spawn("my-data")
        call_id = call.object_id                      # store it, send it to a browser…
        result = chute.FunctionCall.from_id(call_id).get(timeout=5)
        ```
    """

    _client: Client
    object_id: str

    def __init__(self) -> None:
        raise RuntimeError("Get a FunctionCall from Function.spawn(...) or FunctionCall.from_id(call_id).")

    @classmethod
    def _new(cls, call_id: str, client: Client | None = None) -> FunctionCall:
        call = cls.__new__(cls)
        call.object_id = call_id
        call._client = client or Client.from_env()
        return call

    @classmethod
    def from_id(cls, function_call_id: str) -> FunctionCall:
        """A handle on the call with this id (no I/O: an unknown id fails on first use).

        Raises:
            InvalidError: the id is not a ``fc-…`` id.
        """
        return cls._new(_validate.check_object_id(function_call_id, "fc", "FunctionCall"))

    get = dual(_call_ops.get, _call_ops_async.get)
    cancel = dual(_call_ops.cancel, _call_ops_async.cancel)
    info = dual(_call_ops.info, _call_ops_async.info)

    gather = static_dual(_call_ops.gather, _call_ops_async.gather)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (FunctionCall._new, (self.object_id,))

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunctionCall) and other.object_id == self.object_id

    def __hash__(self) -> int:
        return hash(self.object_id)
