"""The script invocations behind the Redis job operations, as data (pure: no I/O).

Each builder returns ``(script, KEYS, ARGV)`` as the script's header declares them. The
single operations run one; the batched ones (``job_submit_many``, ``job_complete``,
``job_heartbeat_many``, ``job_get_many``) pipeline many in one round trip. Every script stays
atomic on its own.
"""

from __future__ import annotations

from chute.backends import _redis_scripts as scripts
from chute.backends._redis_keys import JobKeys, us
from chute.backends.types import CallState, ClaimRequest, CompleteRequest, Completion, SubmitRequest

Arg = bytes | str | int
Cmd = tuple[scripts.LuaScript, list[bytes], list[Arg]]

# Expired job results/records cleaned per submit (piggybacked clean-up).
SUBMIT_SWEEP = 10


def submit(jk: JobKeys, req: SubmitRequest) -> Cmd:
    fk = jk.fn(req.env, req.app, req.function)
    keys = [
        jk.seq,
        jk.call(req.call_id),
        jk.idem(req.env, req.app, req.function, req.idempotency_key or ""),
        fk + b"pending",
        fk + b"delayed",
        fk + b"all",
        fk + b"wake",
        jk.calls(req.env),
        jk.expiring,
        jk.tomb,
        jk.jobs_prefix,
    ]
    has_key = "0" if req.idempotency_key is None else "1"
    args: list[Arg] = [
        req.env,
        req.app,
        req.function,
        req.call_id,
        req.payload,
        us(req.result_ttl),
        has_key,
        SUBMIT_SWEEP,
    ]
    return scripts.job_submit, keys, args


def claim(jk: JobKeys, req: ClaimRequest) -> Cmd:
    fk = jk.fn(req.env, req.app, req.function)
    keys = [fk + b"pending", fk + b"running", fk + b"delayed", jk.expiring, jk.tomb, jk.jobs_prefix]
    cap: Arg = "" if req.max_running is None else req.max_running
    return scripts.job_claim, keys, [req.worker, req.n, us(req.lease), cap, req.max_lost]


def heartbeat(jk: JobKeys, call_id: str, attempt: int, lease: float) -> Cmd:
    return scripts.job_heartbeat, [jk.call(call_id)], [call_id, attempt, us(lease)]


def finish(
    jk: JobKeys, call_id: str, attempt: int, state: CallState, result: bytes, error: str | None
) -> Cmd:
    if state not in (CallState.SUCCEEDED, CallState.FAILED):
        raise ValueError(f"job_finish takes SUCCEEDED or FAILED, not {state!r}")
    keys = [jk.call(call_id), jk.done(call_id), jk.expiring, jk.tomb]
    args: list[Arg] = [call_id, attempt, state.value, result, error or "", "0" if error is None else "1"]
    return scripts.job_finish, keys, args


def retry(jk: JobKeys, call_id: str, attempt: int, delay: float, error: str) -> Cmd:
    return scripts.job_retry, [jk.call(call_id)], [call_id, attempt, us(delay), error]


def release(jk: JobKeys, call_id: str, attempt: int) -> Cmd:
    return scripts.job_release, [jk.call(call_id)], [call_id, attempt]


def get(jk: JobKeys, call_id: str) -> Cmd:
    return scripts.job_get, [jk.call(call_id)], [call_id]


def complete(jk: JobKeys, it: CompleteRequest) -> Cmd:
    if it.how is Completion.SUCCEEDED:
        return finish(jk, it.call_id, it.attempt, CallState.SUCCEEDED, it.result, it.error)
    if it.how is Completion.FAILED:
        return finish(jk, it.call_id, it.attempt, CallState.FAILED, it.result, it.error)
    if it.how is Completion.RETRY:
        return retry(jk, it.call_id, it.attempt, it.delay, it.error or "")
    if it.how is Completion.RELEASE:
        return release(jk, it.call_id, it.attempt)
    raise ValueError(f"job_complete: {it.how!r} is not a Completion")
