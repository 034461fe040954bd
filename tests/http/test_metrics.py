"""``/metrics`` (Prometheus text format) and the sampled chart series."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

import chute
from tests.http.conftest import Workers


def parse(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` for every sample line; also checks the basic syntax."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) chute_\w+ ", line), line
            continue
        m = re.match(r'^(chute_\w+(?:\{(?:\w+="(?:[^"\\]|\\.)*",?)*\})?) (\S+)$', line)
        assert m, line
        samples[m.group(1)] = float(m.group(2))
    return samples


async def test_metrics_and_history(api: httpx.AsyncClient, workers: Workers, deployed: None) -> None:
    from tests.http import http_app

    q = chute.Queue.from_name("jobs", create_if_missing=True)
    await q.put_many.aio([1, 2, 3])
    await q.put.aio(4, partition="p")
    workers.start()
    ok = await http_app.add.spawn.aio(1, 2)
    bad = await http_app.boom.spawn.aio("x")
    assert await ok.get.aio(timeout=60) == 3
    try:
        await bad.get.aio(timeout=60)
    except ValueError:
        pass

    r = await api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = parse(r.text)
    assert m["chute_up"] == 1
    assert m['chute_queue_depth{env="main",queue="jobs"}'] == 4
    assert m['chute_queue_partitions{env="main",queue="jobs"}'] == 2
    assert m['chute_calls{env="main",app="http-test",function="add",state="succeeded"}'] == 1
    assert m['chute_calls{env="main",app="http-test",function="boom",state="failed"}'] == 1
    assert m['chute_calls{env="main",app="http-test",function="nap",state="pending"}'] == 0
    assert m['chute_calls_finished_total{env="main",app="http-test",function="add",state="succeeded"}'] == 1
    assert m['chute_call_duration_seconds_count{env="main",app="http-test",function="add"}'] == 1
    assert m['chute_call_duration_seconds_bucket{env="main",app="http-test",function="add",le="+Inf"}'] == 1
    assert m['chute_call_duration_seconds_bucket{env="main",app="http-test",function="add",le="3600"}'] == 1
    assert 0 <= m['chute_call_duration_seconds_sum{env="main",app="http-test",function="add"}'] < 60
    assert m['chute_workers{env="main"}'] == 1
    # A second scrape does not count the same calls again.
    m2 = parse((await api.get("/metrics")).text)
    assert m2['chute_call_duration_seconds_count{env="main",app="http-test",function="add"}'] == 1

    deadline = time.monotonic() + 10
    while True:
        series = (await api.get("/dashboard/history")).json()["series"]
        if len(series["t"]) >= 2 and series["queues"].get("jobs", [0])[-1] == 4:
            break
        assert time.monotonic() < deadline, series
        await asyncio.sleep(0.1)
    assert series["total"][-1] == 4
    assert sum(series["throughput"]["succeeded"]) == 1 and sum(series["throughput"]["failed"]) == 1
    assert len(series["throughput"]["succeeded"]) == 121


async def test_metrics_escape_labels(api: httpx.AsyncClient) -> None:
    await chute.Queue.objects.create.aio("we.ird-name_1")
    m = parse((await api.get("/metrics")).text)
    assert m['chute_queue_depth{env="main",queue="we.ird-name_1"}'] == 0
    from chute.http.metrics import _labels

    assert _labels(a='x"y\\z\n') == '{a="x\\"y\\\\z\\n"}'
