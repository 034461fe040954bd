"""Records of the job API that sit below the public classes: function specs and retry
policies (stored by ``chute deploy``), call info, and the references the call ops work on."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chute import _validate
from chute._client import Client
from chute.backends.types import CallRecord, CallState
from chute.exception import InvalidError

DEFAULT_TIMEOUT = 300.0
MAX_FUNCTION_TIMEOUT = 24 * 3600.0
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
        _validate.check_count(self.max_retries, "Retries.max_retries", minimum=0)
        _validate.check_seconds(
            self.backoff_coefficient, "Retries.backoff_coefficient", minimum=1, maximum=10, unit=""
        )
        _validate.check_seconds(self.initial_delay, "Retries.initial_delay", maximum=60)
        _validate.check_seconds(self.max_delay, "Retries.max_delay", minimum=1, maximum=60)

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
class RateLimit:
    """At most ``calls`` starts of the function in any ``per_seconds`` seconds, across every
    worker (enforced in the atomic claim: no worker can overshoot it).

    Raises:
        InvalidError: ``calls`` is not an int >= 1, or ``per_seconds`` is not in (0, 1 day].

    Example:
        ```python
        @app.function(rate_limit=chute.RateLimit(calls=5, per_seconds=1))
        def call_partner_api(order: str) -> None: ...
        ```
    """

    calls: int
    per_seconds: float = 1.0

    def __post_init__(self) -> None:
        _validate.check_count(self.calls, "RateLimit.calls")
        _validate.check_seconds(self.per_seconds, "RateLimit.per_seconds", exclusive_min=True, maximum=86400)


MAX_PRIORITY = 1000  # priorities are ints in [-MAX_PRIORITY, MAX_PRIORITY]
MAX_CONCURRENCY_KEY_LEN = 256


@dataclass(frozen=True)
class CallControl:
    """Per-call options of ``Function.with_options``: when a call may start and how it queues."""

    delay: float = 0.0
    at: datetime | None = None  # overrides delay
    priority: int = 0
    concurrency_key: str | None = None
    debounce: bool = False

    def delay_now(self) -> float:
        """Seconds from now until the call may start."""
        if self.at is None:
            return self.delay
        return max(0.0, self.at.timestamp() - time.time())


def check_call_control(
    base: CallControl,
    *,
    delay: float | None,
    at: datetime | None,
    priority: int | None,
    concurrency_key: str | None,
    debounce: bool | None,
    idempotency_key: str | None,
) -> CallControl:
    """``base`` with the options that were given (None leaves one unchanged), validated.

    Raises:
        InvalidError: a negative or non-finite delay, ``at`` without a timezone, a priority
            outside [-1000, 1000], an empty or too long concurrency key, or ``debounce`` without
            an ``idempotency_key``.
    """
    changes: dict[str, Any] = {}
    if delay is not None:
        changes["delay"] = _validate.check_seconds(delay, "delay", maximum=_validate.MAX_TTL)
        changes["at"] = None
    if at is not None:
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidError(
                "at must be a timezone-aware datetime, e.g. datetime.now(timezone.utc) + "
                f"timedelta(hours=1); got {at!r}."
            )
        changes["at"] = at
    if priority is not None:
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
            raise InvalidError(
                f"priority must be an int in [-{MAX_PRIORITY}, {MAX_PRIORITY}], got {priority!r}."
            )
        changes["priority"] = priority
    if concurrency_key is not None:
        if not isinstance(concurrency_key, str) or not 0 < len(concurrency_key) <= MAX_CONCURRENCY_KEY_LEN:
            raise InvalidError(
                f"concurrency_key must be a non-empty str of at most {MAX_CONCURRENCY_KEY_LEN} characters, "
                f"got {concurrency_key!r}."
            )
        changes["concurrency_key"] = concurrency_key
    if debounce is not None:
        if not isinstance(debounce, bool):
            raise InvalidError(f"debounce must be a bool, got {debounce!r}.")
        if debounce and idempotency_key is None:
            raise InvalidError(
                "debounce=True needs an idempotency_key: "
                "with_options(idempotency_key=k, delay=s, debounce=True)."
            )
        changes["debounce"] = debounce
    return dataclasses.replace(base, **changes)


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
    # Modal's options with a local meaning (chute._options). Secrets appear by name or key
    # names only: a spec is stored in the backend and shown by listings.
    startup_timeout: float | None = None  # None: the timeout
    buffer_containers: int | None = None
    single_use_containers: bool = False
    is_generator: bool = False
    gpu: str | list[str] | None = None
    cpu: float | list[float] | None = None
    memory: int | list[int] | None = None
    schedule: dict[str, Any] | None = None  # chute.schedule.Schedule.to_json()
    secrets: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)  # mount path -> volume name
    image: str | None = None  # Image.object_id
    serialized: bool = False
    max_inputs: int = 1  # @concurrent: calls one executor runs at once (batches, when batched)
    target_inputs: int | None = None  # @concurrent: fill executors to this before starting another
    batch_max_size: int | None = None  # @batched
    batch_wait_ms: int = 0  # @batched
    # Job control (issue 16): which workers serve it, how fast and how fairly calls start.
    worker_tags: list[str] = field(default_factory=list)  # served only by workers with all of them
    rate_limit: dict[str, Any] | None = None  # RateLimit as a dict
    max_concurrency_per_key: int | None = None
    # ``chute deploy`` with code (issue 15): the sha256 of the deployed bundle. Its calls record
    # the app's live version at submit, and ``chute worker --all`` runs each on its version.
    code: str | None = None

    @property
    def slots(self) -> int:
        """Calls one executor holds at once: ``max_inputs`` (batches of ``batch_max_size``)."""
        return self.max_inputs * (self.batch_max_size or 1)

    @property
    def target_slots(self) -> int:
        """Calls one executor is filled to before the worker starts another executor."""
        return (self.target_inputs or self.max_inputs) * (self.batch_max_size or 1)

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
    _validate.check_seconds(timeout, "timeout", minimum=1, maximum=MAX_FUNCTION_TIMEOUT)
    if max_containers is not None:
        _validate.check_count(max_containers, "max_containers")
    _validate.check_count(min_containers, "min_containers", minimum=0)
    if max_containers is not None and min_containers > max_containers:
        raise InvalidError(f"min_containers ({min_containers}) must be <= max_containers ({max_containers}).")
    _validate.check_seconds(scaledown_window, "scaledown_window", exclusive_min=True)
    _validate.check_ttl(result_ttl, "result_ttl")


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
    priority: int = 0
    progress: float | None = None  # the fraction the call last reported (set_progress)
    progress_meta: dict[str, Any] | None = None  # what it reported with it
    # ``f(1, 'abc', x=[...])``, bounded, made by the caller at submit (None: made without one)
    args_summary: str | None = None

    @classmethod
    def from_record(cls, record: CallRecord, traceback: str | None = None) -> CallInfo:
        progress, meta = None, None
        if record.progress:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                raw = json.loads(record.progress)
                progress, meta = float(raw["fraction"]), dict(raw.get("meta") or {})
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
            priority=record.priority,
            progress=progress,
            progress_meta=meta,
            args_summary=record.args_summary,
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
    """One spawned call as the ops see it (``chute.FunctionCall`` wraps one).

    ``fresh_until`` (monotonic): until then the call is known to exist (this process submitted
    it and its result cannot have expired), so a wait for it may skip the first read."""

    id: str
    client: Client
    fresh_until: float = field(default=0.0, compare=False)


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
    # with_options(delay=, at=, priority=, concurrency_key=, debounce=): how its calls queue.
    control: CallControl = field(default_factory=CallControl)
    wrap_call: Callable[[CallRef], Any] = _bare
    # Arguments put before the caller's in every call: a class method's instance parameters
    # (chute.cls), computed when a call is made so that bad parameters fail there, as in Modal.
    bind_args: Callable[[], tuple[Any, ...]] | None = None
    # An adapter serving many clients (the Modal wire server) pins its own client.
    pinned_client: Client | None = None
    # A ``with_options`` variant's per-call overrides (``timeout``, ``retries`` as JSON-ready
    # values), stored with each call it submits and applied by the worker that runs it.
    call_options: dict[str, Any] | None = None

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
