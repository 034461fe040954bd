"""The worker pool behind ``chute worker``/``chute run``: lease calls, run them in child processes.

One supervisor process per ``chute worker``. It holds every lease itself and runs each call
in a child process (an *executor*, Modal's container), one call at a time per executor:

- **Leases, not deletes.** ``job_claim`` leases a call for ``CHUTE_LEASE`` seconds (default
  10) and the supervisor renews the leases of running calls every quarter lease. If the
  supervisor is killed, its executors die with it (parent-death signal) and the leases
  lapse; the next claim by any worker puts those calls back (at-least-once execution).
- **Fencing.** Every write names the attempt it holds; a supervisor that was paused past its
  lease finds its writes refused, and a renewal that fails (the call was cancelled or taken
  over) kills the executor.
- **Timeouts and crashes** kill or lose only the executor: the attempt counts as failed
  (``FunctionTimeoutError``, or ``RemoteError`` for a crashed process), is retried under the
  function's ``retries`` policy, and a fresh executor is started when there is work.
- **Autoscaling.** Per function, executors start as calls are claimed, up to
  ``max_containers`` (a cap on calls running at once across *all* workers of the backend,
  enforced atomically by ``job_claim``), and idle ones exit after ``scaledown_window``
  (keeping ``min_containers``).
- **Graceful stop.** SIGTERM/SIGINT: stop claiming, let running calls finish for up to
  ``grace`` seconds, give back the leases of the rest (not counted as failures), exit 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from chute import _outcome
from chute._app_file import apps_in, load_target
from chute._client import Client
from chute._runtime import run_call
from chute.app import MAX_LOST_ATTEMPTS, App, Function, find_function
from chute.backends.types import CallRecord, CallState, ClaimRequest
from chute.exception import BackendUnavailableError, FunctionTimeoutError, RemoteError

DEFAULT_GRACE = 30.0
# An executor gets this long to import the user's code before its first call's timeout starts.
_STARTUP_GRACE = 120.0


def lease_seconds() -> float:
    """``CHUTE_LEASE`` (seconds a claim lasts without renewal), validated with the settings."""
    return Client.from_env().settings.lease


# -- executor (child process) ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Make sure an executor never outlives its supervisor (``kill -9`` included)."""
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(0.5)

    threading.Thread(target=watch, name="chute-parent-watch", daemon=True).start()


def _start_without_app_folder(proc: BaseProcess, target: str) -> None:
    """Start a spawned executor whose inherited ``sys.path`` leaves out the app file's folder.

    The child imports chute (and the standard modules chute imports) before it loads the app;
    with that folder first on its path an app file named like one of them (``queue.py``) would
    shadow it. The child's ``load_target`` puts the folder back before importing the app.
    """
    folder = os.path.dirname(os.path.realpath(target)) if target.endswith(".py") else None
    saved = sys.path[:]
    if folder is not None:
        sys.path[:] = [p for p in saved if not (isinstance(p, str) and os.path.realpath(p or ".") == folder)]
    try:
        proc.start()
    finally:
        sys.path[:] = saved


def _executor_main(conn: Connection, target: str, app_name: str, fn_name: str, parent: int) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which decides
    try:
        load_target(target)
    except Exception as exc:  # the caller sees why, not just an exit code
        conn.send(("fatal", str(exc)))
        return
    fn = find_function(app_name, fn_name)
    if fn is None or fn._raw is None:
        conn.send(("fatal", f"{target} defines no function {app_name}.{fn_name}"))
        return
    settings = Client.from_env().settings
    while True:
        try:
            call_id, payload = conn.recv()
        except EOFError:
            return
        conn.send(("start", call_id))
        message: tuple[str, str, bytes, str | None]
        try:
            args, kwargs = _outcome.load_args(payload, settings, call_id)
            value = run_call(fn, call_id, args, kwargs)
            message = ("ok", call_id, _outcome.pack_value(value, settings), None)
        except Exception as exc:
            message = (
                "err",
                call_id,
                _outcome.pack_error(exc, traceback.format_exc(), settings, call_id),
                _outcome.error_line(exc),
            )
        conn.send(message)


# -- supervisor ------------------------------------------------------------------------------------


@dataclass
class _Executor:
    proc: BaseProcess
    conn: Connection
    fn: _Fn
    call: CallRecord | None = None
    deadline: float = 0.0  # monotonic: kill the attempt after this
    fatal: str | None = None  # why the process could not serve (e.g. the app file failed to import)
    idle_since: float = field(default_factory=time.monotonic)


@dataclass
class _Fn:
    target: str
    fn: Function[Any, Any]
    executors: list[_Executor] = field(default_factory=list)
    due: bool = True  # claim for this function at the next turn (an executor just came free)

    @property
    def busy(self) -> int:
        return sum(1 for e in self.executors if e.call is not None)


class Pool:
    """The autoscaled pool of one ``chute worker`` process. ``run()`` blocks until stopped.

    Raises:
        InvalidError: a target cannot be imported or defines no app.
    """

    def __init__(
        self,
        targets: Sequence[str],
        *,
        environment_name: str | None = None,
        grace: float = DEFAULT_GRACE,
        deploy: bool = True,
    ) -> None:
        self._client = Client.from_env()
        self._env = environment_name or self._client.settings.env
        self._lease = lease_seconds()
        self._grace = grace
        self._fns: list[_Fn] = []
        self.apps: list[App] = []
        for target in targets:
            for app in apps_in(load_target(target)):
                self.apps.append(app)
                self._fns += [_Fn(target, fn) for fn in app.functions.values()]
        if deploy:
            for app in self.apps:
                app.deploy(environment_name=self._env)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._claim_due = True
        self._next_beat = 0.0
        self._peers: dict[str, int] = {}  # "app.fn" -> live pools serving it (this one included)
        self._started_at = time.time()

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to stop gracefully (thread- and signal-safe)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"s")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Claim and run calls until ``stop()`` (or SIGTERM/SIGINT), then shut down gracefully."""
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        backend = self._client.sync_backend()
        for app in self.apps:
            names = [fn.name for fn in app.functions.values()]
            threading.Thread(
                target=self._watch_for_work, args=(app.name, names), name="chute-work-watch", daemon=True
            ).start()
        try:
            for f in self._fns:
                while len(f.executors) < f.fn.spec.min_containers:
                    self._start_executor(f)
            next_claim = 0.0
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    self._beat_if_due(backend, now)
                    self._enforce_timeouts(backend, now)
                    everything = self._claim_due or now >= next_claim
                    if everything or any(f.due for f in self._fns):
                        self._claim_due = False
                        if everything:
                            next_claim = now + 1.0  # also reaps leases of dead workers
                        self._claim(backend, everything)
                    self._scale_down(now)
                    self._wait(min(next_claim, self._next_beat, self._next_deadline()) - time.monotonic())
                    self._collect(backend)
                except BackendUnavailableError as exc:
                    # Keep the pool (and running calls) alive through an outage. A result that
                    # could not be recorded is not lost: its lease lapses and the call re-runs.
                    print(f"chute worker: {exc} (retrying)", file=sys.stderr, flush=True)
                    self._stop.wait(1.0)
            self._shutdown(backend)
        finally:
            self._stop.set()
            for f in self._fns:
                for e in list(f.executors):
                    self._kill(e)

    def _watch_for_work(self, app: str, functions: list[str]) -> None:
        backend = self._client.sync_backend()
        while not self._stop.is_set():
            try:
                backend.job_wait_for_work(self._env, app, functions, wait=1.0)
            except Exception:
                time.sleep(1.0)  # backend unreachable: the main loop reports it; keep trying
                continue
            with contextlib.suppress(OSError):
                self._wake_w.send(b"w")

    # -- executors ---------------------------------------------------------------------------

    def _start_executor(self, f: _Fn) -> _Executor:
        parent_conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_executor_main,
            args=(child_conn, f.target, f.fn.app_name, f.fn.name, os.getpid()),
            name=f"chute-executor-{f.fn.name}",
        )
        _start_without_app_folder(proc, f.target)
        child_conn.close()
        executor = _Executor(proc, parent_conn, f)
        f.executors.append(executor)
        return executor

    def _kill(self, e: _Executor) -> None:
        with contextlib.suppress(Exception):
            e.proc.kill()
        e.proc.join(5)
        e.conn.close()
        if e in e.fn.executors:
            e.fn.executors.remove(e)

    # -- the loop ----------------------------------------------------------------------------

    def _next_deadline(self) -> float:
        deadlines = [e.deadline for f in self._fns for e in f.executors if e.call is not None]
        return min(deadlines, default=float("inf"))

    def _wait(self, timeout: float) -> None:
        handles: list[Any] = [self._wake_r]
        for f in self._fns:
            for e in f.executors:
                handles += [e.conn, e.proc.sentinel]
        ready = multiprocessing.connection.wait(handles, timeout=max(0.0, min(timeout, 1.0)))
        if self._wake_r in ready:
            with contextlib.suppress(OSError):
                while self._wake_r.recv(4096):
                    pass
            self._claim_due = True

    def _claim(self, backend: Any, everything: bool) -> None:
        """Claim for every function (woken, or periodically), else for those whose executor
        just came free: one round trip per function that may have work, not per function."""
        for f in self._fns:
            if not (everything or f.due):
                continue
            f.due = False
            spec = f.fn.spec
            # Each live pool takes its share of max_containers, so that with a backlog the work
            # spreads over machines instead of going to whichever pool refills first.
            peers = max(1, self._peers.get(f"{f.fn.app_name}.{f.fn.name}", 1))
            room = min(spec.max_containers, math.ceil(spec.max_containers / peers)) - f.busy
            if room <= 0:
                continue
            req = ClaimRequest(
                env=self._env,
                app=f.fn.app_name,
                function=f.fn.name,
                worker=self.worker_id,
                n=room,
                lease=self._lease,
                max_running=spec.max_containers,
                max_lost=MAX_LOST_ATTEMPTS,
            )
            calls: list[CallRecord] = backend.job_claim(req)
            for call in calls:
                idle = [e for e in f.executors if e.call is None]
                executor = idle[0] if idle else self._start_executor(f)
                executor.call = call
                executor.deadline = time.monotonic() + _STARTUP_GRACE + spec.timeout
                executor.conn.send((call.id, call.payload))

    def _collect(self, backend: Any) -> None:
        for f in self._fns:
            for e in list(f.executors):
                self._read_messages(backend, e)
                if not e.proc.is_alive() and e in f.executors:
                    self._executor_died(backend, e)

    def _read_messages(self, backend: Any, e: _Executor) -> None:
        try:
            while e.conn.poll():
                message = e.conn.recv()
                kind = message[0]
                if kind == "start" and e.call is not None and message[1] == e.call.id:
                    e.deadline = time.monotonic() + e.fn.fn.spec.timeout
                elif kind in ("ok", "err") and e.call is not None and message[1] == e.call.id:
                    call, e.call, e.idle_since = e.call, None, time.monotonic()
                    if kind == "ok":
                        backend.job_finish(call.id, call.attempts, CallState.SUCCEEDED, message[2])
                    else:
                        self._failed(backend, call, e.fn, message[2], message[3])
                    e.fn.due = True
                elif kind == "fatal":
                    e.fatal = message[1]
                    print(f"chute worker: {message[1]}", file=sys.stderr)
        except (EOFError, OSError):
            pass  # the process died: _executor_died handles its call

    def _failed(self, backend: Any, call: CallRecord, f: _Fn, outcome: bytes, error: str) -> None:
        """An attempt failed: retry it under the function's policy, or record the failure."""
        retries = f.fn.spec.retries
        if call.failures < retries.max_retries:
            backend.job_retry(call.id, call.attempts, delay=retries.delay(call.failures + 1), error=error)
        else:
            backend.job_finish(call.id, call.attempts, CallState.FAILED, outcome, error=error)

    def _attempt_killed(self, backend: Any, call: CallRecord, f: _Fn, exc: Exception) -> None:
        """The attempt ended without an outcome from the function (crash, timeout): ``exc`` is it."""
        outcome = _outcome.pack_error(exc, "", self._client.settings)
        self._failed(backend, call, f, outcome, _outcome.error_line(exc))
        f.due = True

    def _executor_died(self, backend: Any, e: _Executor) -> None:
        code = e.proc.exitcode
        call = e.call
        self._kill(e)
        if call is not None:
            why = (
                f"could not start: {e.fatal}"
                if e.fatal
                else f"exited with code {code} (crashed or was killed)"
            )
            exc = RemoteError(f"the process running {call.id} {why}")
            self._attempt_killed(backend, call, e.fn, exc)

    def _enforce_timeouts(self, backend: Any, now: float) -> None:
        for f in self._fns:
            for e in list(f.executors):
                if e.call is not None and now >= e.deadline:
                    call = e.call
                    e.call = None
                    self._kill(e)
                    exc = FunctionTimeoutError(
                        f"{f.fn.app_name}.{f.fn.name} ({call.id}) exceeded its timeout "
                        f"of {f.fn.spec.timeout:g} s"
                    )
                    self._attempt_killed(backend, call, f, exc)

    def _beat_if_due(self, backend: Any, now: float) -> None:
        if now < self._next_beat:
            return
        self._next_beat = now + self._lease / 4
        self._announce(backend)
        for f in self._fns:
            for e in list(f.executors):
                if e.call is not None and not backend.job_heartbeat(e.call.id, e.call.attempts, self._lease):
                    # Cancelled, or our lease lapsed and another worker took the call: stop it.
                    e.call = None
                    self._kill(e)
                    f.due = True

    def _announce(self, backend: Any) -> None:
        """Tell the backend this pool is alive (and what it runs); learn who else is."""
        info = {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self._started_at,
            "functions": [f"{f.fn.app_name}.{f.fn.name}" for f in self._fns],
            "executors": sum(len(f.executors) for f in self._fns),
            "running": [
                {"call_id": e.call.id, "function": f"{f.fn.app_name}.{f.fn.name}", "attempt": e.call.attempts}
                for f in self._fns
                for e in f.executors
                if e.call is not None
            ],
        }
        backend.worker_beat(self._env, self.worker_id, json.dumps(info).encode(), ttl=self._lease * 3)
        peers: dict[str, int] = {}
        for _, raw in backend.worker_list(self._env):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                for name in json.loads(raw)["functions"]:
                    peers[name] = peers.get(name, 0) + 1
        self._peers = peers

    def _scale_down(self, now: float) -> None:
        for f in self._fns:
            idle = [e for e in f.executors if e.call is None]
            spare = len(f.executors) - f.fn.spec.min_containers
            for e in sorted(idle, key=lambda e: e.idle_since):
                if spare <= 0:
                    break
                if now - e.idle_since >= f.fn.spec.scaledown_window:
                    self._kill(e)
                    spare -= 1

    def _shutdown(self, backend: Any) -> None:
        """Let running calls finish within the grace period, then give the rest back."""
        deadline = time.monotonic() + self._grace
        while any(f.busy for f in self._fns) and time.monotonic() < deadline:
            now = time.monotonic()
            self._beat_if_due(backend, now)
            self._enforce_timeouts(backend, now)
            self._wait(min(deadline, self._next_beat) - now)
            self._collect(backend)
        for f in self._fns:
            for e in list(f.executors):
                call = e.call
                e.call = None
                self._kill(e)
                if call is not None:
                    backend.job_release(call.id, call.attempts)
        backend.worker_gone(self._env, self.worker_id)


def run_worker(
    targets: Sequence[str], *, environment_name: str | None = None, grace: float = DEFAULT_GRACE
) -> None:
    """``chute worker``: run the pool of the apps in ``targets`` until SIGTERM/SIGINT."""
    Pool(targets, environment_name=environment_name, grace=grace).run()


__all__ = ["Pool", "apps_in", "lease_seconds", "load_target", "run_worker"]
