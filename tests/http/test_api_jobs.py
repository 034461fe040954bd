"""Jobs over HTTP (spawn, status, result, cancel, listings) with real worker processes."""

from __future__ import annotations

import asyncio
import pickle
import time

import httpx

from chute.http import load_tokens
from chute.http.payload import PICKLE
from tests.http.conftest import Workers, asgi_client


async def result(api: httpx.AsyncClient, call_id: str, timeout: float = 30) -> httpx.Response:
    """Poll the result endpoint until it is no longer 202 (each poll waits up to max_wait)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await api.get(f"/calls/{call_id}/result", params={"timeout": 5})
        if r.status_code != 202 or time.monotonic() > deadline:
            return r


async def test_spawn_result_failure_and_listings(api: httpx.AsyncClient, workers: Workers) -> None:
    workers.start()
    # The worker deploys the app when it starts; spawning before that is a 404.
    deadline = time.monotonic() + 60
    while not [f for f in (await api.get("/functions")).json() if f["app"] == "http-test"]:
        assert time.monotonic() < deadline, "the worker never deployed the app"
        await asyncio.sleep(0.1)

    r = await api.post("/functions/http-test/add/spawn", json={"args": [2], "kwargs": {"b": 3}})
    assert r.status_code == 201
    ok_id = r.json()["call_id"]
    assert ok_id.startswith("fc-")
    r = await result(api, ok_id)
    assert (r.status_code, r.json()) == (200, {"result": 5})
    info = (await api.get(f"/calls/{ok_id}")).json()
    assert info["state"] == "succeeded" and info["attempts"] == 1 and info["failures"] == 0
    assert info["created_at"] <= info["started_at"] <= info["finished_at"]
    assert info["worker"] and info["error"] is None and info["traceback"] is None

    failed_id = (await api.post("/functions/http-test/boom/spawn", json={"args": ["bad input"]})).json()[
        "call_id"
    ]
    r = await result(api, failed_id)
    assert r.status_code == 500
    body = r.json()
    assert body["type"] == "ValueError" and body["detail"] == "boom: bad input" and body["state"] == "failed"
    assert "raise ValueError" in body["traceback"]
    info = (await api.get(f"/calls/{failed_id}")).json()
    assert info["error"] == "ValueError: boom: bad input" and "raise ValueError" in info["traceback"]

    opaque_id = (await api.post("/functions/http-test/opaque/spawn", json={})).json()["call_id"]
    assert (await result(api, opaque_id)).json() == {"result": "{1, 2}"}

    functions = {f["name"]: f for f in (await api.get("/functions")).json()}
    assert {"add", "boom", "nap", "opaque"} <= set(functions)
    assert functions["add"]["stats"]["succeeded"] == 1 and functions["boom"]["stats"]["failed"] == 1
    assert functions["add"]["spec"]["timeout"] == 300
    calls = (await api.get("/calls", params={"app": "http-test"})).json()
    assert [c["id"] for c in calls] == [opaque_id, failed_id, ok_id]
    failed = (await api.get("/calls", params={"state": "failed"})).json()
    assert [c["id"] for c in failed] == [failed_id]
    assert failed[0]["error"] == "ValueError: boom: bad input"
    assert (await api.get("/calls", params={"function": "add", "limit": 1})).json()[0]["id"] == ok_id

    # Running, then cancelled: 202 while it runs, then a 500 naming the cancellation.
    nap_id = (await api.post("/functions/http-test/nap/spawn", json={"args": [30]})).json()["call_id"]
    r = await api.get(f"/calls/{nap_id}/result")
    assert r.status_code == 202 and r.json() == {"call_id": nap_id, "state": r.json()["state"]}
    assert (await api.post(f"/calls/{nap_id}/cancel")).json() == {"cancelled": True}
    assert (await api.post(f"/calls/{nap_id}/cancel")).json() == {"cancelled": False}
    r = await api.get(f"/calls/{nap_id}/result")
    assert r.status_code == 500 and r.json()["type"] == "RemoteError" and r.json()["state"] == "cancelled"

    # Expired results are 404, like unknown calls.
    short_id = (await api.post("/functions/http-test/short_lived/spawn", json={"args": [1]})).json()[
        "call_id"
    ]
    assert (await result(api, short_id)).status_code == 200
    await asyncio.sleep(1.5)
    r = await api.get(f"/calls/{short_id}/result")
    assert r.status_code == 404 and r.json()["type"] == "OutputExpiredError"


async def test_pending_call_and_errors(api: httpx.AsyncClient, deployed: None) -> None:
    call_id = (await api.post("/functions/http-test/add/spawn", json={"args": [1, 1]})).json()["call_id"]
    start = time.monotonic()
    r = await api.get(f"/calls/{call_id}/result", params={"timeout": 0.3})
    assert (r.status_code, r.json()) == (202, {"call_id": call_id, "state": "pending"})
    assert time.monotonic() - start >= 0.29
    info = (await api.get(f"/calls/{call_id}")).json()
    assert info["attempts"] == 0 and info["args_summary"] == "add(1, 1)"
    # The summary is made by the server (the caller of spawn) from the JSON arguments, bounded.
    body = {"args": ["x" * 500], "kwargs": {"b": list(range(100))}}
    long_id = (await api.post("/functions/http-test/add/spawn", json=body)).json()["call_id"]
    summary = (await api.get(f"/calls/{long_id}")).json()["args_summary"]
    assert (
        summary.startswith("add('xxx") and "..." in summary and summary.endswith("b=[0, 1, 2, 3, 4, 5, ...])")
    )
    assert len(summary) <= 200
    listed = {c["id"]: c["args_summary"] for c in (await api.get("/calls")).json()}
    assert listed[call_id] == "add(1, 1)" and listed[long_id] == summary

    r = await api.get("/calls/fc-aaaaaaaaaaaaaaaaaaaaaa/result")
    assert r.status_code == 404 and r.json()["type"] == "NotFoundError"
    assert (await api.get("/calls/fc-aaaaaaaaaaaaaaaaaaaaaa")).status_code == 404
    assert (await api.post("/calls/fc-aaaaaaaaaaaaaaaaaaaaaa/cancel")).status_code == 404
    assert (await api.get("/calls/not-an-id")).status_code == 422  # the path pattern is in the schema
    r = await api.post("/functions/http-test/missing/spawn", json={})
    assert r.status_code == 404 and "missing" in r.json()["detail"]
    assert (await api.post("/functions/http-test/add/spawn", json={"args": 1})).status_code == 422
    assert (await api.post("/functions/http-test/add/spawn", json={"kw": {}})).status_code == 422
    assert (await api.get("/calls", params={"state": "bogus"})).status_code == 422


async def test_pickled_spawn_and_result(chute_env: str, deployed: None, workers: Workers) -> None:
    headers = {"Authorization": "Bearer t"}
    async with asgi_client(tokens=load_tokens(["t"]), allow_pickle=True) as api:
        body = pickle.dumps(((frozenset({1}),), {}))
        r = await api.post(
            "/functions/http-test/add/spawn", headers={**headers, "Content-Type": PICKLE}, content=body
        )
        assert r.status_code == 201
        call_id = r.json()["call_id"]
        r = await api.post(
            "/functions/http-test/add/spawn",
            headers={**headers, "Content-Type": PICKLE},
            content=pickle.dumps(1),
        )
        assert r.status_code == 400 and "(args, kwargs)" in r.json()["detail"]
        workers.start()
        r = await api.get(
            f"/calls/{call_id}/result", params={"timeout": 5}, headers={**headers, "Accept": PICKLE}
        )
        deadline = time.monotonic() + 60
        while r.status_code == 202 and time.monotonic() < deadline:
            r = await api.get(
                f"/calls/{call_id}/result", params={"timeout": 5}, headers={**headers, "Accept": PICKLE}
            )
        # frozenset + 0 is a TypeError in the worker: the failure comes back as JSON.
        assert r.status_code == 500 and r.json()["type"] == "TypeError"
        ok = (
            await api.post(
                "/functions/http-test/opaque/spawn",
                headers={**headers, "Content-Type": PICKLE},
                content=pickle.dumps(((), {})),
            )
        ).json()["call_id"]
        r = await api.get(f"/calls/{ok}/result", params={"timeout": 5}, headers={**headers, "Accept": PICKLE})
        while r.status_code == 202 and time.monotonic() < deadline:
            r = await api.get(
                f"/calls/{ok}/result", params={"timeout": 5}, headers={**headers, "Accept": PICKLE}
            )
        assert r.status_code == 200 and pickle.loads(r.content) == {1, 2}
