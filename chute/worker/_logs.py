"""The worker's per-call log lines: one line on stderr per attempt that ends.

``chute worker`` writes, through the ``chute.worker`` logger (configure it like any other;
:func:`configure` adds a stderr handler only when logging is not configured at all)::

    04:31:07 fc-01J… test-jobs.flaky #1 failed in 0.01s: KeyError: 'x' (retry in 0.4s)
    04:31:08 fc-01J… test-jobs.flaky #2 succeeded in 0.01s

``#N`` is the attempt number; outcomes are ``succeeded``, ``failed`` (no retry left),
``failed … (retry in D s)``, ``released`` (given back unrun, e.g. at shutdown) and
``lost`` (its executor died or it timed out: the error says which).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chute.backends.types import CompleteRequest, Completion, LogChunk
from chute.worker import _capture

if TYPE_CHECKING:
    from chute.worker._fleet import Fleet, Outcome
    from chute.worker._scaling import Attempt

log = logging.getLogger("chute.worker")


class _TimedLines(logging.Formatter):
    """Every line of a message prefixed with the record's time: the lines of the attempts
    that ended in one turn go out as one record (one lock, one write), which at thousands of
    calls a second costs a few µs a line instead of ~100 µs per record."""

    def __init__(self) -> None:
        super().__init__("%(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, self.datefmt)
        return "\n".join(f"{stamp} {text}" for text in record.getMessage().split("\n"))


_own_handler: logging.Handler | None = None


def configure() -> None:
    """A concise stderr handler for ``chute.worker`` unless the application set logging up."""
    global _own_handler
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TimedLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    _own_handler = handler


def attempts_ended(outcomes: Sequence[Outcome], requests: Sequence[CompleteRequest], now: float) -> None:
    """One line per ended attempt (``requests[i]`` is how ``outcomes[i]`` is recorded; ``now``:
    when they were, monotonic): one record per line when the application configured logging,
    else one record per turn."""
    if not outcomes or not log.isEnabledFor(logging.INFO):
        return
    lines = [line(o, req, now) for o, req in zip(outcomes, requests, strict=True)]
    if _own_handler is not None and log.handlers == [_own_handler]:
        log.info("%s", "\n".join(lines))
        return
    for text in lines:
        log.info("%s", text)


def line(o: Outcome, req: CompleteRequest, now: float) -> str:
    a = o.attempt
    head = f"{req.call_id} {a.fn.key} #{req.attempt}"
    took = f" in {now - a.started:.2f}s" if a.started else ""
    if req.how == Completion.SUCCEEDED:
        return f"{head} succeeded{took}"
    if req.how == Completion.RELEASE:
        return f"{head} released (runs again elsewhere)"
    verb = "lost" if o.kind == "killed" else "failed"
    error = f": {req.error}" if req.error else ""
    retry = f" (retry in {req.delay:g}s)" if req.how == Completion.RETRY else ""
    return f"{head} {verb}{took}{error}{retry}"


class _Stoppable(Protocol):
    def hard_stop(self) -> None: ...


def interrupted(pool: _Stoppable, again: bool, grace: float) -> None:
    """Ctrl-C on ``chute worker``: the first stops gracefully (and says so), the second at once."""
    if again:
        print(
            "\nchute worker: stopping now; calls still running are given back to the queue "
            "once their lease lapses.",
            file=sys.stderr,
            flush=True,
        )
        pool.hard_stop()
        return
    print(
        f"\nchute worker: stopping gracefully (running calls get up to {grace:g}s to finish, the rest "
        "are given back). Press Ctrl-C again to stop now.",
        file=sys.stderr,
        flush=True,
    )


def chunks(held: Mapping[str, Attempt], body: list[tuple[str, bytes]]) -> list[LogChunk]:
    """An executor's ``("logs", body)`` as chunks of the attempts it holds (others are dropped:
    a zombie's output belongs to no current attempt)."""
    out = []
    for call_id, data in body:
        a = held.get(call_id)
        if a is not None and data:
            out.append(LogChunk(call_id, a.call.attempts, data, a.fn.spec.result_ttl))
    return out


def store(backend: Any, fleet: Fleet) -> None:
    """Write the output collected since the last turn (one backend call)."""
    if fleet.logs:
        pending, fleet.logs = fleet.logs, []
        backend.call_logs_append(pending, max_bytes=_capture.max_bytes() or 1)
