"""The supervisor: one per ``chute worker``; leases calls, feeds executors, records outcomes.

One thread runs a selector loop over a wake-up socket, every executor's socket and its pidfd.
Each turn: renew leases (every quarter lease), enforce deadlines, claim for the functions
that have room, scale, wait for events, then write what happened to the backend. It never
waits on a child: executors are reaped when their pidfd says they exited.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from chute import _outcome, _settings_table
from chute._app_file import apps_in, load_target
from chute._client import Client
from chute._resources import Capacity, worker_capacity
from chute.app import MAX_LOST_ATTEMPTS, App
from chute.backends.types import CallRecord, ClaimRequest, CompleteRequest, Completion
from chute.exception import BackendUnavailableError, InvalidError
from chute.worker import _logs
from chute.worker._autoscaler import AutoscalerRefresh
from chute.worker._executor import main as executor_main
from chute.worker._fleet import STOP_GRACE, Fleet, Outcome
from chute.worker._scaling import Attempt, FnState, default_max_executors
from chute.worker._ticker import Ticker
from chute.worker._zygote import Zygote

DEFAULT_LEASE = _settings_table.DEFAULT_LEASE
DEFAULT_GRACE = 30.0
RETRY_MARGIN = 0.002


# Functions of an app claimed for with its watcher's wait (those whose submits woke it last).
HOT_FUNCTIONS = 2


def lease_seconds() -> float:
    """``CHUTE_LEASE`` (seconds a claim lasts without renewal), validated with the settings."""
    return Client.from_env().settings.lease


class Pool:
    """The autoscaled executors of one ``chute worker`` process. ``run()`` blocks until stopped.

    Raises:
        InvalidError: a target cannot be imported or defines no app, or ``max_executors < 1``.
    """

    fleet_class: type[Fleet] = Fleet  # ``chute worker --all`` routes calls by version (_routes)

    def __init__(
        self,
        targets: Sequence[str],
        *,
        environment_name: str | None = None,
        grace: float = DEFAULT_GRACE,
        deploy: bool = True,
        max_executors: int | None = None,
        capacity: Capacity | None = None,
        only: Sequence[str] | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        if max_executors is not None and (not isinstance(max_executors, int) or max_executors < 1):
            raise InvalidError(f"max_executors must be an int >= 1, got {max_executors!r}.")
        # First, before user code is imported or a thread or connection exists (``_zygote``).
        zygote = Zygote.fork(executor_main)
        self._client = Client.from_env()
        self._env = environment_name or self._client.settings.env
        self._lease = lease_seconds()
        self._grace = grace
        self._fns: list[FnState] = []
        self.apps: list[App] = []
        for target in targets:
            for app in apps_in(load_target(target)):
                self.apps.append(app)
                self._fns += [FnState(target, fn) for fn in app.functions.values()]
        self._fns = routed(self._fns, only, tags)
        self._fn_of = {(f.fn.app_name, f.fn.name): f for f in self._fns}  # (app, function) -> state
        if deploy:
            for app in self.apps:
                app.deploy(environment_name=self._env)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.max_executors = max_executors or default_max_executors()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self.capacity = capacity or worker_capacity(None, None, None)
        self._fleet = self.fleet_class(
            self._fns,
            self.max_executors,
            self.worker_id,
            self._sel,
            self.capacity,
            mount_namespaces=_settings_table.read("CHUTE_MOUNT_NAMESPACES") is not False,
            zygote=zygote,
        )
        self._autoscaler = AutoscalerRefresh(self._fns, self._env)
        self._ticker = Ticker(self._env, self._fns)
        self._claim_due = True
        # Retries this pool scheduled: when each backoff ends (monotonic), and whose. It claims
        # for that function then, not at its next periodic claim (up to a second late).
        self._retry_at: list[tuple[float, FnState]] = []
        # The functions (by app) with room whose last claim came back short: while an app has
        # one, its watcher waits for submits (to any of its functions, see _watch_for_work).
        self._wanted: dict[str, list[str]] = {}
        self._want = {app.name: threading.Event() for app in self.apps}  # set while _wanted[app]
        # What the watchers heard, for the loop: (app, function) pairs whose submits woke them
        # (claimed for alone), or None in the set when the backend cannot tell (claim for all).
        self._woken: set[tuple[str, str] | None] = set()
        self._woken_lock = threading.Lock()
        # Calls the watchers' waits claimed (``claims_while_waiting``), for the loop to place
        # (under _woken_lock); once the loop stops accepting them, a watcher releases its own.
        self._claimed: list[CallRecord] = []
        self._accepting = True
        # Per app, the room of each function with some when the loop armed its watcher (room
        # changes only in the loop): what the watcher's wait claims for its hot functions.
        self._watch_rooms: dict[str, dict[str, tuple[FnState, int]]] = {}
        self._watchers: list[threading.Thread] = []
        self._stopping = False
        self._next_beat = 0.0
        self._started_at = time.time()

    @property
    def served(self) -> list[str]:
        """The functions this pool serves (``app.function``), after ``only``/``tags``."""
        return [f.key for f in self._fns]

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to stop gracefully (thread- and signal-safe)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"s")

    def hard_stop(self) -> None:
        """Kill every executor and exit the process now (the second Ctrl-C)."""
        self._fleet.kill_all()
        os._exit(130)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            _logs.interrupted(self, self._stop.is_set(), self._grace)
        self.stop()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Claim and run calls until ``stop()`` (or SIGTERM/SIGINT), then shut down gracefully."""
        _logs.configure()
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        backend = self._client.sync_backend()
        for app in self.apps:
            if not any(f.fn.app_name == app.name for f in self._fns):
                continue
            watcher = threading.Thread(
                target=self._watch_for_work, args=(app.name,), name="chute-work-watch", daemon=True
            )
            watcher.start()
            self._watchers.append(watcher)
        try:
            self._fleet.warm()
            next_claim = 0.0
            while not self._stop.is_set():
                try:
                    now = time.monotonic()
                    self._beat_if_due(backend, now)
                    self._ticker.tick(backend)
                    self._fleet.enforce(now)
                    everything = self._claim_due or now >= next_claim
                    if everything:
                        self._claim_due = False
                        next_claim = now + 1.0  # also reaps leases of dead workers
                    self._retries_due(now)
                    self._settle(backend, everything)
                    self._fleet.scale(now)
                    self._update_wanted()
                    wake_at = min(
                        next_claim,
                        self._next_beat,
                        self._fleet.next_timer(),
                        self._ticker.next_due(),
                        *(at for at, _ in self._retry_at),
                    )
                    self._wait(wake_at - time.monotonic())
                except BackendUnavailableError as exc:
                    # Keep the pool (and running calls) alive through an outage. A result that
                    # could not be recorded is not lost: its lease lapses and the call re-runs.
                    print(f"chute worker: {exc} (retrying)", file=sys.stderr, flush=True)
                    self._stop.wait(1.0)
            self._shutdown(backend)
        finally:
            self._stop.set()
            self._fleet.kill_all()
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _watch_for_work(self, app: str) -> None:
        """While a function of ``app`` has room, wait for submits to any of them. Any, not just
        those with room: a wait started while one was busy would not hear its next submit
        until it timed out (measured: a map right after another started ~0.7 s late)."""
        backend = self._client.sync_backend()
        functions = [f.fn.name for f in self._fns if f.fn.app_name == app]
        claiming = backend.claims_while_waiting
        # The functions whose submits woke the last waits: claimed for with the next wait.
        # Not every function of the app: each claim costs the server a script per wake-up.
        hot: list[str] = []
        while not self._stop.is_set():
            if not self._want[app].wait(1.0):
                continue
            if not self._wanted.get(app):
                continue  # cleared since the event was seen set
            rooms = self._watch_rooms.get(app, {}) if claiming else {}
            claims = [self._request(*rooms[name]) for name in hot if name in rooms]
            try:
                woken, calls = backend.job_wait_claim(self._env, app, functions, claims, wait=1.0)
            except Exception:
                time.sleep(1.0)  # backend unreachable: the main loop reports it; keep trying
                continue
            if woken == [] and not calls:
                continue  # timed out: the loop claims for every function once a second anyway
            hot = [*(woken or []), *(f for f in hot if f not in (woken or []))][:HOT_FUNCTIONS]
            # A function claimed for here is due again only if its claim came back full.
            full = {c.function for c in claims if sum(r.function == c.function for r in calls) >= c.n}
            settled = {c.function for c in claims} - full
            with self._woken_lock:
                accepted = self._accepting
                if accepted:
                    self._claimed += calls
                self._woken.update([None] if woken is None else [(app, f) for f in woken if f not in settled])
            if not accepted:
                self._release_now(backend, calls)
                return
            # Re-armed by the loop (_update_wanted) after its claim. Re-arming here at once
            # kept the GIL while the loop woke up to claim (a lone call: +120 µs); a submit
            # meanwhile leaves its token in the wake list, so the next wait returns at once.
            self._want[app].clear()
            with contextlib.suppress(OSError):
                self._wake_w.send(b"w")

    # -- the loop ----------------------------------------------------------------------------

    def _wait(self, timeout: float) -> None:
        fleet = self._fleet
        fleet.flush_writes()
        # Without pidfds exits are noticed by polling: wake at least every 0.25 s then.
        limit = 0.25 if fleet._poll_only else 1.0
        for key, mask in self._sel.select(max(0.0, min(timeout, limit))):
            kind, e = key.data
            if kind == "wake":
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
                self._on_woken()
            elif kind == "chan":
                if mask & selectors.EVENT_WRITE:
                    e.proc.channel.flush()
                if mask & selectors.EVENT_READ:
                    fleet.read(e)
            elif kind == "pid":
                fleet.on_exit(e)
        fleet.poll_exits()

    def _on_woken(self) -> None:
        """Place the calls the watchers' waits claimed; claim for the other functions whose
        submits woke a watcher (for all when it cannot say): one round trip, not one per
        function of the app (measured on Redis with six functions: a lone call's claim 6
        round trips -> 1)."""
        with self._woken_lock:
            woken, self._woken = self._woken, set()
            claimed, self._claimed = self._claimed, []
        if claimed:
            self._take(claimed)
        if None in woken:
            self._claim_due = True
            return
        for f in self._fns:
            if (f.fn.app_name, f.fn.name) in woken:
                f.due = True

    def _take(self, calls: list[CallRecord]) -> None:
        """Run the calls a watcher claimed (give them back once stopping)."""
        placed: dict[FnState, list[Attempt]] = {}
        for call in calls:
            f = self._fn_of[(call.app, call.function)]
            placed.setdefault(f, []).append(Attempt(call, f))
        for f, attempts in placed.items():
            if self._stopping:
                self._fleet.outcomes += [Outcome(a, "release") for a in attempts]
            else:
                self._fleet.place(f, attempts)

    def _release_now(self, backend: Any, calls: list[CallRecord]) -> None:
        """Give back calls a watcher claimed after the loop stopped taking them."""
        if calls:
            with contextlib.suppress(Exception):  # else their leases lapse: they re-run then
                backend.job_complete([CompleteRequest(c.id, c.attempts, Completion.RELEASE) for c in calls])

    def _retire_watchers(self, backend: Any) -> None:
        """Stop taking the watchers' claims (what came already is given back by the next
        settle), end their waits and wait for them: a claim in flight comes back to a live
        process, which releases it (not to one that exited: its lease would lapse first)."""
        with self._woken_lock:
            self._accepting = False
            claimed, self._claimed = self._claimed, []
        self._take(claimed)
        if not backend.claims_while_waiting:
            return
        for event in self._want.values():
            event.set()  # those not in a wait see _stop at once
        with contextlib.suppress(Exception):
            backend.job_end_waits(self._env, self.worker_id)
        until = time.monotonic() + 2.0
        for watcher in self._watchers:
            watcher.join(max(0.0, until - time.monotonic()))

    def _settle(self, backend: Any, everything: bool) -> None:
        """Per function, one round trip: record the outcomes collected since the last turn
        and claim as many calls as it has room for. Claims happen for every function when
        woken (or once a second), else for those where room appeared."""
        fleet = self._fleet
        _logs.store(backend, fleet)  # before the results: a finished call's output is complete
        by_fn: dict[FnState, list[Outcome]] = {}
        for o in fleet.outcomes:
            by_fn.setdefault(o.attempt.fn, []).append(o)
        for f in self._fns:
            outcomes = by_fn.get(f, [])
            items = [self._completion(o) for o in outcomes]
            # A result its executor recorded needs no write, nor a claim of its own
            # (``Fleet._on_done``).
            writes = [it for o, it in zip(outcomes, items, strict=True) if o.kind != "recorded"]
            claim = self._claim_request(f, everything or f.due or bool(writes), probe=everything)
            if not outcomes and claim is None:
                continue
            ended = time.monotonic()
            calls: list[CallRecord] = []
            if writes or claim is not None:
                _, calls = backend.job_complete(writes, claim)
            self._note_retries(f, items)
            done = set(map(id, outcomes))
            fleet.outcomes = [o for o in fleet.outcomes if id(o) not in done]
            if claim is not None:
                f.hungry = len(calls) >= claim.n
                f.backlog = f.hungry and claim.n > 1
                if calls:
                    fleet.place(f, [Attempt(call, f) for call in calls])
            # Once recorded and the next calls sent: the lines are not on a call's path.
            _logs.attempts_ended(outcomes, items, ended)

    def _note_retries(self, f: FnState, items: list[CompleteRequest]) -> None:
        now = time.monotonic()
        for it in items:
            if it.how is Completion.RETRY:
                # A hair after the backend's due time (its clock, rounded to microseconds).
                self._retry_at.append((now + it.delay + RETRY_MARGIN, f))

    def _retries_due(self, now: float) -> None:
        later = []
        for at, f in self._retry_at:
            if at <= now:
                f.due = True
            else:
                later.append((at, f))
        self._retry_at = later

    def _update_wanted(self) -> None:
        wanted: dict[str, list[str]] = {}
        rooms: dict[FnState, int] = {}  # Fleet.room is a few µs, and this runs every turn
        for f in self._fns:
            if not f.hungry and not self._stopping and (room := self._fleet.room(f)) > 0:
                wanted.setdefault(f.fn.app_name, []).append(f.fn.name)
                rooms[f] = room
        # Cleared before the lists change, set after: a watcher that sees its event set finds
        # its functions (or, cleared meanwhile, blocks again) and never spins.
        for app, event in self._want.items():
            if app not in wanted:
                event.clear()
        self._wanted = wanted
        for app in wanted:
            if not self._want[app].is_set():  # set() takes the event's lock: once a turn adds up
                self._watch_rooms[app] = {
                    f.fn.name: (f, room)
                    for f, room in rooms.items()
                    if f.fn.app_name == app and self._fleet.ledger.ever_fits(f.need)
                }
                self._want[app].set()

    def _claim_request(self, f: FnState, due: bool, probe: bool) -> ClaimRequest | None:
        if self._stopping or not due:
            return None
        fleet = self._fleet
        f.due = False
        if not fleet.ledger.ever_fits(f.need):
            return None  # its calls wait for a worker with the GPUs/CPU/memory (listings say why)
        fleet.place_staged(f)
        room = fleet.room(f)
        if room <= 0:
            if not (probe and not f.staged and not f.executors):
                return None
            # The cap is taken by other functions. Probe: a call claimed now waits staged,
            # which makes the others give way to a fair share (Fleet.scale).
            room = 1
        return self._request(f, room)

    def _request(self, f: FnState, room: int) -> ClaimRequest:
        """A claim of up to ``room`` calls of ``f`` for this worker, under ``f``'s limits."""
        spec = f.spec
        rate = spec.rate_limit or {}
        return ClaimRequest(
            env=self._env,
            app=f.fn.app_name,
            function=f.fn.name,
            worker=self.worker_id,
            n=room,
            lease=self._lease,
            # Leased calls: those running plus those queued in serial executors (PREFETCH).
            max_running=spec.max_containers * f.max_capacity,
            max_lost=MAX_LOST_ATTEMPTS,
            rate_calls=rate.get("calls"),
            rate_per=float(rate.get("per_seconds", 1.0)),
            max_per_key=spec.max_concurrency_per_key,
        )

    def _completion(self, o: Outcome) -> CompleteRequest:
        """How to end an attempt: the function's result, a retry under its policy, or a failure."""
        call = o.attempt.call
        if o.kind in ("ok", "recorded"):  # recorded: what its executor wrote (for the log line)
            return CompleteRequest(call.id, call.attempts, Completion.SUCCEEDED, o.outcome)
        if o.kind == "release":
            return CompleteRequest(call.id, call.attempts, Completion.RELEASE)
        outcome, error = o.outcome, o.error or "error"
        if o.kind == "killed":
            assert o.exc is not None
            outcome = _outcome.pack_error(o.exc, "", self._client.settings)
            error = _outcome.error_line(o.exc)
        retries = o.attempt.retries  # the function's, or its with_options variant's
        if call.failures < retries.max_retries:
            delay = retries.delay(call.failures + 1)
            return CompleteRequest(call.id, call.attempts, Completion.RETRY, error=error, delay=delay)
        return CompleteRequest(call.id, call.attempts, Completion.FAILED, outcome, error=error)

    def _beat_if_due(self, backend: Any, now: float) -> None:
        if now < self._next_beat:
            return
        self._next_beat = now + self._lease / 4
        self._announce(backend)
        held = list(self._fleet.held.values())
        renewed = backend.job_heartbeat_many([(a.id, a.call.attempts) for a in held], self._lease)
        lost = [a for a, ok in zip(held, renewed, strict=True) if not ok]
        # An executor writes a lone call's result itself: such a call ended here. It says so
        # before writing (``_recorder``), so that message is in its socket by now.
        for e in {a.executor for a in lost if a.executor is not None}:
            self._fleet.read(e)
        for a in lost:
            if a.id in self._fleet.held and not (a.executor is not None and a.executor.recording == a.id):
                # Cancelled, or our lease lapsed and another worker took the call: stop it.
                self._fleet.abandon(a, None)

    def _announce(self, backend: Any) -> None:
        """Tell the backend this pool is alive (and what it runs); learn who else is."""
        info = {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self._started_at,
            "functions": [f.key for f in self._fns],
            "executors": self._fleet.total(),
            "max_executors": self.max_executors,
            "capacity": self.capacity.to_json(),
            "max_containers": {f.key: f.spec.max_containers for f in self._fns},
            "running": [
                {
                    "call_id": a.id,
                    "function": a.fn.key,
                    "attempt": a.call.attempts,
                    # Wall clock (the dashboard shows "running for"); None while queued.
                    "started_at": time.time() - (time.monotonic() - a.started) if a.started else None,
                }
                for a in self._fleet.held.values()
            ],
            # Resident memory of this process and its executors' process groups (None: unknown).
            "rss": self._fleet.memory.pool([e.proc.pid for f in self._fns for e in f.executors]),
        }
        backend.worker_beat(self._env, self.worker_id, json.dumps(info).encode(), ttl=self._lease * 3)
        peers: dict[str, int] = {}
        for _, raw in backend.worker_list(self._env):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                for name in json.loads(raw)["functions"]:
                    peers[name] = peers.get(name, 0) + 1
        changed = self._autoscaler.refresh(backend)
        self._fleet.set_peers(peers)
        if changed:
            self._fleet.warm()

    def _shutdown(self, backend: Any) -> None:
        """Let running calls finish within the grace period, then give the rest back."""
        self._stopping = True
        fleet = self._fleet
        for f in self._fns:
            for a in list(f.staged):
                fleet.abandon(a, None)
                fleet.outcomes.append(Outcome(a, "release"))
        deadline = time.monotonic() + self._grace
        while fleet.held and time.monotonic() < deadline:
            now = time.monotonic()
            self._beat_if_due(backend, now)
            fleet.enforce(now)
            self._settle(backend, False)
            self._wait(min(deadline, self._next_beat, fleet.next_timer()) - now)
            self._settle(backend, False)
        # Calls still running are given back; idle executors are asked to stop (their exit
        # hooks run) and killed if they have not exited within STOP_GRACE.
        for f in self._fns:
            for e in list(f.executors):
                if e.calls:
                    fleet.kill(e)
                else:
                    fleet.retire(e)
        stop_by = time.monotonic() + STOP_GRACE
        while fleet.total() and time.monotonic() < stop_by:
            self._wait(stop_by - time.monotonic())
        fleet.kill_all()
        self._retire_watchers(backend)
        self._settle(backend, False)
        backend.worker_gone(self._env, self.worker_id)


def routed(fns: list[FnState], only: Sequence[str] | None, tags: Sequence[str]) -> list[FnState]:
    """The functions this worker serves: those named by ``--only`` (all without it) whose
    ``worker_tags`` the worker has every one of (``--tag``).

    Raises:
        InvalidError: ``--only`` names a function the apps do not define.
    """
    if only is not None:
        known = {f.fn.name for f in fns} | {f.key for f in fns}
        unknown = sorted(set(only) - known)
        if unknown:
            raise InvalidError(
                f"--only names {', '.join(unknown)}, which the apps do not define "
                f"(their functions: {', '.join(sorted(f.key for f in fns)) or 'none'})."
            )
        fns = [f for f in fns if f.fn.name in only or f.key in only]
    return [f for f in fns if set(f.spec.worker_tags) <= set(tags)]


def run_worker(
    targets: Sequence[str],
    *,
    environment_name: str | None = None,
    grace: float = DEFAULT_GRACE,
    max_executors: int | None = None,
    capacity: Capacity | None = None,
    only: Sequence[str] | None = None,
    tags: Sequence[str] = (),
) -> None:
    """``chute worker``: run the pool of the apps in ``targets`` until SIGTERM/SIGINT."""
    Pool(
        targets,
        environment_name=environment_name,
        grace=grace,
        max_executors=max_executors,
        capacity=capacity,
        only=only,
        tags=tags,
    ).run()
