"""The worker behind ``chute worker``/``chute run``/``chute serve --workers``.

One *supervisor* process per ``chute worker`` holds every lease and runs calls in child
processes, *executors* (Modal's containers), each serving one function:

- **Leases, not deletes.** ``job_claim`` leases a call for ``CHUTE_LEASE`` seconds (default
  10) and the supervisor renews the leases of the calls it holds every quarter lease. If the
  supervisor is killed, its executors die with it (parent-death signals, through the
  zygote they are forked from) and the leases lapse; the next claim by any worker puts
  those calls back (at-least-once execution).
- **Fencing.** Every write names the attempt it holds; a supervisor that was paused past its
  lease finds its writes refused, and a renewal that fails (the call was cancelled or taken
  over) stops that call.
- **Many calls per executor.** Without decorators an executor runs one call at a time.
  ``@chute.concurrent(max_inputs=n)`` lets it run n at once (tasks on its event loop for
  ``async def``, threads for sync functions); ``@chute.batched`` groups inputs into one
  invocation. Leases, timeouts and cancellation stay per call, held by the supervisor.
- **Timeouts and crashes** end only the attempt: it counts as failed
  (``FunctionTimeoutError``, or ``RemoteError`` for a crashed process) and is retried under
  the function's ``retries``. Neighbours in a shared executor are spared (see ``_fleet``).
  Every executor leads its own process group, killed as a whole: whatever the call forked
  dies with the attempt. The supervisor never blocks on a child.
- **Autoscaling.** Per function, executors start as calls are claimed, up to
  ``max_containers`` (a cap on executors across *all* workers of the backend), fill to
  ``target_inputs`` and burst to ``max_inputs``; idle ones exit after ``scaledown_window``
  (keeping ``min_containers``). ``--max-executors`` caps one worker's executors, shared
  fairly between its functions.
- **Graceful stop.** SIGTERM/SIGINT: stop claiming, let running calls finish for up to
  ``grace`` seconds, give back the leases of the rest (not counted as failures), exit 0.

- **Resources.** ``gpu=``/``cpu=``/``memory=`` requests are held against the worker's
  ``--gpus/--cpu/--memory`` (``_placement``); a function that never fits is not claimed (its
  calls wait for a worker that has it). A ``memory=`` limit kills an executor above it
  (``_limits``); ``volumes=`` are bind-mounted in the executor's private mount namespace
  (``chute._platform``). ``update_autoscaler`` reaches running workers at each beat (``_autoscaler``).

Modules: ``_supervisor`` (the loop, leases, outcomes), ``_fleet`` (executors: feeding,
containment, reaping, scaling), ``_scaling`` (bookkeeping, fair shares), ``_placement``,
``_limits``, ``_autoscaler`` (see above; Linux-only calls: ``chute._platform``), ``_logs``
(per-call log lines), ``_capture`` (per-call output), ``_proc`` (process control and framing),
``_zygote`` (executors forked from a warm copy of the worker, not started from scratch),
``_executor`` / ``_batching`` / ``_service`` (inside an executor), user code is loaded by
``chute._app_file``.
"""

from chute._app_file import apps_in, load_target
from chute.worker._scaling import default_max_executors
from chute.worker._supervisor import DEFAULT_GRACE, DEFAULT_LEASE, Pool, lease_seconds, run_worker

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_LEASE",
    "Pool",
    "apps_in",
    "default_max_executors",
    "lease_seconds",
    "load_target",
    "run_worker",
]
