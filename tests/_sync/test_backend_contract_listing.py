# Auto-generated from tests/_async/test_backend_contract_listing.py by scripts/unasync.py: DO NOT EDIT.
"""Storage contract, what the dashboard and the CLI read: call listings and per-function stats,
deployed functions, and the worker registry, on every backend.

SOURCE of tests/_sync/test_backend_contract_listing.py (scripts/unasync.py): the backend under
test (fixture ``b``) is the async backend here and the generated sync backend there.
"""

from __future__ import annotations

import time

import pytest

from chute.backends._sync import redis_jobs as redis_backend
from chute.backends._sync.base import Backend
from chute.backends.types import CallState, FunctionStats
from tests._sync.contract_helpers import APP, ENV, claim, submit


@pytest.mark.parametrize("batch", [None, 2])
def test_job_list_and_stats(b: Backend, monkeypatch: pytest.MonkeyPatch, batch: int | None) -> None:
    if batch is not None:
        # Redis pages through its call index in batches: small ones give the same answers.
        # (SQLite filters in one query; the setting does not apply to it.)
        monkeypatch.setattr(redis_backend, "_LIST_BATCH", batch)
    a1 = submit(b, fn="f")
    a2 = submit(b, fn="g")
    a3 = submit(b, fn="f", app="other")
    a4 = submit(b, fn="f")
    a5 = submit(b, fn="f")
    other_env = submit(b, b"", fn="f", env="dev")
    [r1] = claim(b, fn="f")
    assert r1.id == a1
    assert b.job_finish(a1, 1, CallState.FAILED, b"e", error="E: x") is True
    [r4] = claim(b, fn="f")
    assert r4.id == a4

    listed = b.job_list(ENV)
    assert [r.id for r in listed] == [a5, a4, a3, a2, a1]
    assert all(r.payload is None and r.result is None for r in listed)
    assert listed[4].error == "E: x"
    assert [r.id for r in b.job_list(ENV, limit=2)] == [a5, a4]
    assert b.job_list(ENV, limit=0) == []
    assert [r.id for r in b.job_list(ENV, app=APP)] == [a5, a4, a2, a1]
    assert [r.id for r in b.job_list(ENV, app="other")] == [a3]
    assert [r.id for r in b.job_list(ENV, function="f")] == [a5, a4, a3, a1]
    assert [r.id for r in b.job_list(ENV, app=APP, function="f")] == [a5, a4, a1]
    assert [r.id for r in b.job_list(ENV, app=APP, function="f", limit=1)] == [a5]
    assert [r.id for r in b.job_list(ENV, state=CallState.PENDING)] == [a5, a3, a2]
    assert [r.id for r in b.job_list(ENV, state=CallState.PENDING, limit=2)] == [a5, a3]
    assert [r.id for r in b.job_list(ENV, app=APP, function="f", state=CallState.RUNNING)] == [a4]
    assert [r.id for r in b.job_list(ENV, state=CallState.FAILED)] == [a1]
    assert [r.id for r in b.job_list("dev")] == [other_env]
    assert b.job_list("nope") == []

    assert b.job_stats(ENV, APP, "f") == FunctionStats(pending=1, running=1, failed=1)
    assert b.job_stats(ENV, APP, "g") == FunctionStats(pending=1)
    assert b.job_stats(ENV, APP, "missing") == FunctionStats()
    assert b.job_cancel(a5, result=b"") is True
    assert b.job_finish(a4, 1, CallState.SUCCEEDED, b"") is True
    assert b.job_stats(ENV, APP, "f") == FunctionStats(succeeded=1, failed=1, cancelled=1)


def test_deploy_and_functions(b: Backend) -> None:
    assert b.job_functions(ENV) == []
    before = b.now()
    b.job_deploy(ENV, "app", [("f", b'{"v": 1}'), ("g", b'{"v": 1, "x": " y "}')])
    b.job_deploy(ENV, "zeta", [("a", b"{}")])
    b.job_deploy("dev", "app", [("f", b"{}")])
    fns = b.job_functions(ENV)
    assert [(f.env, f.app, f.name, f.spec) for f in fns] == [
        (ENV, "app", "f", b'{"v": 1}'),
        (ENV, "app", "g", b'{"v": 1, "x": " y "}'),
        (ENV, "zeta", "a", b"{}"),
    ]
    after = b.now()
    assert all(before <= f.deployed_at <= after for f in fns)
    # A redeploy replaces every function of the app, and only of that app.
    b.job_deploy(ENV, "app", [("h", b'{"v": 2}'), ("f", b'{"v": 2}')])
    assert [(f.app, f.name, f.spec) for f in b.job_functions(ENV)] == [
        ("app", "f", b'{"v": 2}'),
        ("app", "h", b'{"v": 2}'),
        ("zeta", "a", b"{}"),
    ]
    assert [f.name for f in b.job_functions(ENV, "zeta")] == ["a"]
    assert b.job_functions(ENV, "none") == []
    b.job_deploy(ENV, "zeta", [])
    assert [f.app for f in b.job_functions(ENV)] == ["app", "app"]
    assert [(f.env, f.name) for f in b.job_functions("dev")] == [("dev", "f")]


def test_workers(b: Backend) -> None:
    assert b.worker_list(ENV) == []
    b.worker_beat(ENV, "w2", b'{"n": 2}', ttl=30)
    b.worker_beat(ENV, "w1", b'{"n": 1}', ttl=0.5)
    b.worker_beat("dev", "w3", b"{}", ttl=30)
    assert b.worker_list(ENV) == [("w1", b'{"n": 1}'), ("w2", b'{"n": 2}')]
    b.worker_beat(ENV, "w2", b'{"n": 22}', ttl=30)
    assert (b.worker_list(ENV))[1] == ("w2", b'{"n": 22}')
    time.sleep(0.6)
    assert b.worker_list(ENV) == [("w2", b'{"n": 22}')]
    b.worker_gone(ENV, "w2")
    b.worker_gone(ENV, "never")
    assert b.worker_list(ENV) == []
    assert b.worker_list("dev") == [("w3", b"{}")]


def test_a_beat_brings_back_an_expired_worker(b: Backend) -> None:
    b.worker_beat(ENV, "w", b"{}", ttl=0.1)
    time.sleep(0.2)
    assert b.worker_list(ENV) == []
    b.worker_beat(ENV, "w", b'{"back": 1}', ttl=30)
    assert b.worker_list(ENV) == [("w", b'{"back": 1}')]
