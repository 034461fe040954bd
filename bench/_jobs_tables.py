"""The ``jobs`` group's tables: 6a (round trip, batch, map), 6b (the async row) and 6c (chute
against the best peer of each row), with the notes that say how each system was set up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bench._harness import NA, Report, ResultTable, fmt_ns, fmt_rate, fmt_ratio, ratio, unavailable_notes
from bench._jobs_app import CONCURRENCY
from bench.jobs import (
    ASYNC_AT_ONCE,
    CHUTE_REDIS,
    CHUTE_SQLITE,
    JobResult,
    JobsScale,
    JobSystem,
    best_peer,
)
from bench.peers._submit import POLL_S, SLEEP_S


def _fmt_s(seconds: float | None) -> str:
    return NA if seconds is None else f"{seconds:.2f} s"


_COLUMNS_A = ["system", "store", "workers", "n", "latency p50", "p90", "p99", "enqueue", "jobs/s end to end"]


def _table_a(
    systems: list[JobSystem], results: dict[str, JobResult], js: JobsScale, latency_how: str
) -> ResultTable:
    n, m = js.batch_jobs, js.map_jobs
    title = f"6a. Jobs: no-op round trip, {n:,} jobs end to end and a map of {m:,}"
    table = ResultTable(
        f"{title} ({CONCURRENCY} jobs at a time)",
        [*_COLUMNS_A, f"map {m:,}"],
    )
    for s in systems:
        r = results.get(s.name)
        if r is None:
            table.add_row(s.name, s.store, s.workers, *[NA] * 7)
            continue
        table.add_row(
            s.name,
            s.store,
            s.workers,
            str(r.latency_n),
            fmt_ns(r.latency_p50_ns),
            fmt_ns(r.latency_p90_ns),
            fmt_ns(r.latency_p99_ns),
            fmt_rate(r.enqueue_per_s) if r.enqueue_per_s is not None else "—",
            fmt_rate(r.jobs_per_s),
            fmt_rate(r.map_per_s) + ("" if r.map_n == m else f" (n={r.map_n:,})"),
        )
    table.notes += [
        f"Latency: n sequential jobs (about {js.latency_jobs}) after {js.warmup} untimed ones, enqueue → "
        f"result in the submitter, measured in {latency_how}: every system's workers and submitter up at "
        f"once, each round {js.latency_jobs // js.latency_rounds} jobs per system, the systems in a "
        "rotated order (so that a drift of the shared machine meets every system alike; the polling "
        "peers' idle workers run meanwhile). Throughput: one batch of "
        f"{n:,} jobs after an untimed one of {js.warmup_batch}; enqueue = submitting them all, jobs/s = "
        f"from the first submit to the last result. map: then {m:,} inputs through the same API "
        f"(chute: Function.map), on the same workers, inputs/s; n=: fewer inputs, for a system whose "
        f"batch rate says {m:,} would take over {js.map_budget:g} s.",
        "Batch APIs: chute batched submit + FunctionCall.gather (what Function.map does), RQ enqueue_many "
        "+ latest_result(timeout) per job, huey task.map + ResultGroup.get, arq enqueue_job loop + "
        "job.result, saq queue.map (enqueues and waits in one call: no enqueue time), Celery group + "
        "GroupResult.get, dramatiq group.run + get_results(block=True), taskiq kiq + wait_result "
        "gathered 32 at a time, streaq worker.enqueue_many (one pipeline) + task.result gathered 32 "
        "at a time (32: what streaq's own benchmark does for arq, saq, taskiq and streaq).",
        "Waiting: chute wakes workers and getters with datagrams; RQ, huey-redis (notify_result=True), "
        "Celery, dramatiq's result get (BRPOPLPUSH), taskiq's and streaq's workers (XREADGROUP "
        "BLOCK) and streaq's result get (pub/sub) block on Redis. These poll, every "
        f"{POLL_S * 1000:g} ms here (default in brackets): huey-sqlite consumer (-d/-m: 0.1 s "
        "backing off to 10 s) and result get (max_delay: 1 s), arq worker and job.result (poll_delay: "
        "0.5 s), saq apply/map (poll_interval: 0.5 s), taskiq wait_result (check_interval: 0.2 s), "
        "dramatiq's idle consumer (dramatiq_worker_timeout: backs off to 1 s); their latency "
        "includes about half an interval per polling side.",
        "saq: the first job waits for the workers' start-up sweep (a job they pick up during it is "
        "aborted as 'swept'), and its periodic sweep is set to once an hour instead of every 60 s (it "
        "aborts jobs caught between dequeue and being marked active on a loaded machine). RQ runs as its "
        "documented custom worker script (modules imported "
        "once, before it forks a work horse per job); the others run their own CLI. dramatiq: "
        "Redis broker + Results middleware (Redis backend); taskiq: taskiq-redis RedisStreamBroker "
        "+ RedisAsyncResultBackend; streaq: its Worker on Redis streams (coredis). Each system runs "
        "alone, 2 CPUs shared by its workers, the submitter and valkey-server.",
        "Each peer runs in a venv of its own (bench/.venvs/, built on first use), so chute keeps its "
        "own redis-py: " + _versions(systems) + ".",
    ]
    table.notes.extend(unavailable_notes(s.unavailable for s in systems))
    return table


def _versions(systems: list[JobSystem]) -> str:
    seen: dict[str, str] = {}
    for s in systems:
        if s.kind != "chute" and s.versions and s.kind not in seen:
            seen[s.kind] = " ".join(f"{k} {v}" for k, v in s.versions.items())
    try:
        import redis

        chute = f"chute: redis {redis.__version__}"
    except ImportError:
        chute = "chute"
    return "; ".join([chute, *seen.values()])


def _table_b(
    systems: list[JobSystem], async_s: dict[str, float], async_na: dict[str, str], js: JobsScale
) -> ResultTable:
    a, k = js.async_calls, ASYNC_AT_ONCE
    table = ResultTable(
        f"6b. Jobs: {a:,} calls of asyncio.sleep({SLEEP_S:g}), {k} at once on one worker process",
        ["system", "store", "worker", "seconds", "calls/s", "x floor"],
    )
    floor = a / k * SLEEP_S
    for s in systems:
        if s.async_workers is None:
            continue
        sec = async_s.get(s.name)
        if sec is None:
            table.add_row(s.name, s.store, s.async_workers, *[NA] * 3)
            continue
        table.add_row(s.name, s.store, s.async_workers, _fmt_s(sec), fmt_rate(a / sec), f"{sec / floor:.2f}x")
    table.notes += [
        f"From the first submit to the last result, after an untimed wave of {js.async_warmup}; the floor "
        f"is {floor:g} s ({a // k} waves of {k}). Submitted with each system's batch API as in 6a "
        "(chute: Function.map of an @concurrent(max_inputs=100) async function, max_containers=1). "
        "RQ, huey and Celery run sync functions only: no row.",
    ]
    no_row = [s.unavailable for s in systems if s.async_workers is not None and s.unavailable]
    table.notes.extend(unavailable_notes([*no_row, *async_na.values()]))
    return table


_Row = tuple[str, dict[str, float | None], bool, Callable[[float | None], str], str]


def _measures(
    systems: list[JobSystem], results: dict[str, JobResult], async_s: dict[str, float], js: JobsScale
) -> list[_Row]:
    def of(get: Callable[[JobResult], float | None]) -> dict[str, float | None]:
        return {name: get(r) for name, r in results.items()}

    return [
        ("latency p50", of(lambda r: r.latency_p50_ns), False, fmt_ns, "x ≤ 1"),
        ("latency p99", of(lambda r: r.latency_p99_ns), False, fmt_ns, ""),
        (f"jobs/s end to end ({js.batch_jobs:,})", of(lambda r: r.jobs_per_s), True, fmt_rate, "x ≥ 2"),
        ("enqueue rate", of(lambda r: r.enqueue_per_s), True, fmt_rate, "x ≥ 2"),
        (f"map {js.map_jobs:,} (inputs/s)", of(lambda r: r.map_per_s), True, fmt_rate, "≥ 10,000/s"),
        (
            f"{js.async_calls:,} x sleep({SLEEP_S:g}), {ASYNC_AT_ONCE} at once",
            dict(async_s.items()),
            False,
            _fmt_s,
            "≤ 1.5 s",
        ),
    ]


def _table_c(
    systems: list[JobSystem], results: dict[str, JobResult], async_s: dict[str, float], js: JobsScale
) -> tuple[ResultTable, dict[str, Any]]:
    table = ResultTable(
        "6c. Jobs: chute vs the best peer of each row (x = chute / best peer)",
        ["row", "best peer", CHUTE_SQLITE, "x", CHUTE_REDIS, "x", "target"],
    )
    data: dict[str, Any] = {}
    for title, values, higher, fmt, target in _measures(systems, results, async_s, js):
        best = best_peer(systems, values, higher)
        cells = [title, NA if best is None else f"{best[0]} {fmt(best[1])}"]
        data[title] = {"best_peer": best}
        for chute in (CHUTE_SQLITE, CHUTE_REDIS):
            mine = values.get(chute)
            x = None if best is None else ratio(mine, best[1])
            cells += [fmt(mine), fmt_ratio(x)]
            data[title][chute] = {"value": mine, "x": x}
        table.add_row(*cells, target)
    table.notes.append(
        "x = chute / the best peer in this run (any store). Latency and sleep-row seconds: lower is "
        "better (x below 1 = chute ahead); rates: higher is better (x above 1 = chute ahead). Targets "
        "from issue 11: p50 at most the best peer's, jobs/s and enqueue at least twice the best "
        "peer's, map ≥ 10,000 inputs/s and the sleep row ≤ 1.5 s on either backend."
    )
    return table, data


def report(
    systems: list[JobSystem],
    results: dict[str, JobResult],
    async_s: dict[str, float],
    async_na: dict[str, str],
    js: JobsScale,
    latency_how: str,
) -> Report:
    ratios, ratio_data = _table_c(systems, results, async_s, js)
    data: dict[str, Any] = {
        "scale": asdict(js),
        "concurrency": CONCURRENCY,
        "poll_s": POLL_S,
        "latency": latency_how,
        "systems": {},
        "vs_best_peer": ratio_data,
    }
    for s in systems:
        r = results.get(s.name)
        entry: dict[str, Any] = {"store": s.store, "workers": s.workers, "versions": s.versions}
        if r is None:
            entry["unavailable"] = s.unavailable
        else:
            entry.update(asdict(r))
        if s.async_workers is not None:
            entry["async_workers"] = s.async_workers
            entry["async_s"] = async_s.get(s.name)
            if s.name in async_na:
                entry["async_unavailable"] = async_na[s.name]
        data["systems"][s.name] = entry
    tables = [_table_a(systems, results, js, latency_how), _table_b(systems, async_s, async_na, js), ratios]
    return Report(tables, {"jobs": data})
