"""``GET /metrics`` in the Prometheus text format (written by hand: a handful of families).

Gauges (queue depth, calls by state, workers) are read from the backend at scrape time;
``chute_calls_finished_total`` and the ``chute_call_duration_seconds`` histogram count the
calls this server observed finishing since it started (see ``chute.http.sampler``).
Covers the environments given to ``chute serve --env`` that the caller's token may see.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from chute._async import inspection
from chute._client import Client
from chute.http.common import RESPONSES, Caller
from chute.http.sampler import LATENCY_BUCKETS, Sampler
from chute.queue import Queue

router = APIRouter(tags=["meta"], responses=RESPONSES)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_HELP = {
    "chute_up": ("gauge", "1 if the storage backend answered this scrape."),
    "chute_queue_depth": ("gauge", "Items in a queue, all partitions."),
    "chute_queue_partitions": ("gauge", "Live partitions of a queue."),
    "chute_calls": ("gauge", "Function calls by state (finished ones until their result expires)."),
    "chute_workers": ("gauge", "Live worker pools (chute worker / chute serve --workers)."),
    "chute_worker_executors": ("gauge", "Executor processes of a live worker pool."),
    "chute_calls_finished_total": ("counter", "Calls seen finishing since this server started."),
    "chute_call_duration_seconds": ("histogram", "Run time of finished calls (finished_at - started_at)."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Families:
    """Collects samples grouped by metric family, then renders them in order."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {name: [] for name in _HELP}

    def add(self, family: str, value: float, suffix: str = "", **labels: str) -> None:
        self.lines[family].append(f"{family}{suffix}{_labels(**labels)} {value:g}")

    def render(self) -> str:
        out: list[str] = []
        for name, lines in self.lines.items():
            kind, text = _HELP[name]
            out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *lines]
        return "\n".join(out) + "\n"


async def _queues(f: _Families, env: str) -> None:
    for q in await Queue.objects.list.aio(environment_name=env, max_objects=1000):
        with contextlib.suppress(Exception):  # deleted meanwhile
            parts = await q.partitions.aio()
            name = q.name or ""
            f.add("chute_queue_depth", sum(n for _, n, _ in parts), env=env, queue=name)
            f.add("chute_queue_partitions", len(parts), env=env, queue=name)


async def _jobs(f: _Families, env: str, sampler: Sampler | None) -> None:
    client = Client.from_env()
    for view in await inspection.functions(client, env):
        fn, stats = view.record, view.stats
        for state in ("pending", "running", "succeeded", "failed", "cancelled"):
            f.add("chute_calls", getattr(stats, state), env=env, app=fn.app, function=fn.name, state=state)
    workers = await inspection.workers(client, env)
    f.add("chute_workers", len(workers), env=env)
    for worker_id, raw in workers:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            f.add(
                "chute_worker_executors", int(json.loads(raw).get("executors", 0)), env=env, worker=worker_id
            )
    if sampler is None or env not in sampler.envs:
        return
    await sampler.observe_calls(env)
    hist = sampler.envs[env]
    for (app, function, state), n in sorted(hist.finished_total.items()):
        f.add("chute_calls_finished_total", n, env=env, app=app, function=function, state=state)
    for (app, function), h in sorted(hist.latency.items()):
        for bound, count in zip(LATENCY_BUCKETS, h.counts, strict=True):
            f.add(
                "chute_call_duration_seconds",
                count,
                "_bucket",
                env=env,
                app=app,
                function=function,
                le=f"{bound:g}",
            )
        labels = {"env": env, "app": app, "function": function}
        f.add("chute_call_duration_seconds", h.total, "_bucket", **labels, le="+Inf")
        f.add("chute_call_duration_seconds", h.sum, "_sum", **labels)
        f.add("chute_call_duration_seconds", h.total, "_count", **labels)


async def render(envs: Iterable[str], sampler: Sampler | None) -> str:
    """The exposition text for ``envs``."""
    f = _Families()
    up = 1
    try:
        await inspection.ping(Client.from_env())
    except Exception:
        up = 0
    f.add("chute_up", up)
    if up:
        for env in envs:
            await _queues(f, env)
            with contextlib.suppress(Exception):  # jobs may be unavailable on this backend
                await _jobs(f, env, sampler)
    return f.render()


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(request: Request, caller: Caller) -> PlainTextResponse:
    """Prometheus text exposition of the server's watched environments."""
    config = request.app.state.config
    envs = [e for e in config.envs if caller is None or caller.allows(e)]
    if not envs:
        raise HTTPException(403, "This token is not allowed on any environment this server reports.")
    text = await render(envs, getattr(request.app.state, "sampler", None))
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
