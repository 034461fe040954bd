"""Bad bytes over HTTP get a 400, on every backend (issue 10, B6 and B9)."""

from __future__ import annotations

import httpx
import pytest

import chute
from chute._validate import MAX_TTL

NOT_UTF8 = [b'{"value": "\xff"}', b"\xff\xfe", b'{"value": "\xed\xa0\x80"}']  # bad byte, BOM, surrogate


@pytest.mark.parametrize("body", NOT_UTF8)
async def test_json_body_that_is_not_utf8_is_a_400(api: httpx.AsyncClient, body: bytes) -> None:
    """B6: the error handler crashed decoding the body (500)."""
    headers = {"content-type": "application/json"}
    assert (await api.post("/queues/q")).status_code == 201
    r = await api.post("/queues/q/put", content=body, headers=headers)
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
    assert (await api.post("/dicts/d")).status_code == 201
    r = await api.put("/dicts/d/keys/k", content=body, headers=headers)
    assert r.status_code == 400
    assert await chute.Queue.from_name("q").len.aio(total=True) == 0
    assert await chute.Dict.from_name("d").len.aio() == 0


async def test_keys_and_parameters_that_are_not_utf8_are_a_400(api: httpx.AsyncClient) -> None:
    """B9: ``%FE`` and ``%FF`` both decoded to U+FFFD, so the two keys overwrote each other."""
    assert (await api.post("/dicts/d")).status_code == 201
    for key in ("%FE", "%FF", "a%C3", "%ED%A0%80"):
        r = await api.put(f"/dicts/d/keys/{key}", json={"value": key})
        assert r.status_code == 400 and "UTF-8" in r.json()["detail"], key
        assert (await api.get(f"/dicts/d/keys/{key}")).status_code == 400
    assert await chute.Dict.from_name("d").len.aio() == 0
    r = await api.put("/dicts/d/keys/%C3%A9", json={"value": "é"})  # real UTF-8 still works
    assert r.status_code == 200 and (await api.get("/dicts/d/keys/é")).json() == {"value": "é"}
    assert (await api.post("/queues/q")).status_code == 201
    assert (await api.get("/queues/q/len?partition=%FE")).status_code == 400
    assert (await api.get("/queues/q/len?partition=%C3%A9")).json() == {"len": 0}


async def test_partition_ttl_cap_is_the_library_cap(api: httpx.AsyncClient) -> None:
    assert (await api.post("/queues/q")).status_code == 201
    r = await api.post("/queues/q/put", params={"partition_ttl": MAX_TTL}, json={"value": 1})
    assert r.status_code == 200
    r = await api.post("/queues/q/put", params={"partition_ttl": MAX_TTL + 1}, json={"value": 1})
    assert r.status_code == 422
    r = await api.get("/queues/q")  # lists cleanly (a TTL past year 9999 used to make this a 500)
    assert r.status_code == 200 and r.json()["total"] == 1
