"""Jobs: ``/functions`` (deployed functions, spawn), ``/calls`` (status, result, cancel, retry)
and ``/schedules``."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

import chute
from chute._async import control_ops, inspection
from chute._client import Client
from chute.backends.types import CallRecord, CallState, FunctionRecord, FunctionStats
from chute.exception import InvalidError, OutputExpiredError
from chute.http.auth import NAME_PATTERN, authorize
from chute.http.common import (
    PICKLE_RESPONSES,
    RESPONSES,
    Caller,
    Env,
    ErrorBody,
    max_wait,
    unless_disconnected,
)
from chute.http.payload import json_body, read_body, value_response, wants_pickle

router = APIRouter(tags=["jobs"], responses=RESPONSES)

AppName = Annotated[str, Path(pattern=NAME_PATTERN, description="App name.")]
FunctionName = Annotated[str, Path(pattern=NAME_PATTERN, description="Function name.")]
CallId = Annotated[str, Path(pattern=r"^fc-[A-Za-z0-9]{22}$", description="A call id (``fc-…``).")]


class SpawnBody(BaseModel):
    """Arguments of the call, as JSON."""

    model_config = ConfigDict(extra="forbid")
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class Spawned(BaseModel):
    """The id of the new call; poll ``/calls/{call_id}/result``."""

    call_id: str


class StatsOut(BaseModel):
    """A function's calls by state (finished ones until their results expire)."""

    pending: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class FunctionOut(BaseModel):
    """A deployed function with its spec (as written by ``chute deploy``) and call counts."""

    app: str
    name: str
    env: str
    deployed_at: float
    spec: dict[str, Any] | None
    stats: StatsOut


class CallOut(BaseModel):
    """A function call. Times are Unix seconds; ``lost`` counts attempts whose worker vanished;
    ``expires_at`` is when a finished call's result is dropped; ``traceback`` (of a failed call)
    only on ``/calls/{id}``; ``args_summary``: its arguments as short text made by the caller at
    submit, e.g. ``f(1, 'abc', x=[1, 2, ...])`` (at most 200 characters; null if it has none)."""

    id: str
    env: str
    app: str
    function: str
    state: CallState
    attempts: int
    failures: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    worker: str | None = None
    error: str | None = None
    traceback: str | None = None
    lost: int = 0
    expires_at: float | None = None
    priority: int = 0
    progress: float | None = None
    progress_meta: dict[str, Any] | None = None
    args_summary: str | None = None


class Pending(BaseModel):
    """The call has no result yet."""

    call_id: str
    state: CallState


class CallFailed(ErrorBody):
    """The call failed or was cancelled: the error type and message the caller would raise."""

    call_id: str
    state: CallState
    traceback: str | None = None


class ResultOut(BaseModel):
    """The call's return value."""

    result: Any


class Cancelled(BaseModel):
    """Whether the call was cancelled now (false: already finished)."""

    cancelled: bool


class Retried(BaseModel):
    """Whether the call is pending again (false: it was not failed or cancelled, or expired)."""

    retried: bool


class ScheduleOut(BaseModel):
    """A scheduled function's state: its next run (Unix seconds), paused, its last run."""

    app: str
    function: str
    schedule: str
    next_at: float
    paused: bool
    last_at: float | None = None
    last_call: str | None = None


def stats_out(s: FunctionStats) -> StatsOut:
    """Backend stats as the API model."""
    return StatsOut(
        pending=s.pending, running=s.running, succeeded=s.succeeded, failed=s.failed, cancelled=s.cancelled
    )


def function_out(f: FunctionRecord, stats: FunctionStats) -> FunctionOut:
    """A deployed function and its stats as the API model (an unreadable spec becomes null)."""
    try:
        spec = json.loads(f.spec)
    except ValueError:
        spec = None
    return FunctionOut(
        app=f.app,
        name=f.name,
        env=f.env,
        deployed_at=f.deployed_at,
        spec=spec if isinstance(spec, dict) else None,
        stats=stats_out(stats),
    )


def record_out(r: CallRecord) -> CallOut:
    """A call record from a listing as the API model."""
    return info_out(chute.CallInfo.from_record(r))


def info_out(info: chute.CallInfo) -> CallOut:
    """``FunctionCall.info()`` as the API model."""
    return CallOut(
        id=info.id,
        env=info.env,
        app=info.app,
        function=info.function,
        state=CallState(info.state),
        attempts=info.attempts,
        failures=info.failures,
        created_at=info.created_at,
        started_at=info.started_at,
        finished_at=info.finished_at,
        worker=info.worker,
        error=info.error,
        traceback=info.traceback,
        lost=info.lost,
        expires_at=info.expires_at,
        priority=info.priority,
        progress=info.progress,
        progress_meta=info.progress_meta,
        args_summary=info.args_summary,
    )


@router.post(
    "/functions/{app}/{function}/spawn",
    summary="Spawn a call",
    status_code=201,
    responses=PICKLE_RESPONSES,
    openapi_extra=json_body(SpawnBody, "Arguments (or a raw pickle of (args, kwargs), with --allow-pickle)."),
)
async def spawn(request: Request, app: AppName, function: FunctionName, env: Env) -> Spawned:
    """Queue a call of a deployed function; a worker runs it. Returns its id at once."""
    body = await read_body(request, SpawnBody)
    if isinstance(body, SpawnBody):
        args, kwargs = body.args, body.kwargs
    elif isinstance(body, tuple) and len(body) == 2 and isinstance(body[1], dict):
        args, kwargs = list(body[0]), body[1]
    else:
        raise InvalidError("A pickled spawn body must be a tuple (args, kwargs).")
    fn = chute.Function.from_name(app, function, environment_name=env)
    try:
        call = await fn.spawn.aio(*args, **kwargs)
    except TypeError as exc:
        # Only a keyword that collides with spawn's own parameters ("fn", "self") gets here:
        # spawn never runs the function.
        raise InvalidError(f"Cannot pass these keyword arguments through spawn: {exc}") from None
    return Spawned(call_id=call.object_id)


@router.get("/functions", summary="List deployed functions")
async def list_functions(
    env: Env, app: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only this app.")] = None
) -> list[FunctionOut]:
    """Deployed functions of the environment with their call counts by state."""
    views = await inspection.functions(Client.from_env(), env, app)
    return [function_out(v.record, v.stats) for v in views]


@router.get("/calls", summary="List recent calls")
async def list_calls(
    env: Env,
    app: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    function: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    state: CallState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CallOut]:
    """Most recent calls first, optionally of one app, function or state."""
    records = await inspection.calls(
        Client.from_env(), env, app=app, function=function, state=state, limit=limit
    )
    return [record_out(r) for r in records]


async def _authorized_call(call_id: str, caller: Caller) -> tuple[chute.FunctionCall, chute.CallInfo]:
    call = chute.FunctionCall.from_id(call_id)
    info = await call.info.aio()
    authorize(caller, info.env)
    return call, info


@router.get("/calls/{call_id}", summary="Describe a call")
async def get_call(call_id: CallId, caller: Caller) -> CallOut:
    """State, attempts, timings, worker, and the error and traceback of a failed call."""
    _, info = await _authorized_call(call_id, caller)
    return info_out(info)


@router.get(
    "/calls/{call_id}/result",
    summary="Get a call's result",
    response_model=ResultOut,
    responses={
        **PICKLE_RESPONSES,
        200: {"model": ResultOut, "content": {"application/x-python-pickle": {}}},
        202: {"model": Pending, "description": "Still pending or running."},
        404: {"model": ErrorBody, "description": "Unknown call, or its result expired."},
        500: {"model": CallFailed, "description": "The call failed or was cancelled."},
    },
)
async def get_result(
    request: Request,
    call_id: CallId,
    caller: Caller,
    timeout: Annotated[
        float, Query(ge=0, le=3600, description="Seconds to wait for the result; cut to --max-wait.")
    ] = 0,
) -> Response:
    """200 with the result; 202 while pending; 404 unknown or expired; 500 with the remote
    error's type, message and traceback when the call failed or was cancelled."""
    pickled = wants_pickle(request)
    call, info = await _authorized_call(call_id, caller)
    if not CallState(info.state).terminal:
        waited = await unless_disconnected(request, _wait(call, max_wait(request, timeout)))
        if isinstance(waited, Response):
            return waited
        info = await call.info.aio()
    state = CallState(info.state)
    if state == CallState.SUCCEEDED:
        return value_response(await call.get.aio(timeout=0), pickled, field="result")
    if state == CallState.EXPIRED:
        raise OutputExpiredError(f"The result of function call {call_id} has expired.")
    if state in (CallState.FAILED, CallState.CANCELLED):
        # From the stored error line, not by unpickling the exception: its class may not be
        # importable in the server.
        kind, _, message = (info.error or "RemoteError: call failed").partition(": ")
        if state == CallState.CANCELLED:
            kind, message = "RemoteError", f"Function call {call_id} was cancelled."
        body = CallFailed(
            detail=message or kind, type=kind, call_id=call_id, state=state, traceback=info.traceback
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=500)
    return JSONResponse(Pending(call_id=call_id, state=state).model_dump(mode="json"), status_code=202)


async def _wait(call: chute.FunctionCall, timeout: float) -> None:
    """Wait until the call is terminal or ``timeout`` passes (the outcome is read afterwards)."""
    with contextlib.suppress(Exception):
        await call.get.aio(timeout=timeout)


@router.post("/calls/{call_id}/cancel", summary="Cancel a call")
async def cancel(call_id: CallId, caller: Caller) -> Cancelled:
    """Cancel a pending or running call; false when it had already finished."""
    call, info = await _authorized_call(call_id, caller)
    if CallState(info.state).terminal:
        return Cancelled(cancelled=False)
    await call.cancel.aio()
    latest = await call.info.aio()
    return Cancelled(cancelled=CallState(latest.state) == CallState.CANCELLED)


@router.post("/calls/{call_id}/retry", summary="Retry a failed or cancelled call")
async def retry(call_id: CallId, caller: Caller) -> Retried:
    """Run a failed or cancelled call again under the same id (its failures reset); false when
    it is pending, running, succeeded or expired."""
    call, info = await _authorized_call(call_id, caller)
    if CallState(info.state) not in (CallState.FAILED, CallState.CANCELLED):
        return Retried(retried=False)
    try:
        await call.retry.aio()
    except InvalidError:
        return Retried(retried=False)
    return Retried(retried=True)


@router.get("/schedules", summary="List scheduled functions")
async def list_schedules(env: Env) -> list[ScheduleOut]:
    """Scheduled functions of the environment with their next and last run."""
    records = await control_ops.schedules(Client.from_env(), env)
    return [
        ScheduleOut(
            app=r.app,
            function=r.function,
            schedule=r.sig,
            next_at=r.next_at,
            paused=r.paused,
            last_at=r.last_at,
            last_call=r.last_call,
        )
        for r in records
    ]
