"""The supervisor's bookkeeping: attempts it holds, executors it runs, and how many each
function may have.

- **Attempts.** Every call the supervisor leased is an ``Attempt`` until its outcome is
  recorded or it is given back; it sits in an executor or, briefly, in its function's
  ``staged`` list (leased, waiting for a place).
- **Executors** take calls up to ``spec.slots`` (``max_inputs``, times ``batch_max_size``
  when batched). Calls the supervisor gave up on (timed out, cancelled) but that may still
  run inside are *zombies*: the executor is then contained (cancelled, drained or killed).
- **Fair shares.** ``chute worker --max-executors N`` caps the executors of all its
  functions together. ``quotas`` splits N max-min fairly between the functions that want
  executors: a function that needs fewer leaves the rest to the others.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any

from chute._chunk import CHUNK_SLACK
from chute._outcome import split_call_options
from chute._resources import Need
from chute.app import Function, FunctionSpec, Retries
from chute.backends.types import CallRecord
from chute.exception import InvalidError
from chute.worker._proc import ExecutorProcess

INF = math.inf
# Calls queued in a serial executor behind the one it runs, so it never waits for the
# supervisor between calls (Celery's prefetch, at its smallest useful depth). Queued calls are
# leased but not started: their timeout starts when the executor reports it started them,
# and a cancel or a timeout drops them from the queue without touching the running call.
# Only for functions whose calls are short (EWMA of their run time under PREFETCH_BELOW s):
# behind a long call, queued calls would wait while other executors or workers sit idle.
# A @concurrent executor (not batched) may likewise hold max_inputs more calls than it runs
# when its calls take under CONCURRENT_PREFETCH_BELOW s: the next wave starts as the last ends.
# Calls of a few milliseconds or less need a deeper queue: an executor gets through PREFETCH of
# them faster than the supervisor turns around (record outcomes, claim, send: a round trip to
# the backend), and would wait for it between batches. FAST_PREFETCH such calls are a few
# tens of milliseconds of work held back from other workers at most.
PREFETCH = 4
PREFETCH_BELOW = 0.05
FAST_PREFETCH = 32
FAST_BELOW = 0.005
CONCURRENT_PREFETCH_BELOW = 0.5


@dataclass(eq=False)
class Attempt:
    """One leased attempt of a call: fenced writes name ``call.attempts``."""

    call: CallRecord
    fn: FnState
    executor: Executor | None = None
    deadline: float = INF  # monotonic: the attempt times out then
    queued: bool = False  # dispatched with report_start: the deadline is set when it starts
    started: float = 0.0  # monotonic, when it started running (as far as the supervisor knows)
    # The call's own overrides (a ``with_options`` variant's timeout/retries), and its
    # arguments as the executor takes them (without that header).
    options: dict[str, Any] = field(init=False)
    payload: bytes | None = field(init=False)

    def __post_init__(self) -> None:
        self.options, self.payload = {}, self.call.payload
        if self.payload is not None:
            self.options, self.payload = split_call_options(self.payload)

    @property
    def id(self) -> str:
        return self.call.id

    @property
    def timeout(self) -> float:
        value = self.options.get("timeout")
        return float(value) if isinstance(value, int | float) else self.fn.spec.timeout

    @property
    def limit(self) -> float:
        """Seconds from its start (or its last progress) until the supervisor times it out: a
        map chunk's executor times each input out itself and reports progress between inputs
        (``chute.worker._chunks``), so the supervisor only catches an input stuck past that."""
        return self.timeout + CHUNK_SLACK if self.options.get("chunk") else self.timeout

    @property
    def retries(self) -> Retries:
        value = self.options.get("retries")
        if isinstance(value, dict):
            with contextlib.suppress(TypeError, InvalidError):
                return Retries(**value)
        return self.fn.spec.retries


@dataclass(eq=False)
class Executor:
    proc: ExecutorProcess
    fn: FnState
    started_at: float = field(default_factory=time.monotonic)
    ready_at: float | None = None
    calls: dict[str, Attempt] = field(default_factory=dict)
    zombies: set[str] = field(default_factory=set)  # abandoned calls that may still run inside
    retiring: bool = False  # takes no new calls; killed when empty or at kill_at
    kill_at: float = INF
    stop_sent: bool = False
    solo: bool = False  # runs a suspect alone (see Pool._executor_died)
    fatal: str | None = None
    idle_since: float = field(default_factory=time.monotonic)
    write_registered: bool = False  # the selector watches its socket for writability
    gpus: tuple[str, ...] = ()  # the GPU ids it holds (its CUDA_VISIBLE_DEVICES)
    start_by: float = INF  # monotonic: not ready by then (startup_timeout) and it is killed
    ran_one: bool = False  # single_use_containers: it took its one input
    # The call whose result the executor said it is writing itself (``_recorder``): ended.
    recording: str | None = None

    @property
    def load(self) -> int:
        return len(self.calls) + len(self.zombies)

    @property
    def placement_load(self) -> int:
        """Load when choosing where a call goes: an async executor's zombies are tasks being
        cancelled (gone in a moment), and a call whose result it is writing itself has ended,
        so a call sent there waits for a slot instead of paying for a new executor."""
        zombies = 0 if self.fn.is_async else len(self.zombies)
        return len(self.calls) + zombies - (self.recording in self.calls)

    @property
    def idle(self) -> bool:
        return not self.calls and not self.zombies and not self.retiring

    @property
    def accepting(self) -> bool:
        return not self.retiring and not self.solo

    def free(self) -> int:
        return max(0, self.fn.capacity - self.placement_load) if self.accepting else 0


@dataclass(eq=False)
class FnState:
    target: str
    fn: Function[Any, Any]
    executors: list[Executor] = field(default_factory=list)
    staged: list[Attempt] = field(default_factory=list)
    due: bool = True  # claim at the next turn (room just appeared)
    hungry: bool = False  # may have pending calls we did not take (its last claim was full)
    # Its last claim of several calls came back full: a backlog, so results are batched through
    # the supervisor rather than written by each executor (``_recorder``).
    backlog: bool = False
    quota: int = 0  # executors this function may have now (its share of the worker cap)
    share: int = 0  # executors it may run here: its share of max_containers among live pools
    # Fixed for the worker's life (set in __post_init__):
    spec: FunctionSpec = field(init=False)
    key: str = field(init=False)
    is_async: bool = field(init=False)
    serial: bool = field(init=False)  # one call at a time in the executor's main thread
    max_capacity: int = field(init=False)  # the most one executor ever holds (slots + prefetch)
    need: Need = field(init=False)  # what one executor holds of the worker's GPUs, CPU, memory
    _prefetch_below: float = field(init=False)
    avg_s: float = 1.0  # EWMA of a call's run time (pessimistic until measured)

    def __post_init__(self) -> None:
        self.spec = self.fn.spec
        self.key = f"{self.fn.app_name}.{self.fn.name}"
        self.is_async = inspect.iscoroutinefunction(self.fn._raw)
        self.serial = not self.is_async and self.spec.max_inputs == 1 and self.spec.batch_max_size is None
        self.need = Need.of(self.spec.gpu, self.spec.cpu, self.spec.memory)
        slots = self.spec.slots
        if self.spec.single_use_containers:
            # One input per executor, then it is recycled: no prefetch, no second slot.
            self.max_capacity, self._prefetch_below = 1, 0.0
        elif self.serial:
            self.max_capacity, self._prefetch_below = slots + FAST_PREFETCH, PREFETCH_BELOW
        elif self.spec.batch_max_size is None:
            self.max_capacity, self._prefetch_below = 2 * slots, CONCURRENT_PREFETCH_BELOW
        else:
            self.max_capacity, self._prefetch_below = slots, 0.0
        self.share = self.spec.max_containers

    @property
    def capacity(self) -> int:
        """Calls one executor holds now: its slots, plus queued ones while calls are short."""
        if self.avg_s >= self._prefetch_below:
            return min(self.spec.slots, self.max_capacity)
        if self.serial and self.avg_s >= FAST_BELOW:
            return self.spec.slots + PREFETCH
        return self.max_capacity

    def ran(self, seconds: float) -> None:
        self.avg_s += 0.2 * (seconds - self.avg_s)

    @property
    def live_calls(self) -> int:
        return sum(len(e.calls) for e in self.executors) + len(self.staged)

    @property
    def busy_executors(self) -> int:
        return sum(1 for e in self.executors if e.calls or e.zombies or e.retiring)

    def want(self, container_share: int) -> int:
        """Executors this function would use now: its share of max_containers when it may
        have a backlog, else those it keeps busy (and its warm minimum)."""
        if self.hungry or self.staged:
            return container_share
        need = math.ceil(self.live_calls / max(1, self.spec.target_slots))
        return min(container_share, max(need, self.busy_executors, self.spec.min_containers))


def quotas(cap: int, wants: list[int], start: int = 0) -> list[int]:
    """Max-min fair split of ``cap`` executors: nobody gets more than it wants, and what one
    does not want goes to the others. ``start`` rotates who gets the odd one first."""
    n = len(wants)
    out = [0] * n
    left = cap
    while left > 0:
        gave = False
        for k in range(n):
            i = (start + k) % n
            if left > 0 and out[i] < wants[i]:
                out[i] += 1
                left -= 1
                gave = True
        if not gave:
            break
    return out


def default_max_executors() -> int:
    """``--max-executors`` default: one per CPU, at least 4 (so a few blocking calls can overlap
    on small machines; use ``@chute.concurrent`` for more)."""
    import os

    return max(4, os.cpu_count() or 1)
