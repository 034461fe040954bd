"""Modal wire: the ``modal`` client through ``chute modal-server`` next to chute's own client.

On each store (SQLite, Redis), one ``chute worker bench/_jobs_app.py`` runs the no-op job
(``CONCURRENCY`` at a time) and one ``chute modal-server`` serves Modal's API from the same
store. A spawned submitter process then measures, for each client in turn:

1. Round trip: ``spawn`` a no-op job, then ``FunctionCall.from_id(id).get()`` its result, one
   job at a time (the web backend's submit-then-poll pattern of seed 004), after untimed
   warm-up jobs.
2. Map: ``list(f.map(range(N)))`` of N no-op jobs; jobs/s end to end.

The modal client looks the function up with ``modal.Function.from_name`` and talks gRPC to
the server (over loopback, no TLS); chute's client uses ``chute.Function.from_name`` and the
store directly. Ratios are modal / chute: the price of the wire. Results are checked, timings
are not.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import re
import select
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench._env import Env
from bench._harness import (
    NA,
    Report,
    ResultTable,
    Scale,
    fmt_ns,
    fmt_rate,
    fmt_ratio,
    ratio,
    settle,
    summarize,
)
from bench._jobs_app import CONCURRENCY

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = ROOT / "bench" / "_jobs_app.py"
TOKEN_ID, TOKEN_SECRET = "ak-bench", "as-bench"
JOB_TIMEOUT = 60.0
_CTX = mp.get_context("spawn")


@dataclass(frozen=True)
class WireScale:
    latency_jobs: int  # timed sequential round trips per client
    latency_budget: float  # ...or as many as fit in this many seconds
    warmup: int
    map_jobs: int
    system_timeout: float

    @classmethod
    def of(cls, scale: Scale) -> WireScale:
        if scale.quick:
            return cls(latency_jobs=100, latency_budget=15, warmup=10, map_jobs=300, system_timeout=150)
        return cls(latency_jobs=300, latency_budget=30, warmup=20, map_jobs=1000, system_timeout=300)


# -- the submitter (a spawned process) -----------------------------------------------------------


def _chute_client(url: str) -> tuple[Any, Any]:
    os.environ["CHUTE_URL"] = url
    import chute

    return chute.Function.from_name("bench-jobs", "noop"), chute.FunctionCall


def _modal_client(server_url: str) -> tuple[Any, Any]:
    for key in [k for k in os.environ if k.startswith("MODAL_")]:
        del os.environ[key]
    os.environ.update(
        MODAL_SERVER_URL=server_url,
        MODAL_TOKEN_ID=TOKEN_ID,
        MODAL_TOKEN_SECRET=TOKEN_SECRET,
        MODAL_CONFIG_PATH=os.devnull,
    )
    import modal

    return modal.Function.from_name("bench-jobs", "noop"), modal.FunctionCall


def _submitter(client: str, target: str, ws: WireScale, log_path: str, conn: Connection) -> None:
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 2)
    try:
        fn, call_cls = _chute_client(target) if client == "chute" else _modal_client(target)

        def one(x: int) -> Any:
            call_id = fn.spawn(x).object_id
            return call_cls.from_id(call_id).get(timeout=JOB_TIMEOUT)

        for i in range(ws.warmup):
            if one(i) != i:
                raise RuntimeError(f"warm-up job {i} returned a wrong result")
        settle()
        clock = time.perf_counter_ns
        latencies = []
        stop = time.monotonic() + ws.latency_budget
        for i in range(ws.latency_jobs):
            if time.monotonic() > stop:
                break
            t0 = clock()
            got = one(i)
            latencies.append(clock() - t0)
            if got != i:
                raise RuntimeError(f"job {i} returned {got!r}")
        settle()
        t0 = clock()
        results = list(fn.map(range(ws.map_jobs)))
        map_s = (clock() - t0) / 1e9
        if results != list(range(ws.map_jobs)):
            raise RuntimeError("map returned wrong results")
        conn.send({"latency_ns": latencies, "map_s": map_s})
    except BaseException as exc:
        traceback.print_exc()
        reason = " ".join("".join(traceback.format_exception_only(exc)).split())
        conn.send({"error": reason[:300]})


# -- the parent ------------------------------------------------------------------------------------


def _start(cmd: list[str], env: dict[str, str], log_path: str, **kw: Any) -> subprocess.Popen[Any]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=log, start_new_session=True, **kw)


def _server_url(proc: subprocess.Popen[str], log_path: str) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            match = re.search(r" at (https?://\S+) ", proc.stdout.readline())
            if match:
                return match.group(1)
    raise RuntimeError(f"chute modal-server did not start: {_last_line(log_path)}")


def _last_line(path: str) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1][:300]
    return "no output"


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _submit(client: str, target: str, ws: WireScale, log_path: str) -> dict[str, Any]:
    parent, child = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_submitter, args=(client, target, ws, log_path, child), name=f"bench-{client}")
    try:
        proc.start()
        child.close()
        deadline = time.monotonic() + ws.system_timeout
        while not parent.poll(0.2):
            if not proc.is_alive():
                raise RuntimeError(f"submitter exited ({proc.exitcode}): {_last_line(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {ws.system_timeout:g} s")
        out: dict[str, Any] = parent.recv()
        if "error" in out:
            raise RuntimeError(out["error"])
        return out
    finally:
        if proc.is_alive():
            proc.kill()
        if proc.pid is not None:
            proc.join(5)
        parent.close()


def _measure(store: str, url: str, env: Env, ws: WireScale) -> dict[str, dict[str, Any]]:
    """Both clients on one store: worker and server up, chute's submitter, modal's, both down."""
    if url.startswith("redis"):
        import redis

        r = redis.Redis.from_url(url)
        try:
            r.flushdb()
        finally:
            r.close()
    log_path = os.path.join(env.tmpdir, f"modal-wire-{store}.log")
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "CHUTE_URL": url}
    py = sys.executable
    worker = _start(
        [py, "-m", "chute", "worker", str(APP_FILE)], child_env, log_path, stdout=subprocess.DEVNULL
    )
    server_cmd = [py, "-m", "chute", "modal-server", "--port", "0", "--token-id", TOKEN_ID]
    server = _start(
        [*server_cmd, "--token-secret", TOKEN_SECRET], child_env, log_path, stdout=subprocess.PIPE, text=True
    )
    try:
        server_url = _server_url(server, log_path)
        return {
            "chute": _submit("chute", url, ws, log_path),
            "modal": _submit("modal", server_url, ws, log_path),
        }
    finally:
        _stop(server)
        _stop(worker)


@dataclass
class WireResult:
    latency_n: int
    latency_p50_ns: float
    latency_p99_ns: float
    map_jobs_per_s: float


def _result(raw: dict[str, Any], n: int) -> WireResult:
    st = summarize(raw["latency_ns"])
    return WireResult(st.n, st.p50, st.p99, n / raw["map_s"])


def run(env: Env, scale: Scale) -> Report:
    ws = WireScale.of(scale)
    stores: list[tuple[str, str | None, str | None]] = [("SQLite", env.sqlite_url("modal-wire"), None)]
    stores.append(
        (
            "Redis",
            env.redis_url.rsplit("/", 1)[0] + "/7" if env.chute_redis_ok and env.redis_url else None,
            env.chute_redis_error or "no Redis server in this run",
        )
    )
    results: dict[str, dict[str, WireResult]] = {}
    failures: dict[str, str] = {}
    for store, url, why in stores:
        if url is None:
            failures[store] = why or "not measured"
            continue
        try:
            raw = _measure(store, url, env, ws)
            results[store] = {client: _result(r, ws.map_jobs) for client, r in raw.items()}
        except Exception as exc:
            failures[store] = f"failed: {exc}"

    table = ResultTable(
        f"7. Modal wire: no-op job spawn + get, and map of {ws.map_jobs:,} ({CONCURRENCY} jobs at a time)",
        ["client", "store", "n", "round trip p50", "p99", "map jobs/s", "p50 x", "p99 x", "map x"],
    )
    data: dict[str, Any] = {"scale": asdict(ws), "concurrency": CONCURRENCY, "stores": {}}
    for store, _, _ in stores:
        got = results.get(store)
        if got is None:
            for client in ("chute", "modal"):
                table.add_row(client, store, *[NA] * 7)
            data["stores"][store] = {"unavailable": failures.get(store)}
            continue
        mine, wire = got["chute"], got["modal"]
        xs = [
            ratio(wire.latency_p50_ns, mine.latency_p50_ns),
            ratio(wire.latency_p99_ns, mine.latency_p99_ns),
            ratio(wire.map_jobs_per_s, mine.map_jobs_per_s),
        ]
        for client, r, cells in (("chute", mine, ["—"] * 3), ("modal", wire, [fmt_ratio(x) for x in xs])):
            table.add_row(
                client,
                store,
                str(r.latency_n),
                fmt_ns(r.latency_p50_ns),
                fmt_ns(r.latency_p99_ns),
                fmt_rate(r.map_jobs_per_s),
                *cells,
            )
        data["stores"][store] = {
            "chute": asdict(mine),
            "modal": asdict(wire),
            "ratios": dict(zip(["latency_p50", "latency_p99", "map_jobs_per_s"], xs, strict=True)),
        }
    table.notes.append(
        f"Round trip: {ws.latency_jobs} sequential jobs (or as many as fit in {ws.latency_budget:g} s) "
        f"after {ws.warmup} untimed ones: spawn, then FunctionCall.from_id(id).get(). chute: chute's "
        "client on the store; modal: the modal client through `chute modal-server` (gRPC over "
        "loopback) on the same store, worker and job."
    )
    table.notes.append(
        "x = modal / chute: the wire's price (round trip: above 1 = slower through the wire; map: "
        "below 1 = fewer jobs/s). The modal client, the server, the worker and its executors share "
        "the machine's CPUs."
    )
    table.notes.extend(f"n/a ({store}): {why}" for store, why in sorted(failures.items()))
    return Report([table], {"modal_wire": data})
