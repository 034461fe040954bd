"""Jobs: chute's job processing next to the task queues a user would otherwise pick.

Systems: chute on SQLite and on Redis, RQ, huey (``SqliteHuey`` and ``RedisHuey``), arq, saq
and Celery (Redis broker + Redis result backend), each with the same worker concurrency:
``CONCURRENCY`` (2) no-op jobs running at once, in worker processes started with the
system's own CLI (or, for RQ, its documented custom-worker-script form). Each system runs
alone: its workers start, a spawned submitter process measures, the workers stop.

1. Round-trip latency: ``enqueue → result available to the submitter`` of one no-op job,
   one job at a time, with the workers already running and idle (after untimed warm-up
   jobs, which also cover the workers' start-up).
2. Throughput: enqueue N no-op jobs as fast as the API allows (a batch API where the
   system has one), then wait for every result; jobs/s end to end, and the enqueue part.

Every Redis system gets a database of its own on the run's valkey-server (flushed first);
SQLite systems get a fresh file. Where a system only polls (huey on SQLite, arq, saq's
result wait), its poll interval is set to ``POLL_S`` instead of its default (0.1-10 s,
0.5 s): see the table notes. Results are checked (job i returns i), timings are not.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
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
    unavailable_notes,
)
from bench._jobs_app import CONCURRENCY

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = ROOT / "bench" / "_jobs_app.py"
URL_ENV = "BENCH_JOBS_URL"  # where the other systems' workers and submitters find their store
QUEUE = "bench"  # queue / huey / saq name
POLL_S = 0.01  # poll interval for the systems that poll (their defaults are 0.1-10 s)
JOB_TIMEOUT = 60.0  # one job's result (the first covers the workers' start-up)
_CTX = mp.get_context("spawn")


@dataclass(frozen=True)
class JobsScale:
    latency_jobs: int  # timed sequential round trips
    latency_budget: float  # ...or as many as fit in this many seconds (a system stalling per job)
    warmup: int  # untimed round trips first
    batch_jobs: int  # jobs per timed batch
    warmup_batch: int  # untimed batch first: brings every worker process up
    system_timeout: float  # seconds one system may take, start to stop

    @classmethod
    def of(cls, scale: Scale) -> JobsScale:
        if scale.quick:
            return cls(
                latency_jobs=100,
                latency_budget=15,
                warmup=10,
                batch_jobs=500,
                warmup_batch=50,
                system_timeout=90,
            )
        return cls(
            latency_jobs=200,
            latency_budget=30,
            warmup=20,
            batch_jobs=2000,
            warmup_batch=100,
            system_timeout=150,
        )


# -- the job function, as each alternative wants it defined --------------------------------------


def rq_noop(x: int) -> int:
    return x


def plain_noop(x: int) -> int:  # huey and Celery wrap it with their decorators
    return x


async def arq_noop(ctx: dict[str, Any], x: int) -> int:
    return x


async def saq_noop(ctx: dict[str, Any], *, x: int) -> int:
    return x


def _store_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"{URL_ENV} is not set")
    return url


def _build_huey() -> None:
    from huey import RedisHuey, SqliteHuey  # type: ignore[import-untyped]

    url = _store_url()
    if url.startswith("redis"):
        # notify_result: result waits block on BLPOP (huey's own option) instead of polling.
        huey = RedisHuey(QUEUE, url=url, notify_result=True)
    else:
        huey = SqliteHuey(QUEUE, filename=url.removeprefix("sqlite://"))
    globals().update(huey_app=huey, huey_noop=huey.task(name="noop")(plain_noop))


def _build_celery() -> None:
    from celery import Celery  # type: ignore[import-untyped]

    url = _store_url()
    app = Celery(QUEUE, broker=url, backend=url)
    app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
    globals().update(celery_app=app, celery_noop=app.task(name="bench.noop")(plain_noop))


def _build_arq() -> None:
    from arq.connections import RedisSettings

    # Read by ``arq bench.jobs.ArqSettings``: one job at a time per process, 2 processes.
    settings = {
        "functions": [arq_noop],
        "redis_settings": RedisSettings.from_dsn(_store_url()),
        "max_jobs": 1,
        "poll_delay": POLL_S,
    }
    globals()["ArqSettings"] = type("ArqSettings", (), settings)


def _build_saq() -> None:
    from saq import Queue

    # Read by ``saq bench.jobs.saq_settings --workers 2``: one job at a time per process.
    queue = Queue.from_url(_store_url(), name=QUEUE)
    globals()["saq_settings"] = {"queue": queue, "functions": [saq_noop], "concurrency": 1}


_BUILDERS: dict[str, Callable[[], None]] = {
    "huey_app": _build_huey,
    "huey_noop": _build_huey,
    "celery_app": _build_celery,
    "celery_noop": _build_celery,
    "ArqSettings": _build_arq,
    "saq_settings": _build_saq,
}


def __getattr__(name: str) -> Any:
    """The systems' app objects, built on first access from ``BENCH_JOBS_URL`` (PEP 562): the
    workers name them (``huey_consumer bench.jobs.huey_app`` …), and a worker imports only
    its own library."""
    builder = _BUILDERS.get(name)
    if builder is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in globals():
        builder()
    return globals()[name]


def rq_worker() -> None:
    """RQ's "custom worker script" form: this module is imported once, before the worker forks
    its work horses, instead of once per job in every horse."""
    from redis import Redis
    from rq import Queue, Worker

    conn = Redis.from_url(_store_url())
    Worker([Queue(QUEUE, connection=conn)], connection=conn).work(logging_level="WARNING")


# -- the systems ---------------------------------------------------------------------------------


@dataclass
class JobSystem:
    name: str
    store: str  # "SQLite" or "Redis"
    workers: str  # what runs the jobs, for the table
    kind: str  # which driver and worker command
    url: str | None  # CHUTE_URL for chute, BENCH_JOBS_URL for the others
    unavailable: str | None = None


def _worker_commands(kind: str) -> list[list[str]]:
    py = sys.executable
    n = str(CONCURRENCY)
    poll = str(POLL_S)
    if kind == "chute":
        return [[py, "-m", "chute", "worker", str(APP_FILE)]]
    if kind == "rq":
        return [[py, "-c", "from bench.jobs import rq_worker; rq_worker()"]] * CONCURRENCY
    if kind == "huey":
        consumer = [py, "-m", "huey.bin.huey_consumer", "bench.jobs.huey_app", "-w", n, "-k", "process"]
        return [[*consumer, "-d", poll, "-m", poll, "-n", "-q"]]
    if kind == "arq":
        return [[py, "-m", "arq", "bench.jobs.ArqSettings"]] * CONCURRENCY
    if kind == "saq":
        return [[py, "-m", "saq", "bench.jobs.saq_settings", "--workers", n, "--quiet"]]
    if kind == "celery":
        celery = [py, "-m", "celery", "-A", "bench.jobs:celery_app", "worker", "-c", n, "-P", "prefork"]
        return [[*celery, "-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]]
    raise ValueError(kind)


_REDIS_DB = {"chute-redis": 1, "rq": 2, "huey-redis": 3, "arq": 4, "saq": 5, "celery": 6}
CHUTE_SQLITE, CHUTE_REDIS, HUEY_SQLITE = "chute-sqlite", "chute-redis", "huey-sqlite"


def _redis_db_url(base: str, name: str) -> str:
    return base.rsplit("/", 1)[0] + f"/{_REDIS_DB[name]}"


def _systems(env: Env) -> list[JobSystem]:
    n = CONCURRENCY
    systems = [
        JobSystem(
            CHUTE_SQLITE, "SQLite", f"1 supervisor, {n} executors", "chute", env.sqlite_url("jobs-chute")
        ),
        JobSystem(HUEY_SQLITE, "SQLite", f"1 consumer, {n} processes", "huey", env.sqlite_url("jobs-huey")),
    ]
    redis_rows = [
        (CHUTE_REDIS, f"1 supervisor, {n} executors", "chute"),
        ("rq", f"{n} workers, fork per job", "rq"),
        ("huey-redis", f"1 consumer, {n} processes", "huey"),
        ("arq", f"{n} workers x max_jobs=1", "arq"),
        ("saq", f"{n} workers x concurrency=1", "saq"),
        ("celery", f"prefork, concurrency={n}", "celery"),
    ]
    for name, workers, kind in redis_rows:
        url = _redis_db_url(env.redis_url, name) if env.redis_url else None
        systems.append(JobSystem(name, "Redis", workers, kind, url))
    for s in systems:
        if s.url is None:
            s.unavailable = "no Redis server in this run"
        elif s.kind != "chute" and importlib.util.find_spec(s.kind) is None:  # kind = import name
            s.unavailable = f"{s.kind} is not installed (pip install -e '.[bench]')"
        elif s.name == CHUTE_REDIS and not env.chute_redis_ok:
            s.unavailable = f"not measured ({env.chute_redis_error})"
    return systems


# -- the submitter (a spawned process) -----------------------------------------------------------


class _Driver:
    """One system's client side: a single round trip, and a batch split into enqueue and wait."""

    fused = False  # True when the batch API enqueues and waits in one call (no enqueue timing)

    def ready(self) -> None:
        """Wait until the workers may be sent jobs (most systems queue them until then)."""

    def one(self, x: int) -> Any:
        raise NotImplementedError

    def submit(self, xs: list[int]) -> Any:
        return xs

    def collect(self, handles: Any) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _ChuteDriver(_Driver):
    def __init__(self, url: str) -> None:
        os.environ["CHUTE_URL"] = url  # the submitter's own environment, as a separate program's
        import chute
        from bench._jobs_app import noop

        self.chute, self.noop = chute, noop

    def one(self, x: int) -> Any:
        return self.noop.spawn(x).get(timeout=JOB_TIMEOUT)

    def submit(self, xs: list[int]) -> Any:
        # What noop.map / noop.spawn_map do: submit in batches (one round trip per 1,000).
        # The internal form, because the public ones (as Modal's) return no handles apart.
        from chute._sync import call_ops

        return call_ops.spawn_many(self.noop._ref, [((x,), {}) for x in xs])

    def collect(self, handles: Any) -> list[Any]:
        from chute._sync import call_ops

        return call_ops.gather_refs(handles)  # what FunctionCall.gather does: batched reads


class _RQDriver(_Driver):
    def __init__(self, url: str) -> None:
        from redis import Redis
        from rq import Queue

        self.Queue = Queue
        self.q = Queue(QUEUE, connection=Redis.from_url(url))

    @staticmethod
    def _value(job: Any) -> Any:
        result = job.latest_result(timeout=int(JOB_TIMEOUT))  # XREAD BLOCK on the result stream
        if result is None or result.type != result.Type.SUCCESSFUL:
            raise RuntimeError(f"rq job {job.id}: {(result and result.exc_string) or 'no result'}")
        return result.return_value

    def one(self, x: int) -> Any:
        return self._value(self.q.enqueue(rq_noop, x))

    def submit(self, xs: list[int]) -> Any:
        return self.q.enqueue_many([self.Queue.prepare_data(rq_noop, (x,)) for x in xs])

    def collect(self, handles: Any) -> list[Any]:
        return [self._value(job) for job in handles]


class _HueyDriver(_Driver):
    def __init__(self, url: str) -> None:
        os.environ[URL_ENV] = url
        self.task = __getattr__("huey_noop")
        # On SQLite a result wait polls: every POLL_S (RedisHuey's notify_result blocks instead).
        self.wait = {"blocking": True, "timeout": JOB_TIMEOUT, "backoff": 1.0, "max_delay": POLL_S}

    def one(self, x: int) -> Any:
        return self.task(x).get(**self.wait)

    def submit(self, xs: list[int]) -> Any:
        return self.task.map(xs)

    def collect(self, handles: Any) -> list[Any]:
        return list(handles.get(**self.wait))


class _AsyncDriver(_Driver):
    """Runs an asyncio client on a private loop; each call is one ``run_until_complete``."""

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.close()


class _ArqDriver(_AsyncDriver):
    def __init__(self, url: str) -> None:
        super().__init__()
        from arq import create_pool
        from arq.connections import RedisSettings

        self.pool = self.run(create_pool(RedisSettings.from_dsn(url)))

    async def _one(self, x: int) -> Any:
        job = await self.pool.enqueue_job("arq_noop", x)
        return await job.result(timeout=JOB_TIMEOUT, poll_delay=POLL_S)

    async def _submit(self, xs: list[int]) -> list[Any]:
        return [await self.pool.enqueue_job("arq_noop", x) for x in xs]  # arq has no batch enqueue

    async def _collect(self, jobs: list[Any]) -> list[Any]:
        return [await job.result(timeout=JOB_TIMEOUT, poll_delay=POLL_S) for job in jobs]

    def one(self, x: int) -> Any:
        return self.run(self._one(x))

    def submit(self, xs: list[int]) -> Any:
        return self.run(self._submit(xs))

    def collect(self, handles: Any) -> list[Any]:
        return list(self.run(self._collect(handles)))

    def close(self) -> None:
        self.run(self.pool.aclose())
        super().close()


class _SaqDriver(_AsyncDriver):
    fused = True  # queue.map enqueues (concurrently) and polls for the results in one call

    def __init__(self, url: str) -> None:
        super().__init__()
        from saq import Queue

        self.q: Any = Queue.from_url(url, name=QUEUE)  # a RedisQueue
        self.run(self.q.connect())

    def ready(self) -> None:
        # A saq worker sweeps the active list as it starts (under a 60 s lock): a job it has just
        # dequeued but not yet marked active is then aborted as "swept". So no job goes in
        # before that first sweep has run.
        deadline = time.monotonic() + JOB_TIMEOUT
        while not self.run(self.q.redis.exists(self.q.namespace("sweep"))):
            if time.monotonic() > deadline:
                raise RuntimeError("saq workers did not start (no sweep lock)")
            time.sleep(0.05)

    def one(self, x: int) -> Any:
        return self.run(self.q.apply("saq_noop", timeout=JOB_TIMEOUT, poll_interval=POLL_S, x=x))

    def collect(self, handles: Any) -> list[Any]:
        kwargs = [{"x": x} for x in handles]
        return list(self.run(self.q.map("saq_noop", kwargs, timeout=JOB_TIMEOUT, poll_interval=POLL_S)))

    def close(self) -> None:
        self.run(self.q.disconnect())
        super().close()


class _CeleryDriver(_Driver):
    def __init__(self, url: str) -> None:
        os.environ[URL_ENV] = url
        from celery import group

        self.group = group
        self.task = __getattr__("celery_noop")

    def one(self, x: int) -> Any:
        return self.task.delay(x).get(timeout=JOB_TIMEOUT)

    def submit(self, xs: list[int]) -> Any:
        return self.group(self.task.s(x) for x in xs).apply_async()

    def collect(self, handles: Any) -> list[Any]:
        return list(handles.get(timeout=JOB_TIMEOUT))


_DRIVERS: dict[str, Callable[[str], _Driver]] = {
    "chute": _ChuteDriver,
    "rq": _RQDriver,
    "huey": _HueyDriver,
    "arq": _ArqDriver,
    "saq": _SaqDriver,
    "celery": _CeleryDriver,
}


def _check(got: list[Any], xs: Iterable[int], what: str) -> None:
    want = list(xs)
    if len(got) != len(want):
        raise RuntimeError(f"{what}: {len(got)} results for {len(want)} jobs")
    for g, w in zip(got, want, strict=True):
        if g != w:
            raise RuntimeError(f"{what}: job {w} returned {g!r}")


def _batch(driver: _Driver, xs: list[int]) -> tuple[float, float]:
    """Seconds to enqueue ``xs`` (NaN when the API fuses enqueue and wait), and in total."""
    clock = time.perf_counter
    t0 = clock()
    handles = driver.submit(xs)
    t1 = clock()
    got = driver.collect(handles)
    t2 = clock()
    _check(got, xs, "batch")
    return (float("nan") if driver.fused else t1 - t0), t2 - t0


def _submitter(kind: str, url: str, js: JobsScale, log_path: str, conn: Connection) -> None:
    # Libraries' warnings and log lines go to the system's log, not the benchmark's output.
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 2)
    try:
        driver = _DRIVERS[kind](url)
        try:
            driver.ready()
            for i in range(js.warmup):
                _check([driver.one(i)], [i], "warm-up job")
            _batch(driver, list(range(js.warmup_batch)))
            settle()
            clock = time.perf_counter_ns
            latencies = []
            stop = time.monotonic() + js.latency_budget
            for i in range(js.latency_jobs):
                if time.monotonic() > stop:
                    break
                t0 = clock()
                got = driver.one(i)
                latencies.append(clock() - t0)
                _check([got], [i], "round trip")
            settle()
            enqueue_s, total_s = _batch(driver, list(range(js.batch_jobs)))
        finally:
            driver.close()
        conn.send({"latency_ns": latencies, "enqueue_s": enqueue_s, "total_s": total_s})
    except BaseException as exc:
        traceback.print_exc()
        reason = " ".join("".join(traceback.format_exception_only(exc)).split())  # one line
        conn.send({"error": reason[:300]})


# -- the parent: workers up, submitter, workers down ---------------------------------------------


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


def _measure(s: JobSystem, env: Env, js: JobsScale) -> dict[str, Any]:
    """Start the system's workers, run the submitter, stop the workers. Raises with a reason."""
    assert s.url is not None
    _fresh_store(s)
    log_path = os.path.join(env.tmpdir, f"jobs-{s.name}.log")
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    child_env["CHUTE_URL" if s.kind == "chute" else URL_ENV] = s.url
    workers: list[subprocess.Popen[bytes]] = []
    parent, child = _CTX.Pipe(duplex=False)
    submitter = _CTX.Process(
        target=_submitter, args=(s.kind, s.url, js, log_path, child), name=f"bench-jobs-{s.name}"
    )
    try:
        with open(log_path, "ab") as log:
            for cmd in _worker_commands(s.kind):
                workers.append(
                    subprocess.Popen(
                        cmd, cwd=ROOT, env=child_env, stdout=log, stderr=log, start_new_session=True
                    )
                )
        submitter.start()
        child.close()
        deadline = time.monotonic() + js.system_timeout
        while not parent.poll(0.2):
            dead = [w for w in workers if w.poll() is not None]
            if dead:
                raise RuntimeError(f"worker exited ({dead[0].returncode}): {_last_line(log_path)}")
            if not submitter.is_alive():
                raise RuntimeError(f"submitter exited ({submitter.exitcode}): {_last_line(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {js.system_timeout:g} s: {_last_line(log_path)}")
        out: dict[str, Any] = parent.recv()
        if "error" in out:
            raise RuntimeError(out["error"])
        submitter.join(30)
        return out
    finally:
        if submitter.is_alive():
            submitter.kill()
        if submitter.pid is not None:
            submitter.join(5)
        _stop(workers)
        parent.close()


@dataclass
class JobResult:
    latency_n: int  # round trips timed (fewer than asked when the time budget ran out)
    latency_p50_ns: float
    latency_p90_ns: float
    latency_p99_ns: float
    latency_mean_ns: float
    enqueue_per_s: float | None
    jobs_per_s: float


def _result(raw: dict[str, Any], n: int) -> JobResult:
    lat = sorted(raw["latency_ns"])
    st = summarize(lat)
    enqueue = raw["enqueue_s"]
    return JobResult(
        latency_n=st.n,
        latency_p50_ns=st.p50,
        latency_p90_ns=lat[int(0.9 * (len(lat) - 1))],
        latency_p99_ns=st.p99,
        latency_mean_ns=st.mean,
        enqueue_per_s=None if math.isnan(enqueue) else n / enqueue,  # NaN: fused enqueue and wait
        jobs_per_s=n / raw["total_s"],
    )


def run(env: Env, scale: Scale) -> Report:
    js = JobsScale.of(scale)
    systems = _systems(env)
    results: dict[str, JobResult] = {}
    for s in systems:
        if s.unavailable is not None:
            continue
        try:
            results[s.name] = _result(_measure(s, env, js), js.batch_jobs)
        except Exception as exc:
            s.unavailable = f"{s.name} failed: {exc}"

    n = js.batch_jobs
    raw = ResultTable(
        f"6a. Jobs: no-op job round trip, and {n:,} jobs end to end ({CONCURRENCY} jobs at a time)",
        ["system", "store", "workers", "n", "latency p50", "p90", "p99", "enqueue", "jobs/s end to end"],
    )
    data: dict[str, Any] = {"scale": asdict(js), "concurrency": CONCURRENCY, "poll_s": POLL_S, "systems": {}}
    for s in systems:
        r = results.get(s.name)
        if r is None:
            raw.add_row(s.name, s.store, s.workers, *[NA] * 6)
            data["systems"][s.name] = {"unavailable": s.unavailable}
            continue
        raw.add_row(
            s.name,
            s.store,
            s.workers,
            str(r.latency_n),
            fmt_ns(r.latency_p50_ns),
            fmt_ns(r.latency_p90_ns),
            fmt_ns(r.latency_p99_ns),
            fmt_rate(r.enqueue_per_s) if r.enqueue_per_s is not None else "—",
            fmt_rate(r.jobs_per_s),
        )
        data["systems"][s.name] = {"store": s.store, "workers": s.workers, **asdict(r)}
    raw.notes.append(
        f"Latency: n sequential jobs ({js.latency_jobs}, or as many as fit in {js.latency_budget:g} s) "
        f"after {js.warmup} untimed ones, enqueue → result in the submitter. Throughput: one batch of "
        f"{n:,} jobs after an untimed one of {js.warmup_batch}; enqueue = submitting them all, jobs/s = "
        "from the first submit to the last result."
    )
    raw.notes.append(
        "Batch APIs: chute batched submit + FunctionCall.gather (what Function.map does), RQ enqueue_many + "
        "latest_result(timeout) per job, huey task.map + ResultGroup.get, arq enqueue_job loop + "
        "job.result, saq queue.map (enqueues and waits in one call: no enqueue time), Celery group + "
        "GroupResult.get."
    )
    raw.notes.append(
        f"Waiting: chute wakes workers and getters with datagrams; RQ, huey-redis (notify_result=True) "
        f"and Celery block on Redis (BLPOP/XREAD/pub-sub). These poll, every {POLL_S * 1000:g} ms here "
        "(default in brackets): huey-sqlite consumer (-d/-m: 0.1 s backing off to 10 s) and result "
        "get (max_delay: 1 s), arq worker and job.result (poll_delay: 0.5 s), saq apply/map "
        "(poll_interval: 0.5 s); their latency includes about half an interval per polling side."
    )
    raw.notes.append(
        "saq: the first job waits for the workers' start-up sweep (a job they pick up during it is "
        "aborted as 'swept'). RQ runs as its documented custom worker script (modules imported "
        "once, before it forks a work horse per job); the others run their own CLI. Each system runs "
        "alone, 2 CPUs shared by its workers, the submitter and valkey-server."
    )
    raw.notes.extend(unavailable_notes(s.unavailable for s in systems))

    ratios = ResultTable(
        "6b. Jobs: chute vs each alternative (x = chute / alternative)",
        ["chute", "vs", "latency p50 x", "latency p99 x", "jobs/s x"],
    )
    data["ratios"] = {}
    pairs = [(CHUTE_SQLITE, s.name) for s in systems if s.kind != "chute"]
    pairs += [(CHUTE_REDIS, s.name) for s in systems if s.kind != "chute" and s.store == "Redis"]
    for mine, other in pairs:
        a, b = results.get(mine), results.get(other)
        xs: list[float | None] = [None, None, None]
        if a is not None and b is not None:
            xs = [
                ratio(a.latency_p50_ns, b.latency_p50_ns),
                ratio(a.latency_p99_ns, b.latency_p99_ns),
                ratio(a.jobs_per_s, b.jobs_per_s),
            ]
        ratios.add_row(mine, other, *[fmt_ratio(x) for x in xs])
        data["ratios"][f"{mine} vs {other}"] = dict(
            zip(["latency_p50", "latency_p99", "jobs_per_s"], xs, strict=True)
        )
    ratios.notes.append(
        "Latency x: lower is better for chute (below 1 = chute answers sooner); jobs/s x: higher is "
        "better (above 1 = chute gets through the batch faster). n/a: one side was not measured."
    )
    return Report([raw, ratios], {"jobs": data})
