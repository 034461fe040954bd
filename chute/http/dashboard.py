"""The web dashboard: static files at ``/``, and the JSON it polls under ``/dashboard``.

The page is plain HTML/JS/CSS shipped in ``chute/http/static`` (no build step). It fetches
``/dashboard/summary`` and ``/dashboard/history`` every few seconds, and the public API for
drill-downs (queue peek, dict items, call details). The static files hold no data, so they
are served without a token; the page asks for one when the API answers 401.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError

import chute
from chute._async import control_ops, inspection
from chute._client import Client
from chute._resources import unserved_reason
from chute.backends.types import CallState
from chute.dict import Dict
from chute.http.api_dicts import DictOut
from chute.http.api_dicts import describe as describe_dict
from chute.http.api_jobs import CallOut, FunctionOut, function_out, info_out, record_out
from chute.http.api_queues import QueueOut
from chute.http.api_queues import describe as describe_queue
from chute.http.common import RESPONSES, Env
from chute.http.sampler import Sampler
from chute.queue import Queue

STATIC_DIR = Path(__file__).parent / "static"
MAX_OBJECTS = 200
RECENT_CALLS = 50
TRACEBACKS = 10

router = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=RESPONSES)


class WorkerCall(BaseModel):
    """A call a live worker holds now (``started_at``: the worker's clock; None while queued
    behind another call in its executor)."""

    call_id: str
    function: str
    attempt: int
    started_at: float | None = None


class WorkerOut(BaseModel):
    """A worker pool: from the backend's worker registry when it is alive, else only seen in
    recent calls. ``running`` counts calls it runs now, ``recent`` its calls in the list;
    ``calls`` are the calls it holds now and ``memory`` the resident bytes of its supervisor
    and executors (None: unknown), as of its last heartbeat."""

    id: str
    alive: bool
    host: str | None = None
    pid: int | None = None
    started_at: float | None = None
    functions: list[str] = []
    executors: int = 0
    max_executors: int | None = None
    running: int = 0
    calls: list[WorkerCall] = []
    memory: int | None = None
    recent: int = 0
    last_seen: float | None = None


class FunctionRow(FunctionOut):
    """A function with the number of its recent calls that needed more than one attempt, and,
    when scheduled, its next run (Unix seconds) and whether its schedule is paused."""

    retried: int
    next_run: float | None = None
    paused: bool = False
    waits: str | None = None  # why no worker runs its calls (a `chute worker --all` said so)


class Summary(BaseModel):
    """Everything the dashboard shows for one environment."""

    env: str
    envs: list[str]
    now: float
    queues: list[QueueOut]
    dicts: list[DictOut]
    functions: list[FunctionRow]
    calls: list[CallOut]
    workers: list[WorkerOut]
    jobs_error: str | None = None


class History(BaseModel):
    """Chart series (see ``Sampler.series``)."""

    series: dict[str, Any]


async def _workers(env: str, calls: list[CallOut]) -> list[WorkerOut]:
    seen: dict[str, WorkerOut] = {}
    with contextlib.suppress(Exception):  # no registry on this backend: recent calls only
        for worker_id, raw in await inspection.workers(Client.from_env(), env):
            seen[worker_id] = WorkerOut(id=worker_id, alive=True)
            with contextlib.suppress(ValueError, TypeError, AttributeError, ValidationError):
                info = json.loads(raw)
                held = [WorkerCall.model_validate(c) for c in info.get("running") or []]
                seen[worker_id] = WorkerOut(
                    id=worker_id,
                    alive=True,
                    host=info.get("host"),
                    pid=info.get("pid"),
                    started_at=info.get("started_at"),
                    functions=info.get("functions") or [],
                    executors=info.get("executors") or 0,
                    max_executors=info.get("max_executors"),
                    running=len(held),
                    calls=held,
                    memory=info.get("rss"),
                )
    for c in calls:
        if not c.worker:
            continue
        w = seen.setdefault(c.worker, WorkerOut(id=c.worker, alive=False))
        w.recent += 1
        if not w.alive:
            w.running += c.state == CallState.RUNNING
        w.last_seen = max(w.last_seen or 0.0, c.finished_at or c.started_at or 0.0) or None
    return sorted(seen.values(), key=lambda w: (not w.alive, w.id))


async def _jobs(env: str) -> tuple[list[FunctionRow], list[CallOut]]:
    client = Client.from_env()
    records = await inspection.calls(client, env, limit=RECENT_CALLS)
    running = await inspection.calls(client, env, state=CallState.RUNNING, limit=RECENT_CALLS)
    by_id = {r.id: record_out(r) for r in [*running, *records]}
    calls = sorted(by_id.values(), key=lambda c: -c.created_at)
    failed = [c for c in calls if c.state == CallState.FAILED][:TRACEBACKS]
    for c in failed:
        with contextlib.suppress(Exception):  # collected meanwhile
            c.traceback = info_out(await chute.FunctionCall.from_id(c.id).info.aio()).traceback
    functions = []
    schedules = {(s.app, s.function): s for s in await control_ops.schedules(client, env)}
    workers: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):  # no registry on this backend: no reasons
        for _, raw in await inspection.workers(client, env):
            with contextlib.suppress(ValueError):
                info = json.loads(raw)
                workers += [info] if isinstance(info, dict) else []
    for view in await inspection.functions(client, env):
        f, row = view.record, function_out(view.record, view.stats)
        retried = sum(1 for c in calls if c.app == f.app and c.function == f.name and c.attempts > 1)
        sched = schedules.get((f.app, f.name))
        functions.append(
            FunctionRow(
                **row.model_dump(),
                retried=retried,
                next_run=sched.next_at if sched is not None else None,
                paused=sched is not None and sched.paused,
                waits=unserved_reason(f"{f.app}.{f.name}", workers),
            )
        )
    return functions, calls


@router.get("/summary", summary="Dashboard data")
async def summary(request: Request, env: Env) -> Summary:
    """Queues with partitions, dicts with sizes, functions with stats, recent calls, workers."""
    config = request.app.state.config
    caller = getattr(request.state, "token", None)
    envs = [e for e in dict.fromkeys([*config.envs, env]) if caller is None or caller.allows(e)]
    queues = []
    for q in await Queue.objects.list.aio(environment_name=env, max_objects=MAX_OBJECTS):
        with contextlib.suppress(chute.exception.NotFoundError):  # deleted meanwhile
            queues.append(await describe_queue(q, env))
    dicts = []
    for d in await Dict.objects.list.aio(environment_name=env, max_objects=MAX_OBJECTS):
        with contextlib.suppress(chute.exception.NotFoundError):
            dicts.append(await describe_dict(d, env))
    functions: list[FunctionRow] = []
    calls: list[CallOut] = []
    jobs_error = None
    try:
        functions, calls = await _jobs(env)
    except Exception as exc:  # jobs unavailable: still show queues and dicts
        jobs_error = f"{type(exc).__name__}: {exc}"
    return Summary(
        env=env,
        envs=envs,
        now=await inspection.server_time(Client.from_env()),
        queues=queues,
        dicts=dicts,
        functions=functions,
        calls=calls,
        workers=await _workers(env, calls),
        jobs_error=jobs_error,
    )


@router.get("/history", summary="Dashboard chart series")
async def history(request: Request, env: Env) -> History:
    """Queue depth and job throughput over the last hour, sampled by the server."""
    sampler: Sampler | None = getattr(request.app.state, "sampler", None)
    if sampler is None:
        return History(series={})
    if env not in sampler.envs:
        return History(series={"not_sampled": True})
    return History(series=sampler.series(env))


def mount(app: FastAPI) -> None:
    """Add the dashboard page, its static files and its JSON routes to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)


# The page loads only its own files; it never needs inline script or foreign origins.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
