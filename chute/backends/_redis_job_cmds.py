"""The script invocations behind the Redis job operations, as data (pure: no I/O).

Each builder returns ``(script, KEYS, ARGV)`` as the script's header declares them, on the
keys of one slot (``ShardKeys``: the slot of the function's tag; ``redis_jobs`` finds which).
The single operations run one; the batched ones (``job_submit_many``, ``job_complete``,
``job_heartbeat_many``, ``job_get_many``) pipeline many in one round trip, to as many slots
(and Cluster masters) as the calls live in. Every script stays atomic on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from chute.backends import _redis_scripts as scripts
from chute.backends._redis_keys import ShardKeys, us
from chute.backends.types import (
    CallState,
    ClaimRequest,
    CompleteRequest,
    Completion,
    ScheduleRecord,
    SubmitRequest,
)

Arg = bytes | str | int
Cmd = tuple[scripts.LuaScript, list[bytes], list[Arg]]

# Expired job results/records cleaned per submit (piggybacked clean-up).
SUBMIT_SWEEP = 10


def runs(reqs: Sequence[SubmitRequest]) -> list[list[SubmitRequest]]:
    """``reqs`` cut into runs that one ``job_submit_many`` script can store: consecutive calls
    of one function with one result TTL and no idempotency key (a call with a key runs alone)."""
    out: list[list[SubmitRequest]] = []
    for r in reqs:
        last = out[-1][0] if out else None
        if (
            last is not None
            and r.idempotency_key is None
            and last.idempotency_key is None
            and (last.env, last.app, last.function, last.result_ttl)
            == (r.env, r.app, r.function, r.result_ttl)
        ):
            out[-1].append(r)
        else:
            out.append([r])
    return out


def submit(sk: ShardKeys, req: SubmitRequest, locator: bytes) -> Cmd:
    """``locator``: the name of the call's locator (written before, in another slot), or b""."""
    fk = sk.fn(req.env, req.app, req.function)
    keys = [
        sk.seq,
        sk.call(req.call_id),
        sk.idem(req.env, req.app, req.function, req.idempotency_key or ""),
        fk + b"pending",
        fk + b"delayed",
        fk + b"all",
        fk + b"wake",
        sk.expiring,
        sk.tomb,
        sk.orphans,
        sk.jobs_prefix,
        fk + b"keyed",
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
        locator,
        us(req.delay),
        req.priority,
        req.concurrency_key or "",
        "1" if req.debounce else "0",
        req.args_summary or "",
    ]
    return scripts.job_submit, keys, args


def submit_many(sk: ShardKeys, reqs: Sequence[SubmitRequest], locators: Sequence[bytes]) -> Cmd:
    """One script storing ``reqs``: calls of one function, none with an idempotency key
    (``locators[i]``: as ``submit``'s ``locator`` for ``reqs[i]``)."""
    first = reqs[0]
    fk = sk.fn(first.env, first.app, first.function)
    keys = [
        sk.seq,
        fk + b"pending",
        fk + b"delayed",
        fk + b"all",
        fk + b"wake",
        sk.expiring,
        sk.tomb,
        sk.orphans,
        sk.jobs_prefix,
        fk + b"keyed",
    ]
    args: list[Arg] = [first.env, first.app, first.function, us(first.result_ttl), SUBMIT_SWEEP]
    for req, locator in zip(reqs, locators, strict=True):
        args += [
            req.call_id,
            req.payload,
            locator,
            us(req.delay),
            req.priority,
            req.concurrency_key or "",
            "1" if req.debounce else "0",
            req.args_summary or "",
        ]
    return scripts.job_submit_many, keys, args


def schedule_tick(sk: ShardKeys, req: SubmitRequest, locator: bytes, due: float, following: float) -> Cmd:
    """``job_submit``'s keys and arguments (see ``submit``), then the schedule's compare-and-set."""
    fk = sk.fn(req.env, req.app, req.function)
    keys = [
        sk.seq,
        sk.call(req.call_id),
        sk.idem(req.env, req.app, req.function, req.idempotency_key or ""),
        fk + b"pending",
        fk + b"delayed",
        fk + b"all",
        fk + b"wake",
        sk.expiring,
        sk.tomb,
        sk.orphans,
        sk.jobs_prefix,
        fk + b"keyed",
        fk + b"sched",
    ]
    args: list[Arg] = [
        req.env,
        req.app,
        req.function,
        req.call_id,
        req.payload,
        us(req.result_ttl),
        "0" if req.idempotency_key is None else "1",
        SUBMIT_SWEEP,
        locator,
        us(req.delay),
        req.priority,
        req.concurrency_key or "",
        "1" if req.debounce else "0",
        sched_us(due),
        sched_us(following),
        req.args_summary or "",
    ]
    return scripts.job_schedule_tick, keys, args


def claim(sk: ShardKeys, req: ClaimRequest, *, if_ready: bool = False) -> Cmd:
    """``if_ready``: claim nothing (and reap no expired lease) unless a call is claimable now."""
    fk = sk.fn(req.env, req.app, req.function)
    keys = [
        fk + b"pending",
        fk + b"running",
        fk + b"delayed",
        sk.expiring,
        sk.tomb,
        sk.jobs_prefix,
        sk.fn_prefix(req.env, req.app, req.function),
        fk + b"starts",
        fk + b"keys",
        fk + b"krun",
        fk + b"keyed",
        fk + b"turn",
    ]
    cap: Arg = "" if req.max_running is None else req.max_running
    rate: Arg = "" if req.rate_calls is None else req.rate_calls
    per_key: Arg = "" if req.max_per_key is None else req.max_per_key
    ready: Arg = "1" if if_ready else "0"
    lease, per = us(req.lease), us(req.rate_per)
    args: list[Arg] = [req.worker, req.n, lease, cap, req.max_lost, rate, per, per_key, ready]
    return scripts.job_claim, keys, args


def requeue(sk: ShardKeys, call_id: str) -> Cmd:
    keys = [sk.call(call_id), sk.done(call_id), sk.expiring, sk.tomb]
    args: list[Arg] = [call_id]
    return scripts.job_requeue, keys, args


def progress(sk: ShardKeys, call_id: str, report: str) -> Cmd:
    keys = [sk.call(call_id)]
    args: list[Arg] = [report]
    return scripts.job_progress, keys, args


SCHED_FIELDS = ("sig", "next", "paused", "last", "lastcall")


def decode_schedule(env: str, app: str, function: str, row: Sequence[bytes | None]) -> ScheduleRecord:
    """A ScheduleRecord from the ``SCHED_FIELDS`` of ``F sched``."""
    sig, nxt, paused, last, last_call = row
    return ScheduleRecord(
        env=env,
        app=app,
        function=function,
        sig=(sig or b"").decode(),
        next_at=int(nxt or 0) / 1e6,
        paused=paused == b"1",
        last_at=None if last is None else int(last) / 1e6,
        last_call=None if last_call is None else last_call.decode(),
    )


def sched_us(t: float) -> str:
    """A schedule time as stored (whole microseconds), exact for a time read back from storage."""
    return str(round(t * 1_000_000))


def heartbeat(sk: ShardKeys, call_id: str, attempt: int, lease: float) -> Cmd:
    keys = [sk.call(call_id)]
    args: list[Arg] = [call_id, attempt, us(lease)]
    return scripts.job_heartbeat, keys, args


def finish(
    sk: ShardKeys, call_id: str, attempt: int, state: CallState, result: bytes, error: str | None
) -> Cmd:
    if state not in (CallState.SUCCEEDED, CallState.FAILED):
        raise ValueError(f"job_finish takes SUCCEEDED or FAILED, not {state!r}")
    keys = [sk.call(call_id), sk.done(call_id), sk.expiring, sk.tomb]
    args: list[Arg] = [call_id, attempt, state.value, result, error or "", "0" if error is None else "1"]
    return scripts.job_finish, keys, args


def finish_many(sk: ShardKeys, items: Sequence[CompleteRequest]) -> Cmd:
    """One script recording ``items`` (SUCCEEDED or FAILED completions of calls all read from
    the slot ``sk``), as ``finish`` does one."""
    keys = [sk.jobs_prefix, sk.expiring, sk.tomb]
    args: list[Arg] = []
    for it in items:
        if it.how is not Completion.SUCCEEDED and it.how is not Completion.FAILED:
            raise ValueError(f"job_finish_many takes SUCCEEDED or FAILED, not {it.how!r}")
        state = CallState.SUCCEEDED if it.how is Completion.SUCCEEDED else CallState.FAILED
        error = it.error
        args += [it.call_id, it.attempt, state.value, it.result, error or "", "0" if error is None else "1"]
    return scripts.job_finish_many, keys, args


def retry(sk: ShardKeys, call_id: str, attempt: int, delay: float, error: str) -> Cmd:
    keys = [sk.call(call_id)]
    args: list[Arg] = [call_id, attempt, us(delay), error]
    return scripts.job_retry, keys, args


def release(sk: ShardKeys, call_id: str, attempt: int) -> Cmd:
    keys = [sk.call(call_id)]
    args: list[Arg] = [call_id, attempt]
    return scripts.job_release, keys, args


def cancel(sk: ShardKeys, call_id: str, result: bytes) -> Cmd:
    keys = [sk.call(call_id), sk.done(call_id), sk.expiring, sk.tomb]
    args: list[Arg] = [call_id, result]
    return scripts.job_cancel, keys, args


def get(sk: ShardKeys, call_id: str) -> Cmd:
    keys = [sk.call(call_id)]
    args: list[Arg] = [call_id]
    return scripts.job_get, keys, args


def get_many(sk: ShardKeys, call_ids: Sequence[str]) -> Cmd:
    """One script reading ``call_ids``, all read from the slot ``sk``."""
    keys = [sk.jobs_prefix]
    args: list[Arg] = [*call_ids]
    return scripts.job_get_many, keys, args


def complete(sk: ShardKeys, it: CompleteRequest) -> Cmd:
    if it.how is Completion.SUCCEEDED:
        return finish(sk, it.call_id, it.attempt, CallState.SUCCEEDED, it.result, it.error)
    if it.how is Completion.FAILED:
        return finish(sk, it.call_id, it.attempt, CallState.FAILED, it.result, it.error)
    if it.how is Completion.RETRY:
        return retry(sk, it.call_id, it.attempt, it.delay, it.error or "")
    if it.how is Completion.RELEASE:
        return release(sk, it.call_id, it.attempt)
    raise ValueError(f"job_complete: {it.how!r} is not a Completion")
