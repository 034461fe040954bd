"""Jobs: chute's job processing next to the task queues a user would otherwise pick.

Systems: chute on SQLite and on Redis, RQ, huey (``SqliteHuey`` and ``RedisHuey``), arq, saq,
Celery (Redis broker + Redis result backend), dramatiq (Redis broker + Results middleware),
taskiq (taskiq-redis stream broker + result backend) and streaq (Redis streams). Each peer
runs in a virtualenv of its own (``bench/_venvs.py``, built on first use under
``bench/.venvs/``), so chute's own venv keeps the redis-py it ships with; its workers start
with the system's own CLI (or, for RQ, its documented custom-worker-script form) and its
submitter is ``bench/peers/_submit.py`` on that venv's interpreter, answering in JSON on
stdout. Each system runs alone: its workers start, the submitter measures, the workers stop.

1. Round-trip latency: ``enqueue → result available to the submitter`` of one no-op job,
   one job at a time, with ``CONCURRENCY`` (2) workers already running and idle (after
   untimed warm-up jobs, which also cover the workers' start-up).
2. Throughput: enqueue N no-op jobs as fast as the API allows (a batch API where the
   system has one), then wait for every result; jobs/s end to end, and the enqueue part.
3. ``map`` of 10,000 no-op inputs on the same workers: the system's batch API, submit and
   wait, inputs/s (a system whose batch rate says 10,000 would take over ``map_budget``
   seconds maps the thousands that fit: RQ, forking per job, would take minutes).
4. 1,000 calls of ``asyncio.sleep(0.1)``, 100 at once on one worker process: chute's
   ``@concurrent(max_inputs=100)`` executor, and the peers with async jobs (arq, saq,
   dramatiq, taskiq, streaq); seconds from the first submit to the last result (floor 1.0 s).

Every Redis system gets a database of its own on the run's valkey-server (flushed first);
SQLite systems get a fresh file. Where a system only polls (huey on SQLite, arq, saq's and
taskiq's result wait, dramatiq's idle consumer), its poll interval is set to ``POLL_S``
instead of its default: see the table notes. Results are checked (job i returns i), timings
are not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import _venvs
from bench._env import Env
from bench._harness import Report, Scale, summarize
from bench._jobs_app import CONCURRENCY
from bench.peers._submit import POLL_S, ROW_ENV, URL_ENV

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = ROOT / "bench" / "_jobs_app.py"
JOB_TIMEOUT = 60.0  # one job's result (the first covers the workers' start-up)
ASYNC_AT_ONCE = 100  # the async row: calls running at once on the one worker process
ONLY_ENV = "BENCH_JOBS_ONLY"  # comma-separated system names: measure only these (while developing)


@dataclass(frozen=True)
class JobsScale:
    latency_jobs: int  # timed sequential round trips
    latency_budget: float  # ...or as many as fit in this many seconds (a system stalling per job)
    latency_rounds: int  # the reported latencies: this many rounds, every system's workers up
    warmup: int  # untimed round trips first
    batch_jobs: int  # jobs per timed batch
    warmup_batch: int  # untimed batch first: brings every worker process up
    map_jobs: int  # inputs of the timed map
    map_budget: float  # ...or as many thousands as the batch rate says fit in this many seconds
    async_calls: int  # sleep(0.1) calls of the async row
    async_warmup: int  # untimed sleep calls first
    system_timeout: float  # seconds one system may take for one row, start to stop

    @classmethod
    def of(cls, scale: Scale) -> JobsScale:
        if scale.quick:
            return cls(
                latency_jobs=100,
                latency_budget=15,
                latency_rounds=5,
                warmup=10,
                batch_jobs=500,
                warmup_batch=50,
                map_jobs=2000,
                map_budget=30,
                async_calls=1000,
                async_warmup=100,
                system_timeout=300,
            )
        return cls(
            latency_jobs=200,
            latency_budget=30,
            latency_rounds=10,
            warmup=20,
            batch_jobs=2000,
            warmup_batch=100,
            map_jobs=10_000,
            map_budget=60,
            async_calls=1000,
            async_warmup=100,
            system_timeout=600,
        )


# -- the systems ---------------------------------------------------------------------------------


@dataclass
class JobSystem:
    name: str
    store: str  # "SQLite" or "Redis"
    workers: str  # what runs the no-op jobs, for the table
    kind: str  # "chute" or the peer: its venv and module bench/peers/<kind>_peer.py
    url: str | None  # CHUTE_URL for chute, BENCH_JOBS_URL for the others
    async_workers: str | None = None  # what runs the async row; None: no async jobs
    python: str = sys.executable  # the interpreter of its workers and submitter
    versions: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None


def _worker_commands(s: JobSystem, row: str) -> list[list[str]]:
    py, n, poll = s.python, str(CONCURRENCY), str(POLL_S)
    one = row == "async"  # the async row: one worker process, ASYNC_AT_ONCE jobs at once
    procs = "1" if one else n
    if s.kind == "chute":
        return [[py, "-m", "chute", "worker", str(APP_FILE)]]
    if s.kind == "rq":
        return [[py, "-c", "from bench.peers.rq_peer import work; work()"]] * CONCURRENCY
    if s.kind == "huey":
        consumer = [py, "-m", "huey.bin.huey_consumer", "bench.peers.huey_peer.huey", "-w", n]
        return [[*consumer, "-k", "process", "-d", poll, "-m", poll, "-n", "-q"]]
    if s.kind == "arq":  # max_jobs (1 or 100) is in bench.peers.arq_peer.Settings
        return [[py, "-m", "arq", "bench.peers.arq_peer.Settings"]] * int(procs)
    if s.kind == "saq":  # concurrency (1 or 100) is in bench.peers.saq_peer.settings
        return [[py, "-m", "saq", "bench.peers.saq_peer.settings", "--workers", procs, "--quiet"]]
    if s.kind == "celery":
        celery = [py, "-m", "celery", "-A", "bench.peers.celery_peer:app", "worker", "-c", n]
        return [[*celery, "-P", "prefork", "-l", "WARNING", "--without-gossip", "--without-mingle"]]
    if s.kind == "dramatiq":
        threads = str(ASYNC_AT_ONCE) if one else "1"
        return [[py, "-m", "dramatiq", "bench.peers.dramatiq_peer", "-p", procs, "-t", threads]]
    if s.kind == "taskiq":
        at_once = str(ASYNC_AT_ONCE) if one else "1"
        taskiq = [py, "-m", "taskiq", "worker", "bench.peers.taskiq_peer:broker", "--workers", procs]
        return [[*taskiq, "--max-async-tasks", at_once, "--log-level", "WARNING"]]
    if s.kind == "streaq":  # concurrency (1 or 100) is in bench.peers.streaq_peer.worker
        return [[py, "-m", "streaq", "run", "bench.peers.streaq_peer:worker", "--workers", procs]]
    raise ValueError(s.kind)


_REDIS_DB = {
    "chute-redis": 1,
    "rq": 2,
    "huey-redis": 3,
    "arq": 4,
    "saq": 5,
    "celery": 6,
    "dramatiq": 7,
    "taskiq": 8,
    "streaq": 9,
}  # bench/jobs_chute.py uses 15
CHUTE_SQLITE, CHUTE_REDIS, HUEY_SQLITE = "chute-sqlite", "chute-redis", "huey-sqlite"


def _redis_db_url(base: str, name: str) -> str:
    return base.rsplit("/", 1)[0] + f"/{_REDIS_DB[name]}"


def _systems(env: Env) -> list[JobSystem]:
    n, k = CONCURRENCY, ASYNC_AT_ONCE
    chute_async = f"1 executor, @concurrent({k})"
    systems = [
        JobSystem(
            CHUTE_SQLITE,
            "SQLite",
            f"1 supervisor, {n} executors",
            "chute",
            env.sqlite_url("jobs-chute"),
            chute_async,
        ),
        JobSystem(HUEY_SQLITE, "SQLite", f"1 consumer, {n} processes", "huey", env.sqlite_url("jobs-huey")),
    ]
    redis_rows = [
        (CHUTE_REDIS, f"1 supervisor, {n} executors", "chute", chute_async),
        ("rq", f"{n} workers, fork per job", "rq", None),
        ("huey-redis", f"1 consumer, {n} processes", "huey", None),
        ("arq", f"{n} workers x max_jobs=1", "arq", f"1 worker, max_jobs={k}"),
        ("saq", f"{n} workers x concurrency=1", "saq", f"1 worker, concurrency={k}"),
        ("celery", f"prefork, concurrency={n}", "celery", None),
        ("dramatiq", f"{n} processes x 1 thread", "dramatiq", f"1 process x {k} threads, AsyncIO"),
        ("taskiq", f"{n} workers x max-async-tasks=1", "taskiq", f"1 worker, max-async-tasks={k}"),
        ("streaq", f"{n} workers x concurrency=1", "streaq", f"1 worker, concurrency={k}"),
    ]
    for name, workers, kind, async_workers in redis_rows:
        url = _redis_db_url(env.redis_url, name) if env.redis_url else None
        systems.append(JobSystem(name, "Redis", workers, kind, url, async_workers))
    only = [n for n in os.environ.get(ONLY_ENV, "").split(",") if n]
    for s in systems:
        if only and s.name not in only:
            s.unavailable = f"not selected ({ONLY_ENV}={','.join(only)})"
        elif s.url is None:
            s.unavailable = "no Redis server in this run"
        elif s.name == CHUTE_REDIS and not env.chute_redis_ok:
            s.unavailable = f"not measured ({env.chute_redis_error})"
    venvs = _venvs.ensure_all(s.kind for s in systems if s.kind != "chute" and s.unavailable is None)
    for s in systems:
        v = venvs.get(s.kind)
        if v is not None:
            s.versions = v.versions
            if v.python is None:
                s.unavailable = f"{s.kind}: {v.error}"
            else:
                s.python = v.python
    return systems


# -- one row of one system: workers up, submitter, workers down ---------------------------------


def _last_line(path: str) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1][:300]
    return "no output"


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each worker (its own graceful stop, children included); SIGKILL the process group
    of any that is still running 15 s later (its own group: start_new_session)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _fresh_store(s: JobSystem) -> None:
    assert s.url is not None
    if s.store == "Redis":
        import redis

        r = redis.Redis.from_url(s.url)
        try:
            r.flushdb()
        finally:
            r.close()
    else:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(s.url.removeprefix("sqlite://") + suffix)


def _popen(cmd: list[str], env: dict[str, str], log: Any, stdout: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=log, start_new_session=True)


def _child_env(s: JobSystem, row: str) -> dict[str, str]:
    """The environment of a system's workers and submitter for ``row``."""
    assert s.url is not None
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", ROW_ENV: row}
    child_env["CHUTE_URL" if s.kind == "chute" else URL_ENV] = s.url
    # dramatiq's idle consumer backs off up to worker_timeout (default 1,000 ms) between fetches.
    child_env["dramatiq_worker_timeout"] = str(int(POLL_S * 1000))
    return child_env


def _submit_command(s: JobSystem, js: JobsScale, row: str) -> list[str]:
    """``bench.peers._submit`` for ``row`` (its JSON argument), in the system's own venv."""
    args = {"peer": s.kind, "row": row, "url": s.url, "poll_s": POLL_S, "timeout": JOB_TIMEOUT}
    args.update(asdict(js))
    return [s.python, "-m", "bench.peers._submit", json.dumps(args)]


def _measure(s: JobSystem, env: Env, js: JobsScale, row: str) -> dict[str, Any]:
    """Start the system's workers, run the submitter, stop the workers. Raises with a reason."""
    assert s.url is not None
    _fresh_store(s)
    log_path = os.path.join(env.tmpdir, f"jobs-{s.name}-{row}.log")
    out_path = log_path.removesuffix(".log") + ".json"
    child_env = _child_env(s, row)
    workers: list[subprocess.Popen[bytes]] = []
    submitter: subprocess.Popen[bytes] | None = None
    try:
        with open(log_path, "ab") as log, open(out_path, "wb") as out:
            for cmd in _worker_commands(s, row):
                workers.append(_popen(cmd, child_env, log, log))
            submitter = _popen(_submit_command(s, js, row), child_env, log, out)
        deadline = time.monotonic() + js.system_timeout
        while submitter.poll() is None:
            time.sleep(0.2)
            dead = [w for w in workers if w.poll() is not None]
            if dead:
                raise RuntimeError(f"worker exited ({dead[0].returncode}): {_last_line(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {js.system_timeout:g} s: {_last_line(log_path)}")
        lines = Path(out_path).read_text().splitlines()
        if not lines:
            raise RuntimeError(f"submitter exited ({submitter.returncode}): {_last_line(log_path)}")
        got: dict[str, Any] = json.loads(lines[-1])
        if "error" in got:
            raise RuntimeError(got["error"])
        return got
    finally:
        if submitter is not None and submitter.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(submitter.pid, signal.SIGKILL)
            submitter.wait()
        _stop(workers)


def _read_line(p: subprocess.Popen[bytes], buf: bytearray, timeout: float) -> bytes:
    """The next line ``p`` writes on its stdout (a pipe), within ``timeout`` s."""
    assert p.stdout is not None
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(p.stdout.fileno(), 65536) if ready else b""
        if not chunk:
            raise RuntimeError("no answer" if not ready else f"exited ({p.poll()})")
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


def _latency_rounds(systems: list[JobSystem], env: Env, js: JobsScale) -> dict[str, list[int]]:
    """Round-trip latencies (ns) measured with every system's workers up at once, in
    ``js.latency_rounds`` rounds of ``latency_jobs / rounds`` sequential jobs per system, the
    systems in a rotated order each round: a drift of the shared machine (measured here: one
    peer's p50 moved 752-1,758 µs between runs minutes apart) lands on all of them alike instead
    of on whichever system it met. Raises with a reason if a system stops answering."""
    per = max(1, js.latency_jobs // js.latency_rounds)
    started: list[tuple[JobSystem, list[subprocess.Popen[bytes]], subprocess.Popen[bytes], bytearray]] = []
    out: dict[str, list[int]] = {s.name: [] for s in systems}
    try:
        for s in systems:
            assert s.url is not None
            _fresh_store(s)
            log = open(os.path.join(env.tmpdir, f"jobs-{s.name}-latency.log"), "ab")
            child_env = _child_env(s, "jobs")  # the workers of the jobs row; the submitter's own row
            workers = [_popen(cmd, child_env, log, log) for cmd in _worker_commands(s, "jobs")]
            try:
                sub = subprocess.Popen(
                    _submit_command(s, js, "latency"),
                    cwd=ROOT,
                    env=child_env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                )
            except OSError:
                _stop(workers)
                raise
            log.close()
            started.append((s, workers, sub, bytearray()))
        for s, _, sub, buf in started:
            if json.loads(_read_line(sub, buf, js.system_timeout)) != "ready":
                raise RuntimeError(f"{s.name}: no warm-up")
        for r in range(js.latency_rounds):
            k = r % len(started)
            for s, _, sub, buf in started[k:] + started[:k]:
                assert sub.stdin is not None
                sub.stdin.write(f"{per}\n".encode())
                sub.stdin.flush()
                try:
                    out[s.name] += json.loads(_read_line(sub, buf, js.latency_budget + JOB_TIMEOUT))
                except RuntimeError as exc:
                    raise RuntimeError(f"{s.name}: {exc}") from exc
        return out
    finally:
        for _, workers, sub, _ in started:
            with contextlib.suppress(OSError):
                assert sub.stdin is not None
                sub.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                sub.wait(10)
            if sub.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(sub.pid, signal.SIGKILL)
                sub.wait()
            _stop(workers)


@dataclass
class JobResult:
    latency_n: int  # round trips timed (fewer than asked when the time budget ran out)
    latency_p50_ns: float
    latency_p90_ns: float
    latency_p99_ns: float
    latency_mean_ns: float
    enqueue_per_s: float | None
    jobs_per_s: float
    map_per_s: float
    map_n: int  # inputs of the map: map_jobs, or fewer for a system too slow for the budget


def _latency(latencies: list[int]) -> dict[str, Any]:
    lat = sorted(latencies)
    st = summarize(lat)
    return {
        "latency_n": st.n,
        "latency_p50_ns": st.p50,
        "latency_p90_ns": lat[int(0.9 * (len(lat) - 1))],
        "latency_p99_ns": st.p99,
        "latency_mean_ns": st.mean,
    }


def _result(raw: dict[str, Any], js: JobsScale) -> JobResult:
    enqueue = raw["enqueue_s"]
    return JobResult(
        **_latency(raw["latency_ns"]),
        enqueue_per_s=None if enqueue is None or math.isnan(enqueue) else js.batch_jobs / enqueue,
        jobs_per_s=js.batch_jobs / raw["total_s"],
        map_per_s=raw["map_n"] / raw["map_s"],
        map_n=raw["map_n"],
    )


def _error(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def run(env: Env, scale: Scale) -> Report:
    from bench import _jobs_tables

    js = JobsScale.of(scale)
    systems = _systems(env)
    results: dict[str, JobResult] = {}
    async_s: dict[str, float] = {}
    async_na: dict[str, str] = {}
    for s in systems:
        if s.unavailable is not None:
            continue
        try:
            results[s.name] = _result(_measure(s, env, js, "jobs"), js)
        except Exception as exc:
            s.unavailable = f"{s.name} failed: {_error(exc)}"
            continue
        if s.async_workers is not None:
            try:
                async_s[s.name] = float(_measure(s, env, js, "async")["async_s"])
            except Exception as exc:
                async_na[s.name] = f"{s.name} (async row) failed: {_error(exc)}"
    measured = [s for s in systems if s.name in results]
    latency_note = f"{js.latency_rounds} interleaved rounds"
    try:
        rounds = _latency_rounds(measured, env, js)
    except Exception as exc:  # the sequential measurement stands, and the note says so
        rounds, latency_note = {}, f"sequential (the interleaved rounds failed: {_error(exc)})"
    for name, lat in rounds.items():
        results[name] = dataclasses.replace(results[name], **_latency(lat))
    return _jobs_tables.report(systems, results, async_s, async_na, js, latency_note)


def best_peer(
    systems: list[JobSystem], values: dict[str, float | None], higher_is_better: bool
) -> tuple[str, float] | None:
    """The peer with the best value (chute excluded), or None when no peer has one."""
    peers = [(s.name, values.get(s.name)) for s in systems if s.kind != "chute"]
    got = [(name, v) for name, v in peers if v is not None and not math.isnan(v)]
    if not got:
        return None
    pick = max if higher_is_better else min
    return pick(got, key=lambda nv: nv[1])
