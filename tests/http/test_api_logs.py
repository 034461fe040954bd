"""GET /calls/{id}/logs with a real worker."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.http.conftest import Workers
from tests.http.test_api_jobs import result


async def test_logs_of_a_failed_call(api: httpx.AsyncClient, workers: Workers) -> None:
    workers.start()
    deadline = time.monotonic() + 60
    while not [f for f in (await api.get("/functions")).json() if f["app"] == "http-test"]:
        assert time.monotonic() < deadline, "the worker never deployed the app"
        await asyncio.sleep(0.1)
    call_id = (await api.post("/functions/http-test/boom/spawn", json={"args": ["é"]})).json()["call_id"]
    assert (await result(api, call_id)).status_code == 500
    r = await api.get(f"/calls/{call_id}/logs")
    assert r.status_code == 200
    assert r.json() == {"call_id": call_id, "attempts": [{"attempt": 1, "text": "about to fail: é\n"}]}
    # The traceback the caller sees starts at the function, not in chute's executor.
    tb = (await api.get(f"/calls/{call_id}")).json()["traceback"]
    assert "http_app.py" in tb.splitlines()[1] and "chute/worker" not in tb, tb
    assert (await api.get("/calls/fc-0000000000000000000000/logs")).status_code == 404
