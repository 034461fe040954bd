"""``/queues`` over HTTP, on every backend."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

import chute
from tests.http.conftest import LiveServer, asgi_client


async def test_queue_lifecycle(api: httpx.AsyncClient) -> None:
    r = await api.post("/queues/jobs")
    assert (r.status_code, r.json()) == (201, {"name": "jobs", "created": True})
    r = await api.post("/queues/jobs")
    assert (r.status_code, r.json()) == (200, {"name": "jobs", "created": False})

    assert (await api.post("/queues/jobs/put", json={"value": {"a": [1, 2]}})).json() == {"ok": True}
    r = await api.post("/queues/jobs/put_many", params={"partition": "p1"}, json={"values": [1, "two", None]})
    assert r.status_code == 200

    assert (await api.get("/queues/jobs/len")).json() == {"len": 1}
    assert (await api.get("/queues/jobs/len", params={"partition": "p1"})).json() == {"len": 3}
    assert (await api.get("/queues/jobs/len", params={"total": True})).json() == {"len": 4}
    parts = (await api.get("/queues/jobs/partitions")).json()
    assert [(p["key"], p["length"]) for p in parts] == [(None, 1), ("p1", 3)]
    assert all(p["expires_at"] > time.time() + 3600 for p in parts)

    listed = (await api.get("/queues")).json()
    assert [(q["name"], q["total"], len(q["partitions"])) for q in listed] == [("jobs", 4, 2)]
    assert listed[0]["id"].startswith("qu-") and listed[0]["env"] == "main"
    assert (await api.get("/queues/jobs")).json()["total"] == 4

    assert (await api.get("/queues/jobs/peek", params={"partition": "p1", "n": 2})).json() == {
        "values": [1, "two"]
    }
    assert (await api.get("/queues/jobs/len", params={"partition": "p1"})).json() == {"len": 3}  # unchanged

    assert (await api.post("/queues/jobs/get")).json() == {"value": {"a": [1, 2]}}
    r = await api.post("/queues/jobs/get")
    assert r.status_code == 204 and r.content == b""
    r = await api.post("/queues/jobs/get_many", params={"n": 5, "partition": "p1"})
    assert r.json() == {"values": [1, "two", None]}
    assert (await api.post("/queues/jobs/get_many")).json() == {"values": []}

    await api.post("/queues/jobs/put_many", params={"partition": "p2"}, json={"values": [1, 2]})
    await api.post("/queues/jobs/put", json={"value": 3})
    assert (await api.post("/queues/jobs/clear", params={"partition": "p2"})).status_code == 200
    assert (await api.get("/queues/jobs/len", params={"total": True})).json() == {"len": 1}
    assert (await api.post("/queues/jobs/clear", params={"all": True})).status_code == 200
    assert (await api.get("/queues/jobs/len", params={"total": True})).json() == {"len": 0}

    assert (await api.delete("/queues/jobs")).json() == {"ok": True}
    r = await api.delete("/queues/jobs")
    assert r.status_code == 404 and r.json()["type"] == "NotFoundError"
    assert (await api.get("/queues")).json() == []


async def test_values_interoperate_with_python_clients(api: httpx.AsyncClient) -> None:
    q = chute.Queue.from_name("interop", create_if_missing=True)
    await q.put_many.aio([(1, 2), {1, 2}, float("nan"), b"\x00"])
    await api.post("/queues/interop/put", json={"value": {"nested": [True, 1.5]}})
    r = await api.post("/queues/interop/get_many", params={"n": 10})
    # JSON-native values round-trip; the rest arrive as their repr.
    assert r.json() == {"values": [[1, 2], "{1, 2}", "nan", "b'\\x00'", {"nested": [True, 1.5]}]}
    await api.post("/queues/interop/put", json={"value": [1, "x"]})
    assert await q.get.aio() == [1, "x"]


async def test_queue_errors(api: httpx.AsyncClient) -> None:
    r = await api.post("/queues/missing/put", json={"value": 1})
    assert r.status_code == 404 and "not found" in r.json()["detail"]
    assert (await api.post("/queues/missing/get")).status_code == 404
    assert (await api.get("/queues/bad%20name/len")).status_code == 422
    await api.post("/queues/q")
    r = await api.get("/queues/q/len", params={"partition": "p", "total": True})
    assert r.status_code == 400 and r.json()["type"] == "InvalidError"
    r = await api.get("/queues/q/len", params={"partition": "é" * 40})  # 80 bytes of UTF-8
    assert r.status_code == 400 and "64 bytes" in r.json()["detail"]
    assert (await api.post("/queues/q/put", json={"nope": 1})).status_code == 422
    assert (await api.post("/queues/q/put", content=b"{not json")).status_code == 422
    assert (await api.post("/queues/q/put_many", json={"values": 3})).status_code == 422
    assert (await api.post("/queues/q/get", params={"timeout": -1})).status_code == 422


async def test_full_partition_is_409(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_MAX_PARTITION_ITEMS", "3")
    async with asgi_client() as api:
        await api.post("/queues/small")
        r = await api.post("/queues/small/put_many", json={"values": [1, 2, 3, 4]})
        assert r.status_code == 409 and "can never fit" in r.json()["detail"]
        assert (await api.post("/queues/small/put_many", json={"values": [1, 2, 3]})).status_code == 200
        start = time.monotonic()
        r = await api.post("/queues/small/put", params={"timeout": 0.3}, json={"value": 4})
        assert r.status_code == 409 and r.json()["type"] == "Full" and "full" in r.json()["detail"]
        assert time.monotonic() - start >= 0.29


async def test_get_waits_for_a_put(api: httpx.AsyncClient) -> None:
    await api.post("/queues/w")

    async def put_later() -> None:
        await asyncio.sleep(0.3)
        await chute.Queue.from_name("w").put.aio("late")

    task = asyncio.create_task(put_later())
    start = time.monotonic()
    r = await api.post("/queues/w/get", params={"timeout": 5})
    assert r.json() == {"value": "late"}
    assert 0.25 < time.monotonic() - start < 4
    await task
    start = time.monotonic()
    r = await api.post("/queues/w/get", params={"timeout": 0.3})
    assert r.status_code == 204 and time.monotonic() - start >= 0.29


async def test_timeouts_are_cut_to_max_wait(chute_env: str) -> None:
    async with asgi_client(max_wait=0.3) as api:
        await api.post("/queues/w")
        start = time.monotonic()
        r = await api.post("/queues/w/get", params={"timeout": 3600})
        assert r.status_code == 204 and time.monotonic() - start < 3


def test_abandoned_long_poll_takes_no_item(live_server: LiveServer) -> None:
    """A get whose client disconnected stops waiting: a later item stays in the queue."""
    with httpx.Client(base_url=live_server.url) as http:
        http.post("/queues/lp")
        try:
            http.post("/queues/lp/get", params={"timeout": 4}, timeout=0.5)
            raise AssertionError("the get should have timed out on the client side")
        except httpx.ReadTimeout:
            pass  # the client hangs up; the server must notice and stop waiting
        time.sleep(0.5)
        http.post("/queues/lp/put", json={"value": "keep me"})
        time.sleep(0.5)
        assert http.get("/queues/lp/len").json() == {"len": 1}
        assert http.post("/queues/lp/get").json() == {"value": "keep me"}


def test_concurrent_long_polls_each_get_one_item(live_server: LiveServer) -> None:
    results: list[object] = []
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        http.post("/queues/many")

        def getter() -> None:
            results.append(http.post("/queues/many/get", params={"timeout": 5}).json()["value"])

        threads = [threading.Thread(target=getter) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        http.post("/queues/many/put_many", json={"values": [1, 2, 3, 4]})
        for t in threads:
            t.join(10)
    assert sorted(results) == [1, 2, 3, 4]  # type: ignore[type-var]
