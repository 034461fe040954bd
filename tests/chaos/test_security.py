"""Scenario 12: pickles injected straight into the backend never run when CHUTE_SECRET is set.

The payload is a raw pickle whose ``__reduce__`` creates a marker directory. It is written with
sqlite3 / redis-py directly over what chute stored (a queue item, a dict value, a dict key, a
call's arguments, a call's result), both unsigned and with a forged signature. Every reader
with CHUTE_SECRET must raise IntegrityError and the marker must stay absent, including a worker
that claims the poisoned call. A control read without CHUTE_SECRET shows the payload is live.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import chute
from chute._client import Client
from chute.backends import _redis_keys as rk
from chute.backends._call_tags import home_tag
from chute.backends._sync.redis import redis_py_url
from chute.backends.types import CallState
from chute.exception import IntegrityError
from tests.chaos import chaos_app
from tests.chaos._tally import Tally
from tests.chaos._util import Workers, env_vars, wait_until


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.path,))


class Raw:
    """Overwrite what chute stored, bypassing chute, on either backend."""

    def __init__(self, url: str) -> None:
        self.url = url
        settings = chute.config.Settings.from_env(url=url)
        self.sqlite = settings.url.kind == "sqlite"
        if self.sqlite:
            self.db = sqlite3.connect(settings.url.path, isolation_level=None)
        else:
            redis_url, cluster, options = redis_py_url(url)
            self.prefix = options["prefix"]
            self.r: Any = (redis.RedisCluster if cluster else redis.Redis).from_url(redis_url)

    def close(self) -> None:
        if self.sqlite:
            self.db.close()
        else:
            self.r.close()

    def queue_item(self, object_id: str, data: bytes) -> None:
        if self.sqlite:
            n = self.db.execute("UPDATE items SET data = ? WHERE object_id = ?", (data, object_id)).rowcount
            assert n == 1
        else:
            key = rk.object_keys(self.prefix, object_id).part(b"")
            head = self.r.lindex(key, 0)
            assert head is not None
            self.r.lset(key, 0, head[: rk.SEQ_BYTES] + data)

    def dict_value(self, object_id: str, data: bytes) -> None:
        if self.sqlite:
            n = self.db.execute("UPDATE kv SET value = ? WHERE object_id = ?", (data, object_id)).rowcount
            assert n == 1
        else:
            kv = rk.object_keys(self.prefix, object_id).kv
            [field] = self.r.hkeys(kv)
            self.r.hset(kv, field, data)

    def dict_key(self, object_id: str, data: bytes, value: bytes) -> None:
        if self.sqlite:
            self.db.execute(
                "INSERT INTO kv(object_id, key, value) VALUES (?, ?, ?)", (object_id, data, value)
            )
        else:
            k = rk.object_keys(self.prefix, object_id)
            self.r.hset(k.kv, data, value)
            self.r.zadd(k.kz, {data: 0})

    def call_field(self, call_id: str, column: str, data: bytes) -> None:
        if self.sqlite:
            sql = f"UPDATE calls SET {column} = ? WHERE id = ?"
            assert self.db.execute(sql, (data, call_id)).rowcount == 1
        else:
            field = {"payload": "pl", "result": "res"}[column]
            # chute's call ids name their slot
            key = rk.job_keys(self.prefix).shard(home_tag(call_id)).call(call_id)
            assert self.r.hexists(key, field)
            self.r.hset(key, field, data)


@pytest.fixture
def secret_env(chute_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHUTE_SECRET", "chaos-secret-12")  # children (the worker) inherit it
    return chute_env


@pytest.fixture
def raw(secret_env: str) -> Iterator[Raw]:
    r = Raw(secret_env)
    yield r
    r.close()


def test_injected_pickles_never_run(secret_env: str, raw: Raw, tmp_path: Path, tally: Tally) -> None:
    """With CHUTE_SECRET set, injected pickles raise IntegrityError before unpickling, in the
    client (queue item, dict value, dict key, call result) and in a worker (call arguments)."""
    tally.scenario = "12 pickle injection"
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Evil(str(marker)), protocol=5)
    payloads = {"unsigned": b"\x00" + evil, "forged": b"\x01" + b"\x00" * 32 + evil}
    signed_legit = chute._serialize.dumps("legit", b"chaos-secret-12")
    attempts, refused = 0, 0

    def refuses(what: str, read: Any) -> None:
        nonlocal attempts, refused
        attempts += 1
        with pytest.raises(IntegrityError):
            read()
        refused += 1
        assert not marker.exists(), f"{what}: the injected pickle ran"

    for kind, payload in payloads.items():
        q = chute.Queue.from_name(f"inject-{kind}", create_if_missing=True)
        q.put("legit")
        raw.queue_item(q.object_id, payload)
        refuses(f"queue iterate ({kind})", lambda q=q: list(q.iterate()))
        refuses(f"queue item ({kind})", lambda q=q: q.get(block=False))  # (the get consumes it)
        d = chute.Dict.from_name(f"inject-{kind}", create_if_missing=True)
        d["k"] = "legit"
        raw.dict_value(d.object_id, payload)
        refuses(f"dict value ({kind})", lambda d=d: d["k"])
        refuses(f"dict pop ({kind})", lambda d=d: d.pop("k"))
        dk = chute.Dict.from_name(f"inject-key-{kind}", create_if_missing=True)
        dk["legit"] = 1
        raw.dict_key(dk.object_id, payload, signed_legit)
        refuses(f"dict keys ({kind})", lambda dk=dk: list(dk.keys()))

    # Jobs: poisoned arguments reach a worker; a poisoned result reaches FunctionCall.get.
    poisoned_args = {k: chaos_app.echo.spawn("legit") for k in payloads}
    for kind, call in poisoned_args.items():
        raw.call_field(call.object_id, "payload", payloads[kind])
    with Workers(tmp_path / "workers.log") as workers:
        workers.start()
        for kind, call in poisoned_args.items():
            refuses(f"call arguments in the worker ({kind})", lambda call=call: call.get(timeout=60))
            assert call.info().state is CallState.FAILED
        finished = chaos_app.echo.spawn("legit")
        assert finished.get(timeout=60) == "legit"
    for kind, payload in payloads.items():
        raw.call_field(finished.object_id, "result", payload)
        refuses(f"call result ({kind})", lambda: finished.get(timeout=0))

    # Control: the same unsigned payload, read by a client without the secret, does run.
    control = chute.Queue.from_name("inject-control", create_if_missing=True)
    control.put("legit")
    raw.queue_item(control.object_id, payloads["unsigned"])
    with env_vars(CHUTE_SECRET=None):
        trusting = Client.from_env()
        assert trusting.settings.secret is None
        chute.Queue.from_id(control.object_id).get(block=False)
        trusting.close()
    wait_until(marker.exists, 5, "the control unpickling to create the marker")
    tally.acked = attempts
    tally.received = refused
    tally.extra.update(control_payload_ran=marker.exists())
    assert refused == attempts == 14
