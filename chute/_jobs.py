"""Records of the job API that sit below the public classes: function specs and retry
policies (stored by ``chute deploy``), call info, and the references the call ops work on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chute._client import Client
from chute.backends.types import CallRecord, CallState
from chute.exception import InvalidError

DEFAULT_TIMEOUT = 300.0
DEFAULT_RESULT_TTL = 7 * 24 * 3600.0
DEFAULT_SCALEDOWN_WINDOW = 60.0
DEFAULT_MAX_CONTAINERS = 8
# Attempts lost with their worker (kill -9, machine gone) are retried without using up the
# function's retries, up to this many (Modal's MAX_INTERNAL_FAILURE_COUNT).
MAX_LOST_ATTEMPTS = 8


@dataclass(frozen=True)
class Retries:
    """Retry policy: up to ``max_retries`` retries, waiting ``initial_delay * backoff_coefficient**k``
    seconds (capped at ``max_delay``) before retry k+1.

    Raises:
        InvalidError: an argument is out of Modal's ranges (max_retries >= 0, backoff_coefficient
            in [1, 10], initial_delay in [0, 60], max_delay in [1, 60]).

    Example:
        ```python
        @app.function(retries=chute.Retries(max_retries=3, backoff_coefficient=2.0, initial_delay=1.0))
        def flaky(): ...
        ```
    """

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.max_retries, int)
            or isinstance(self.max_retries, bool)
            or self.max_retries < 0
        ):
            raise InvalidError(f"Retries.max_retries must be an int >= 0, got {self.max_retries!r}.")
        if not 1.0 <= self.backoff_coefficient <= 10.0:
            raise InvalidError(
                f"Retries.backoff_coefficient must be in [1, 10], got {self.backoff_coefficient}."
            )
        if not 0.0 <= self.initial_delay <= 60.0:
            raise InvalidError(f"Retries.initial_delay must be in [0, 60] seconds, got {self.initial_delay}.")
        if not 1.0 <= self.max_delay <= 60.0:
            raise InvalidError(f"Retries.max_delay must be in [1, 60] seconds, got {self.max_delay}.")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(self.initial_delay * self.backoff_coefficient ** (retry - 1), self.max_delay)

    @classmethod
    def of(cls, retries: int | Retries | None) -> Retries:
        """``retries=n`` means n retries, 1 s apart (as in Modal)."""
        if retries is None:
            return cls(0)
        if isinstance(retries, Retries):
            return retries
        if isinstance(retries, int) and not isinstance(retries, bool):
            return cls(retries, backoff_coefficient=1.0, initial_delay=1.0)
        raise InvalidError(f"retries must be an int or chute.Retries, got {retries!r}.")


@dataclass(frozen=True)
class FunctionSpec:
    """How a function runs: what ``@app.function(...)`` was given, stored by ``chute deploy``."""

    retries: Retries = field(default_factory=lambda: Retries(0))
    timeout: float = DEFAULT_TIMEOUT
    max_containers: int = DEFAULT_MAX_CONTAINERS
    min_containers: int = 0
    scaledown_window: float = DEFAULT_SCALEDOWN_WINDOW
    result_ttl: float = DEFAULT_RESULT_TTL
    module: str | None = None  # where the code lives, for people reading listings
    web: dict[str, Any] | None = None  # a web endpoint's declaration (chute.web.spec.WebSpec)

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> FunctionSpec:
        raw = json.loads(data)
        raw["retries"] = Retries(**raw["retries"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def check_spec(
    timeout: float,
    max_containers: int | None,
    min_containers: int,
    scaledown_window: float,
    result_ttl: float,
) -> None:
    if timeout is None or not isinstance(timeout, int | float) or not 1 <= timeout <= 24 * 3600:
        raise InvalidError(f"timeout must be between 1 s and 24 h, got {timeout!r}.")
    if max_containers is not None and (not isinstance(max_containers, int) or max_containers < 1):
        raise InvalidError(f"max_containers must be an int >= 1, got {max_containers!r}.")
    if not isinstance(min_containers, int) or min_containers < 0:
        raise InvalidError(f"min_containers must be an int >= 0, got {min_containers!r}.")
    if max_containers is not None and min_containers > max_containers:
        raise InvalidError(f"min_containers ({min_containers}) must be <= max_containers ({max_containers}).")
    if not isinstance(scaledown_window, int | float) or scaledown_window <= 0:
        raise InvalidError(f"scaledown_window must be > 0 seconds, got {scaledown_window!r}.")
    if not isinstance(result_ttl, int | float) or result_ttl <= 0:
        raise InvalidError(f"result_ttl must be > 0 seconds, got {result_ttl!r}.")


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


@dataclass(frozen=True, slots=True)
class CallRef:
    """One spawned call as the ops see it (``chute.FunctionCall`` wraps one)."""

    id: str
    client: Client


def _bare(call: CallRef) -> Any:
    return call


@dataclass(slots=True)
class FunctionRef:
    """A function as the call ops see it (``chute.Function`` wraps one).

    ``spec`` is filled in from the deployment on first use when the function was looked up by
    name (``checked`` False until then). ``wrap_call`` turns a spawned ``CallRef`` into the
    public ``FunctionCall``: given by the public class, so the ops never import it.
    """

    app_name: str
    name: str
    spec: FunctionSpec
    env_name: str | None = None
    checked: bool = True
    idempotency_key: str | None = None
    wrap_call: Callable[[CallRef], Any] = _bare
    # An adapter serving many clients (the Modal wire server) pins its own client.
    pinned_client: Client | None = None

    @property
    def client(self) -> Client:
        # Resolved at each use, not at import time: the environment may change in between.
        return self.pinned_client or Client.from_env()

    @property
    def env(self) -> str:
        return self.env_name or self.client.settings.env

    @property
    def label(self) -> str:
        return f"{self.app_name}.{self.name}"
