"""``/dicts`` over HTTP, on every backend."""

from __future__ import annotations

import httpx

import chute


async def test_dict_lifecycle(api: httpx.AsyncClient) -> None:
    assert (await api.post("/dicts/cfg")).status_code == 201
    assert (await api.post("/dicts/cfg")).json() == {"name": "cfg", "created": False}

    r = await api.put("/dicts/cfg/keys/retries", json={"value": 3})
    assert r.json() == {"written": True}
    r = await api.put("/dicts/cfg/keys/retries", params={"skip_if_exists": True}, json={"value": 9})
    assert r.json() == {"written": False}
    await api.put("/dicts/cfg/keys/path/with/slashes", json={"value": {"x": [1, None]}})
    assert (await api.get("/dicts/cfg/keys/retries")).json() == {"value": 3}
    assert (await api.get("/dicts/cfg/keys/path/with/slashes")).json() == {"value": {"x": [1, None]}}

    r = await api.get("/dicts/cfg/keys/absent")
    assert r.status_code == 404 and r.json()["type"] == "KeyError"
    assert (await api.get("/dicts/cfg/len")).json() == {"len": 2}
    info = (await api.get("/dicts/cfg")).json()
    assert info["len"] == 2 and info["id"].startswith("di-")
    assert [(d["name"], d["len"]) for d in (await api.get("/dicts")).json()] == [("cfg", 2)]

    assert (await api.delete("/dicts/cfg/keys/retries")).json() == {"value": 3}
    assert (await api.delete("/dicts/cfg/keys/retries")).status_code == 404
    assert (await api.post("/dicts/cfg/clear")).json() == {"ok": True}
    assert (await api.get("/dicts/cfg/len")).json() == {"len": 0}
    assert (await api.delete("/dicts/cfg")).status_code == 200
    assert (await api.get("/dicts/cfg/len")).status_code == 404


async def test_items_are_paginated(api: httpx.AsyncClient) -> None:
    d = chute.Dict.from_name("big", create_if_missing=True)
    await d.update.aio({f"k{i:03}": i for i in range(25)})
    await d.put.aio(("tuple", 1), "non-str key")
    seen: dict[str, object] = {}
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/dicts/big/items", params=params)).json()
        pages += 1
        for item in page["items"]:
            assert item["key"] not in seen
            seen[item["key"]] = (item["key_type"], item["value"])
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 26
    assert seen["k007"] == ("str", 7)
    assert seen["('tuple', 1)"] == ("tuple", "non-str key")
    r = await api.get("/dicts/big/items", params={"cursor": "***"})
    assert r.status_code == 400 and "cursor" in r.json()["detail"]


async def test_values_written_over_http_are_python_values(api: httpx.AsyncClient) -> None:
    await api.post("/dicts/shared")
    await api.put("/dicts/shared/keys/k", json={"value": [1, {"a": 2.5}]})
    d = chute.Dict.from_name("shared")
    assert await d.get.aio("k") == [1, {"a": 2.5}]
    await d.put.aio("obj", object())
    value = (await api.get("/dicts/shared/keys/obj")).json()["value"]
    assert value.startswith("<object object at")


async def test_environments_are_separate(api: httpx.AsyncClient) -> None:
    await api.post("/dicts/d", params={"env": "dev"})
    await api.put("/dicts/d/keys/k", params={"env": "dev"}, json={"value": "dev value"})
    assert (await api.get("/dicts")).json() == []
    assert (await api.get("/dicts/d/keys/k")).status_code == 404
    assert (await api.get("/dicts/d/keys/k", params={"env": "dev"})).json() == {"value": "dev value"}
    assert await chute.Dict.from_name("d", environment_name="dev").get.aio("k") == "dev value"
    assert (await api.get("/dicts", params={"env": "bad env"})).status_code == 422
