"""The executors of one supervisor: start, feed, watch, contain, scale and reap them.

The fleet does no backend I/O. What it learns about attempts becomes ``Outcome`` records that
the supervisor (``_supervisor.Pool``) writes to the backend: a result, a failure to record
(timeout, crash), or an attempt to give back (it was inside an executor that had to die
for a neighbour's sake).

Containment, when the supervisor gives up on a call (timeout, cancel, lost lease) that is
inside an executor with other calls:

- ``async def``: the call's task is cancelled (alone or not); if it has not ended
  ``CANCEL_GRACE`` s later (it blocks the loop), the executor is killed and its other calls
  re-run elsewhere;
- sync, in a thread (threads cannot be killed): the executor takes no new calls, its other
  calls get up to ``DRAIN_LIMIT`` s to finish, then it is killed and replaced and the calls
  still inside re-run elsewhere (given back, not counted as failures);
- sync and alone in its executor: the executor's process group is killed at once.
"""

from __future__ import annotations

import math
import os
import selectors
import sys
import time
from dataclasses import dataclass
from typing import Any

from chute._resources import Capacity
from chute._runtime import function_environment, function_mounts
from chute.backends.types import LogChunk
from chute.exception import FunctionTimeoutError, RemoteError
from chute.worker import _logs
from chute.worker._limits import MemoryWatch
from chute.worker._placement import Ledger
from chute.worker._proc import ExecutorProcess
from chute.worker._scaling import INF, Attempt, Executor, FnState, quotas
from chute.worker._zygote import Zygote

# An executor gets this long to import the user's code and run @enter before its calls fail
# (a function's ``startup_timeout`` replaces it).
STARTUP_GRACE = 120.0
CANCEL_GRACE = 2.0
DRAIN_LIMIT = 30.0
STOP_GRACE = 5.0  # an executor told to stop (scale-down) exits by itself within this, or is killed
SUSPECT_TTL = 600.0
# A call's clock starts when the supervisor sends it to an idle executor, or hears that a
# queued one started; the function itself starts a little later (the trip, its arguments'
# unpickling: tens of ms on a loaded machine), so the timeout gets this much more and never
# fires before the function has run ``timeout`` seconds.
DISPATCH_MARGIN = 0.1


@dataclass(frozen=True)
class Outcome:
    """What the supervisor must write for an attempt: ``kind`` is ``ok``/``err`` (the function
    returned/raised: ``outcome`` holds it), ``killed`` (ended without an outcome: ``error``
    is the exception to record), ``release`` (give it back: it re-runs, not counted) or
    ``recorded`` (it succeeded and its executor wrote the result: nothing to write)."""

    attempt: Attempt
    kind: str
    outcome: bytes = b""
    error: str | None = None
    exc: Exception | None = None


class Fleet:
    def __init__(
        self,
        fns: list[FnState],
        max_executors: int,
        worker_id: str,
        selector: Any,
        capacity: Capacity | None = None,
        mount_namespaces: bool = True,
        zygote: Zygote | None = None,
    ) -> None:
        self.fns = fns
        self.zygote = zygote  # executors are forked from it while it works (``_zygote``)
        self.ledger = Ledger(capacity or Capacity((), float("inf"), 1 << 40))
        self.memory = MemoryWatch()
        self.mount_namespaces = mount_namespaces
        self.max_executors = max_executors
        self.worker_id = worker_id
        self.sel: selectors.BaseSelector = selector
        self.held: dict[str, Attempt] = {}  # every attempt held, by call id
        self.outcomes: list[Outcome] = []
        self.suspects: dict[str, float] = {}  # call id -> monotonic expiry
        self.peers: dict[str, int] = {}
        self._dying: list[Executor] = []
        self._rotation = 0
        self._next_scale = 0.0
        self._poll_only = False  # no pidfds: poll exit codes at each turn
        self.logs: list[LogChunk] = []  # calls' output to store (``_logs.store``)

    # -- counts ----------------------------------------------------------------------------

    def total(self) -> int:
        return sum(len(f.executors) for f in self.fns)

    def set_peers(self, peers: dict[str, int]) -> None:
        """Live pools per function (this one included): each takes its share of max_containers."""
        self.peers = peers
        for f in self.fns:
            n = max(1, peers.get(f.key, 1))
            f.share = min(f.spec.max_containers, math.ceil(f.spec.max_containers / n))

    def share(self, f: FnState) -> int:
        return f.share

    def update_quotas(self) -> None:
        wants = [f.want(f.share) for f in self.fns]
        self._rotation = (self._rotation + 1) % max(1, len(self.fns))
        for f, q in zip(self.fns, quotas(self.max_executors, wants, self._rotation), strict=True):
            f.quota = q

    def _active(self, f: FnState) -> list[Executor]:
        return [e for e in f.executors if not e.retiring]

    def _can_start(self, f: FnState) -> bool:
        return (
            len(self._active(f)) < self.share(f)
            and self.total() < self.max_executors
            and self.ledger.startable(f.need) > 0
        )

    def room(self, f: FnState) -> int:
        """Calls ``f`` can take now: free slots plus those of executors it may still start.
        (Quotas do not limit this: they decide who gives way once the cap is reached.)"""
        startable = max(
            0,
            min(
                f.share - len(self._active(f)),
                self.max_executors - self.total(),
                self.ledger.startable(f.need),
            ),
        )
        capacity = sum(e.free() for e in f.executors) + startable * f.capacity - len(f.staged)
        return min(capacity, f.share * f.capacity - f.live_calls)

    # -- starting and feeding ---------------------------------------------------------------

    def start(self, f: FnState) -> Executor:
        init = {
            "target": f.target,
            "app": f.fn.app_name,
            "function": f.fn.name,
            "sys_path": list(sys.path),
            "parent": _pid(),
            "title": f"chute executor {f.key} (worker {self.worker_id})",
        }
        env: dict[str, str] | None = None
        gpus = self.ledger.take(f.need)
        try:
            # The function's secrets, env= and image env: resolved here (named secrets are read
            # from the backend), so the executor starts with them as Modal's containers do.
            env = function_environment(f.fn, os.environ)
            if self.ledger.capacity.gpus:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)  # its own GPUs (none: none)
            init["mounts"] = function_mounts(f.fn)
            init["mount_namespaces"] = self.mount_namespaces
        except Exception as exc:
            init["fatal"] = f"its environment cannot be prepared: {exc}"
        e = Executor(ExecutorProcess(init, env, self.zygote), f, gpus=gpus)
        e.start_by = e.started_at + (f.spec.startup_timeout or STARTUP_GRACE)
        f.executors.append(e)
        self.sel.register(e.proc.channel, selectors.EVENT_READ, ("chan", e))
        if e.proc.pidfd is not None:
            self.sel.register(e.proc.pidfd, selectors.EVENT_READ, ("pid", e))
        else:
            self._poll_only = True
        return e

    def _pick(self, f: FnState, solo: bool) -> Executor | None:
        if solo:
            e = next((e for e in f.executors if e.idle and e.accepting), None)
            if e is None and self._can_start(f):
                e = self.start(f)
            if e is not None:
                e.solo = True
            return e
        below_target = self._below_target(f)
        if not below_target and self._can_start(f):
            # Before starting one: an executor may have said it is writing its call's result,
            # which the caller may have seen already and sent this call after (``_recorder``).
            for e in list(f.executors):
                self.read(e)
            below_target = self._below_target(f)
        if below_target:
            # Pack: spare executors stay idle, then scale down.
            return max(below_target, key=lambda e: e.placement_load)
        if self._can_start(f):
            return self.start(f)
        burst = [e for e in f.executors if e.accepting and e.placement_load < f.capacity]
        return min(burst, key=lambda e: e.placement_load) if burst else None

    def _below_target(self, f: FnState) -> list[Executor]:
        return [e for e in f.executors if e.accepting and e.placement_load < f.spec.target_slots]

    def place(self, f: FnState, attempts: list[Attempt]) -> None:
        """Send each attempt to an executor of ``f`` (starting some as allowed); the rest wait
        in ``f.staged`` (leased, renewed) until room appears."""
        now = time.monotonic()
        batches: dict[Executor, list[tuple[str, bytes | None, bool, int | None]]] = {}
        spec = f.spec
        for a in attempts:
            self.held[a.id] = a
            e = self._pick(f, a.id in self.suspects)
            if e is None:
                f.staged.append(a)
                continue
            a.executor = e
            # Alone, with no backlog known: its executor may write its result itself (the
            # attempt fences that write). Under a backlog, results are batched here instead.
            lone = spec.batch_max_size is None and not f.backlog and not e.placement_load
            record = a.call.attempts if lone else None
            # Behind another call (prefetch), waiting for its batch, or for the executor to
            # start: started later, reported, and its timeout runs from then (a cold start
            # under load can take seconds, and the "ready" message is not the call's start).
            report_start = spec.batch_max_size is not None or e.load >= spec.slots or e.ready_at is None
            e.calls[a.id] = a
            a.queued = report_start
            a.started = now
            if spec.single_use_containers:
                e.retiring = True  # its one input: recycled (exit hooks run) once it is done
            if report_start:
                # A bound until the start is reported; enforce() fails it at start_by if the
                # executor is not ready by then.
                waits = max(now + STARTUP_GRACE, e.start_by if e.ready_at is None else now)
                a.deadline = waits + spec.batch_wait_ms / 1000 + a.limit
            else:
                a.deadline = now + a.limit + DISPATCH_MARGIN
            batches.setdefault(e, []).append((a.id, a.payload, report_start, record))
        for e, batch in batches.items():
            e.proc.channel.send(("run", batch))

    def place_staged(self, f: FnState) -> None:
        if f.staged:
            staged, f.staged = f.staged, []
            for a in staged:
                self.held.pop(a.id, None)
            self.place(f, staged)

    # -- messages from executors ------------------------------------------------------------

    def on_message(self, e: Executor, message: Any) -> None:
        kind, body = message[0], message[1]
        if kind == "done":
            self._on_done(e, body)
        elif kind == "recorded":  # succeeded, and the executor wrote the result (``_recorder``)
            self._on_done(e, [(call_id, True, b"", None) for call_id in body], recorded=True)
        elif kind == "recording":  # it is writing the result: its slot counts as free
            e.recording = body[0]
        elif kind in ("start", "progress", "ready"):
            self._on_clock(e, kind, body)
        elif kind == "logs":
            self.logs += _logs.chunks(e.calls, body)
        elif kind == "fatal":
            e.fatal = str(body)
            print(f"chute worker: {body}", file=sys.stderr, flush=True)

    def _on_clock(self, e: Executor, kind: str, body: Any) -> None:
        """Messages that start a call's timeout: a queued call ``start``ed, a map chunk's next
        input began (``progress``), the executor became ``ready`` (its calls start)."""
        now = time.monotonic()
        if kind == "start":
            for a in filter(None, map(e.calls.get, body)):
                if a.queued:
                    a.queued, a.deadline, a.started = False, now + a.limit + DISPATCH_MARGIN, now
        elif kind == "progress":
            for a in filter(None, map(e.calls.get, body)):
                if not a.queued:
                    a.deadline = now + a.limit
        else:
            e.ready_at = now
            for a in e.calls.values():
                if not a.queued:
                    a.deadline, a.started = now + a.limit + DISPATCH_MARGIN, now

    def _on_done(
        self, e: Executor, done: list[tuple[str, bool, bytes, str | None]], recorded: bool = False
    ) -> None:
        for call_id, ok, outcome, error in done:
            a = e.calls.pop(call_id, None)
            if a is None:  # a zombie ended (cancelled task, drained thread)
                e.zombies.discard(call_id)
                if not e.zombies and not e.retiring:
                    e.kill_at = INF
                continue
            self.held.pop(call_id, None)
            kind = "recorded" if recorded else "ok" if ok else "err"
            self.outcomes.append(Outcome(a, kind, outcome, error))
            e.fn.ran(time.monotonic() - a.started)
            if e.solo:
                e.solo = False
                self.suspects.pop(call_id, None)
        if not e.calls:
            e.idle_since = time.monotonic()
        # A recorded result needs no write: claim only if calls are known to wait (the last
        # claim came back full); otherwise the watcher, re-armed by the room, hears the next.
        if not recorded or e.fn.hungry:
            e.fn.due = True

    # -- giving up on calls -----------------------------------------------------------------

    def abandon(self, a: Attempt, exc: Exception | None) -> None:
        """Stop holding ``a`` (timed out: record ``exc``; cancelled or lost: nothing to record)
        and contain what may still run of it."""
        self.held.pop(a.id, None)
        if exc is not None:
            self.outcomes.append(Outcome(a, "killed", exc=exc))
        e = a.executor
        if e is None:
            if a in a.fn.staged:
                a.fn.staged.remove(a)
            return
        e.calls.pop(a.id, None)
        e.zombies.add(a.id)
        if a.queued:
            # Not started: the executor drops it from its queue (and reports it done).
            e.proc.channel.send(("cancel", [a.id]))
        else:
            self._contain(e)

    def _contain(self, e: Executor) -> None:
        now = time.monotonic()
        if e.fn.is_async:
            # A task can be cancelled: the executor (warm, maybe with neighbours) lives on,
            # unless the task has not ended CANCEL_GRACE s later (it blocks the loop).
            e.proc.channel.send(("cancel", sorted(e.zombies)))
            e.kill_at = min(e.kill_at, now + CANCEL_GRACE)
        elif not e.calls:
            self.kill(e)
        else:
            e.retiring = True
            e.kill_at = min(e.kill_at, now + DRAIN_LIMIT)

    def kill(self, e: Executor) -> None:
        """Kill the executor's process group now; calls still inside re-run elsewhere."""
        for a in e.calls.values():
            self.held.pop(a.id, None)
            self.outcomes.append(Outcome(a, "release"))
        e.calls.clear()
        e.zombies.clear()
        e.proc.kill()
        self._forget(e)

    def fail(self, e: Executor, exc: Exception) -> None:
        """Kill the executor's process group now; the calls inside fail with ``exc``."""
        for a in e.calls.values():
            self.held.pop(a.id, None)
            self.outcomes.append(Outcome(a, "killed", exc=exc))
        e.calls.clear()
        e.zombies.clear()
        e.proc.kill()
        self._forget(e)

    def retire(self, e: Executor) -> None:
        """Scale down: no new calls; once empty, ask it to stop (its exit hooks run), then kill."""
        e.retiring = True
        if not e.calls and not e.zombies and not e.stop_sent:
            e.proc.channel.send(("stop",))
            e.stop_sent = True
            e.kill_at = min(e.kill_at, time.monotonic() + STOP_GRACE)

    def _forget(self, e: Executor) -> None:
        if e in e.fn.executors:
            e.fn.executors.remove(e)
            e.fn.due = True
            self.ledger.give(e.fn.need, e.gpus)
        if e.proc.channel.sock.fileno() >= 0:
            self.sel.unregister(e.proc.channel)
        if e.proc.poll() is None:
            self._dying.append(e)  # its pidfd stays registered until it is reaped
        else:
            self._close(e)

    def _close(self, e: Executor) -> None:
        if e.proc.pidfd is not None:
            self.sel.unregister(e.proc.pidfd)
        e.proc.close()
        if e in self._dying:
            self._dying.remove(e)

    # -- deaths --------------------------------------------------------------------------------

    def on_exit(self, e: Executor) -> None:
        """The pidfd says the process is gone: read what it sent last, then settle its calls."""
        if e in self._dying:
            self._close(e)
            return
        if e.proc.poll() is None:
            return  # spurious: not reaped yet
        self.read(e)
        code = e.proc.returncode
        live = list(e.calls.values())
        e.calls.clear()
        self._forget(e)
        if not live:
            return
        for a in live:
            self.held.pop(a.id, None)
        if e.ready_at is None or e.fatal:
            exc = RemoteError(
                f"the executor of {e.fn.key} failed to start ({e.fatal or f'exit code {code}'})"
            )
            self.outcomes += [Outcome(a, "killed", exc=exc) for a in live]
        elif len(live) == 1 and not e.zombies:
            exc = RemoteError(
                f"the process running {live[0].id} exited with code {code} (crashed or was killed)"
            )
            self.outcomes.append(Outcome(live[0], "killed", exc=exc))
        else:
            # Several calls shared the process: which one killed it is unknown. Re-run them all,
            # each alone in an executor when it comes back here, so a crash can be pinned on it.
            expiry = time.monotonic() + SUSPECT_TTL
            for a in live:
                self.suspects[a.id] = expiry
                self.outcomes.append(Outcome(a, "release"))

    def read(self, e: Executor) -> None:
        try:
            messages = e.proc.channel.read()
        except EOFError:
            messages = []
            if e.proc.channel.sock.fileno() >= 0 and e in e.fn.executors:
                self.sel.unregister(e.proc.channel)
                e.proc.channel.close()
        for message in messages:
            self.on_message(e, message)

    def poll_exits(self) -> None:
        """Without pidfds: reap by polling."""
        if self._poll_only:
            for e in [e for f in self.fns for e in f.executors] + list(self._dying):
                if e.proc.poll() is not None:
                    self.on_exit(e)

    # -- timers ---------------------------------------------------------------------------------

    def next_timer(self) -> float:
        times = [a.deadline for a in self.held.values()]
        times += [min(e.kill_at, INF if e.ready_at else e.start_by) for f in self.fns for e in f.executors]
        times.append(self.memory.next_check(any(f.need.memory_limit and f.executors for f in self.fns)))
        return min(times, default=INF)

    def enforce(self, now: float) -> None:
        """Time out attempts, kill executors whose grace ran out or that are over their memory
        limit or did not start in time, stop drained ones."""
        self._enforce_limits(now)
        expired = [a for a in self.held.values() if now >= a.deadline]
        for e in {a.executor for a in expired if a.executor is not None}:
            self.read(e)  # an outcome may be waiting unread: it beat the deadline
        for a in [a for a in expired if a.id in self.held]:
            self.abandon(
                a, FunctionTimeoutError(f"{a.fn.key} ({a.id}) exceeded its timeout of {a.timeout:g} s")
            )
        for f in self.fns:
            for e in list(f.executors):
                if now >= e.kill_at:
                    self.kill(e)
                elif e.retiring and not e.calls:
                    if e.zombies:
                        self.kill(e)  # what is left inside was given up on
                    else:
                        self.retire(e)

    def _enforce_limits(self, now: float) -> None:
        limited = [e for f in self.fns if f.need.memory_limit for e in f.executors]
        for e, exc in self.memory.over_limit(limited, now):
            print(f"chute worker: {exc}", file=sys.stderr, flush=True)
            self.fail(e, exc)
        for e in [e for f in self.fns for e in f.executors if e.ready_at is None and now >= e.start_by]:
            self.read(e)  # it may have become ready (or failed) just now
            if e.ready_at is None and e in e.fn.executors and not e.fatal:
                took = e.fn.spec.startup_timeout or STARTUP_GRACE
                self.fail(
                    e,
                    FunctionTimeoutError(
                        f"the executor of {e.fn.key} did not start within {took:g} s (startup_timeout): "
                        "importing the app or its @enter took too long"
                    ),
                )

    def scale(self, now: float) -> None:
        """Rebalance between functions at the cap; stop executors idle past scaledown_window.
        (At most every 0.1 s: none of it is urgent, and the loop may turn thousands of times a second.)"""
        if now < self._next_scale:
            return
        self._next_scale = now + 0.1
        self.update_quotas()
        starved = any(
            (g.hungry or g.staged) and len(self._active(g)) < min(g.quota, self.share(g)) for g in self.fns
        )
        if starved and self.total() >= self.max_executors:
            for f in self.fns:
                active = sorted(self._active(f), key=lambda e: (e.load, e.idle_since))
                for e in active[: max(0, len(active) - f.quota)]:
                    self.retire(e)
        for f in self.fns:
            idle = sorted((e for e in f.executors if e.idle and not e.solo), key=lambda e: e.idle_since)
            spare = len(self._active(f)) - f.spec.min_containers
            for e in idle:
                if spare <= 0:
                    break
                if now - e.idle_since >= f.spec.scaledown_window:
                    self.retire(e)
                    spare -= 1
        for call_id in [c for c, t in self.suspects.items() if t < now]:
            del self.suspects[call_id]

    def warm(self) -> None:
        """Start ``min_containers`` executors per function (within the worker cap and resources)."""
        for f in self.fns:
            while (
                len(self._active(f)) < min(f.spec.min_containers, f.share)
                and self.total() < self.max_executors
                and self.ledger.startable(f.need) > 0
            ):
                self.start(f)

    def flush_writes(self) -> None:
        """Watch for writability only while a channel has bytes waiting."""
        for f in self.fns:
            for e in f.executors:
                want = e.proc.channel.wants_write
                if want != e.write_registered and e.proc.channel.sock.fileno() >= 0:
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
                    self.sel.modify(e.proc.channel, events, ("chan", e))
                    e.write_registered = want

    def kill_all(self, reap_within: float = 2.0) -> None:
        """Kill every executor's group and reap them (the worker is exiting: a short wait is fine)."""
        for f in self.fns:
            for e in list(f.executors):
                self.kill(e)
        deadline = time.monotonic() + reap_within
        while self._dying and time.monotonic() < deadline:
            for e in list(self._dying):
                if e.proc.poll() is not None:
                    self._close(e)
            time.sleep(0.01)
        for e in list(self._dying):
            self._close(e)
        if self.zygote is not None:
            self.zygote.close()


def _pid() -> int:
    import os

    return os.getpid()
