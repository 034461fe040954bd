"""Code travels with ``chute deploy``; ``chute worker --all`` runs every deployed app (issue 15).

Real processes on every backend: the app is deployed from one folder (``python -m chute
deploy``), the generic worker runs in another folder holding none of its files, and the test
process calls the functions by name. Redeploys while calls run, rollback, ``app stop``, a
worker with another CHUTE_SECRET, image packages installed once per machine, and the warning
to a caller that no worker serves.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import chute
from chute import _deploy
from chute._async import call_ops as async_call_ops
from chute._sync import call_ops as sync_call_ops
from chute.exception import InvalidError, NotFoundError
from tests._workers import wait_until

APP = """
import time
import chute
import helper
from pkg import util

image = chute.Image.debian_slim().add_local_dir("{data}", "/root/data")
app = chute.App("{name}", image=image)


@app.function(max_containers=1)
def f(x):
    gate = chute.Dict.from_name("gate", create_if_missing=True)
    while {wait} and not gate.get("open"):
        time.sleep(0.05)
    with open("data/note.txt") as fh:
        note = fh.read().strip()
    return f"{{helper.TAG}}:{{util.double(x)}}:{{note}}"
"""


class Deployment:
    """An app's source folder, and generic workers started elsewhere."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.src = tmp / "src"
        self.run_dir = tmp / "run"
        self.cache = tmp / "cache"
        self.name = name
        self.workers: list[tuple[subprocess.Popen[bytes], Path]] = []
        for d in (self.src / "pkg", self.src / "assets", self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        (self.src / "pkg" / "__init__.py").write_text("")
        (self.src / "pkg" / "util.py").write_text("def double(x):\n    return 2 * x\n")
        (self.src / "assets" / "note.txt").write_text("from-assets\n")

    def write(self, tag: str, wait: bool = False) -> None:
        (self.src / "helper.py").write_text(f"TAG = {tag!r}\n")
        app = APP.format(name=self.name, data="assets", wait=wait)
        (self.src / "app.py").write_text(textwrap.dedent(app))

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "chute", *args],
            cwd=self.src,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def deploy(self, tag: str, wait: bool = False, env: dict[str, str] | None = None) -> str:
        self.write(tag, wait)
        return self.cli("deploy", "app.py", env=env)

    def start_worker(self, *extra: str, env: dict[str, str] | None = None) -> Path:
        log = self.run_dir / f"worker{len(self.workers)}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "chute", "worker", "--all", "--cache-dir", str(self.cache), *extra],
                cwd=self.run_dir,
                env={**os.environ, "CHUTE_LEASE": "1", **(env or {})},
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        self.workers.append((proc, log))
        return log

    def wait_log(self, log: Path, text: str, timeout: float = 60.0) -> None:
        wait_until(lambda: text in log.read_text(), timeout=timeout, what=f"worker log line {text!r}")

    def stop(self) -> None:
        for proc, _ in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.workers:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def deployment(chute_env: str, tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path, "dapp")
    yield d
    d.stop()


def test_worker_elsewhere_serves_deployed_code(deployment: Deployment) -> None:
    out = deployment.deploy("v1")
    assert "version 1," in out
    log = deployment.start_worker()
    f = chute.Function.from_name("dapp", "f")
    assert f.remote(21) == "v1:42:from-assets"  # helper, package and add_local_dir travelled
    assert not list(deployment.run_dir.glob("*.py"))
    (bundle,) = [p for p in deployment.cache.iterdir() if len(p.name) == 64]  # by content hash
    assert {p.name for p in bundle.iterdir()} >= {"app.py", "helper.py", "pkg", "data"}
    assert "serving dapp version 1" in log.read_text()
    # The same code deployed again stores nothing new and keeps the worker's pool.
    deployment.deploy("v1")
    record = _deploy.read_app(_deploy.store("main"), "dapp")
    assert [v.number for v in record.versions] == [1, 2] and record.versions[0].hash == record.versions[
        1
    ].hash


def test_redeploy_while_calls_run_then_rollback(deployment: Deployment) -> None:
    deployment.deploy("v1", wait=True)
    log = deployment.start_worker()
    f = chute.Function.from_name("dapp", "f")
    old = f.spawn(1)
    wait_until(lambda: _running(old), timeout=60, what="the v1 call running")
    deployment.deploy("v2")
    deployment.wait_log(log, "serving dapp version 2")
    assert f.remote(2) == "v2:4:from-assets"  # new calls run v2 while v1's call still runs
    chute.Dict.from_name("gate", create_if_missing=True)["open"] = True
    assert old.get(timeout=60) == "v1:2:from-assets"  # the call in flight finished on v1
    chute.Dict.from_name("gate", create_if_missing=True)["open"] = False
    out = deployment.cli("app", "rollback", "dapp", "1")
    assert "version 3" in out
    deployment.wait_log(log, "serving dapp version 3")
    chute.Dict.from_name("gate", create_if_missing=True)["open"] = True
    assert f.remote(3) == "v1:6:from-assets"
    history = deployment.cli("app", "history", "dapp", "--json")
    assert '"rollback_of": 1' in history


def _running(call: chute.FunctionCall) -> bool:
    return call.info().state is chute.CallState.RUNNING


def test_app_stop(deployment: Deployment) -> None:
    deployment.deploy("v1", wait=True)
    log = deployment.start_worker()
    f = chute.Function.from_name("dapp", "f")
    running = f.spawn(1)
    wait_until(lambda: _running(running), timeout=60, what="first call running")
    pending = f.spawn(2)  # max_containers=1: waits behind the first
    out = deployment.cli("app", "stop", "dapp")
    assert "1 pending calls cancelled" in out
    assert pending.info().state is chute.CallState.CANCELLED
    deployment.wait_log(log, "dapp (main) was stopped")
    chute.Dict.from_name("gate", create_if_missing=True)["open"] = True
    assert running.get(timeout=60) == "v1:2:from-assets"  # running calls finish
    with pytest.raises(NotFoundError):
        chute.Function.from_name("dapp", "f").remote(1)
    assert "stopped" in deployment.cli("app", "history", "dapp")


def test_worker_with_another_secret_refuses_the_code(deployment: Deployment) -> None:
    deployment.deploy("v1", env={"CHUTE_SECRET": "deployer-secret"})
    log = deployment.start_worker(env={"CHUTE_SECRET": "another-secret"})
    deployment.wait_log(log, "cannot read the deployed apps")
    assert "signature" in log.read_text().lower()
    os.environ["CHUTE_SECRET"] = "deployer-secret"  # the caller holds the deployer's secret
    try:
        call = chute.Function.from_name("dapp", "f").spawn(1)
        with pytest.raises(TimeoutError):
            call.get(timeout=3)
    finally:
        del os.environ["CHUTE_SECRET"]


def test_version_signatures() -> None:
    v = _deploy.Version(1, "a", "h", "app.py", [("f", "{}")], 0.0, 1, 1)
    v.check(None)  # no secret: anything runs (the README's trust model)
    with pytest.raises(InvalidError, match="unsigned"):
        v.check(b"s")
    v.signature = v.sign(b"other")
    with pytest.raises(InvalidError, match="another CHUTE_SECRET"):
        v.check(b"s")
    v.signature = v.sign(b"s")
    v.check(b"s")
    v.hash = "tampered"
    with pytest.raises(InvalidError):
        v.check(b"s")


def test_no_worker_warning(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_call_ops, "NO_WORKER_AFTER", 0.5)
    monkeypatch.setattr(async_call_ops, "NO_WORKER_AFTER", 0.5)
    deployment.deploy("v1")
    call = chute.Function.from_name("dapp", "f").spawn(1)
    with caplog.at_level(logging.WARNING, logger="chute"), pytest.raises(TimeoutError):
        call.get(timeout=2)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "chute"]
    assert "dapp.f" in message and "no worker is running" in message and "chute worker --all" in message


def test_call_submitted_after_a_redeploy_runs_it_before_the_worker_polls(deployment: Deployment) -> None:
    deployment.deploy("v1")
    log = deployment.start_worker("--deploy-poll", "600")  # it looks at the store once, at start
    f = chute.Function.from_name("dapp", "f")
    assert f.remote(1) == "v1:2:from-assets"
    deployment.deploy("v2")
    # The v1 pool claims the call, sees v2 recorded in it, gives it back and nudges the parent.
    assert f.remote(2) == "v2:4:from-assets"
    assert "serving dapp version 2" in log.read_text()


def test_calls_run_on_the_version_they_were_submitted_under(deployment: Deployment) -> None:
    deployment.deploy("v1")
    f = chute.Function.from_name("dapp", "f")
    old = f.spawn(1)  # no worker yet: pending under v1
    deployment.deploy("v2")
    log = deployment.start_worker()
    assert f.remote(2) == "v2:4:from-assets"
    assert old.get(timeout=60) == "v1:2:from-assets"  # a pool of v1 was started for it
    assert "for the calls submitted under it" in log.read_text()


def test_collected_versions_run_on_the_live_one(deployment: Deployment) -> None:
    deployment.deploy("v1")
    f = chute.Function.from_name("dapp", "f")
    old = f.spawn(1)
    deployment.deploy("v2")
    d = _deploy.store("main")
    first = _deploy.read_app(d, "dapp").version(1)
    for _ in range(_deploy.KEEP_VERSIONS):
        _deploy.add_version(d, "dapp", _deploy.read_app(d, "dapp").version(2))
    record = _deploy.read_app(d, "dapp")
    assert len(record.versions) == _deploy.KEEP_VERSIONS and 1 not in [v.number for v in record.versions]
    assert d.get(f"blob/{first.hash}") is None  # no kept version names v1's bundle: deleted
    deployment.start_worker()
    assert old.get(timeout=60) == "v2:2:from-assets"  # v1 is gone: the live version runs it
