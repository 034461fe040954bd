"""Plain data shared by every backend (sync and async)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """What a stored object is; also decides its id prefix."""

    QUEUE = "queue"
    DICT = "dict"

    @property
    def prefix(self) -> str:
        return {"queue": "qu", "dict": "di"}[self.value]


class PutStatus(enum.IntEnum):
    """Outcome of ``queue_put``: stored, or refused without storing anything."""

    OK = 0
    FULL = 1  # the partition would exceed max_items
    TOO_MANY_PARTITIONS = 2  # a new partition would exceed max_partitions


@dataclass(frozen=True)
class ObjectInfo:
    """A stored Queue or Dict. Times are Unix seconds from the backend's clock."""

    id: str
    kind: Kind
    env: str
    name: str | None
    created_at: float
    created_by: str | None = None
    ephemeral: bool = False
    max_items: int | None = None  # per-queue cap (multiprocessing-style maxsize); None = deployment limit


@dataclass(frozen=True)
class PartitionInfo:
    """One queue partition: its key (``b""`` = default), length and expiry (Unix seconds)."""

    key: bytes
    length: int
    expires_at: float


# An expired call's record stays this long, so ``get`` can say "expired" rather than "unknown".
CALL_TOMBSTONE = 24 * 3600.0


class CallState(enum.StrEnum):
    """Where a function call is in its life. The terminal states never change again."""

    PENDING = "pending"  # queued, or waiting out a retry backoff
    RUNNING = "running"  # claimed by a worker whose lease is live
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # terminal, and its result TTL has passed: the result is gone

    @property
    def terminal(self) -> bool:
        return self not in (CallState.PENDING, CallState.RUNNING)


@dataclass(frozen=True)
class CallRecord:
    """A function call as stored. Times are Unix seconds from the backend's clock.

    ``result`` holds the serialized outcome (return value or exception) once the call is
    terminal, and None after it expired. ``payload`` (the serialized arguments) is only
    filled in by ``job_claim``; other reads leave it None to keep them small.
    """

    id: str
    env: str
    app: str
    function: str
    state: CallState
    attempts: int  # claims so far (an attempt counts when a worker claims it)
    failures: int  # attempts that ended in a user error or a timeout
    lost: int  # attempts whose worker vanished (lease expired)
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None  # when the result is dropped (finished_at + result TTL)
    worker: str | None = None
    error: str | None = None  # last error, one line ("ValueError: boom"), for listings
    result: bytes | None = None
    payload: bytes | None = None
    priority: int = 0  # higher is claimed first among the function's pending calls
    progress: str | None = None  # JSON {"fraction": f, "meta": {...}} set by the running call
    # Short repr of the arguments, made by the caller at submit (None: submitted without one).
    args_summary: str | None = None


@dataclass(frozen=True)
class FunctionRecord:
    """A deployed function: its app, name and the JSON spec written by ``chute deploy``."""

    env: str
    app: str
    name: str
    spec: bytes  # JSON: module path, retries, timeout, max_containers, …
    deployed_at: float


@dataclass(frozen=True)
class FunctionStats:
    """Counts of one function's calls by state (terminal ones: those not yet collected)."""

    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """One call to store as PENDING (``job_submit``).

    ``idempotency_key``: when it was already used for this function within ``result_ttl``,
    the call submitted with it is returned instead and nothing new is stored.
    """

    env: str
    app: str
    function: str
    call_id: str
    payload: bytes
    result_ttl: float
    idempotency_key: str | None = None
    delay: float = 0.0  # not claimable for this many seconds
    priority: int = 0  # higher first; FIFO within one priority
    concurrency_key: str | None = None  # fairness: ClaimRequest.max_per_key caps calls per key
    # With ``idempotency_key``: an earlier call under the key that is still PENDING gets this
    # call's payload and ``delay`` (its start pushed back) instead of this one being dropped.
    debounce: bool = False
    # A short, human-readable repr of the arguments (``_args_summary``), shown by the call's
    # detail without unpickling ``payload``; None when the caller made none.
    args_summary: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """What a worker asks ``job_claim`` for: up to ``n`` calls of one function, leased to
    ``worker`` for ``lease`` seconds, keeping the function's RUNNING count at or under
    ``max_running`` (None = no cap); an attempt lost more than ``max_lost`` times fails."""

    env: str
    app: str
    function: str
    worker: str
    n: int
    lease: float
    max_running: int | None
    max_lost: int
    # At most ``rate_calls`` starts (claims) of the function in any ``rate_per`` seconds.
    rate_calls: int | None = None
    rate_per: float = 1.0
    # At most this many RUNNING calls per concurrency key; keys are served round-robin.
    max_per_key: int | None = None


@dataclass(frozen=True)
class ScheduleRecord:
    """A scheduled function's state: when its next tick is due (Unix seconds), whether it is
    paused, and its last tick. ``sig`` names the schedule the times were computed for."""

    env: str
    app: str
    function: str
    sig: str
    next_at: float
    paused: bool = False
    last_at: float | None = None
    last_call: str | None = None


class Completion(enum.StrEnum):
    """How ``job_complete`` ends an attempt (each one fenced by its attempt number)."""

    SUCCEEDED = "succeeded"  # as job_finish(SUCCEEDED): ``result`` is the return value
    FAILED = "failed"  # as job_finish(FAILED): ``result`` is the exception, ``error`` its line
    RETRY = "retry"  # as job_retry: pending again after ``delay``, one more failure
    RELEASE = "release"  # as job_release: given back, not counted


@dataclass(frozen=True, slots=True)
class CompleteRequest:
    """One attempt's end, for ``job_complete`` (fenced: written only if ``attempt`` is current)."""

    call_id: str
    attempt: int
    how: Completion
    result: bytes = b""
    error: str | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class LogChunk:
    """Output of attempt ``attempt`` of ``call_id``, to append; the log expires ``ttl`` seconds
    after this write (the worker passes the function's ``result_ttl``)."""

    call_id: str
    attempt: int
    data: bytes
    ttl: float
