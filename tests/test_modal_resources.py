"""Resources and recycling with real ``chute worker`` processes on every backend: gpu= placement
and the reason a call waits, cpu= capacity, memory= limits, single_use_containers/max_inputs=1,
startup_timeout, per-call with_options, update_autoscaler on a live worker, volumes mounted at
their path (and the clear failure where mounting is not possible)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chute
from chute import _deploy_ops
from chute._client import Client
from chute._sync import inspection
from chute.cli import app as cli_app
from chute.exception import FunctionTimeoutError, RemoteError, ResourceExhaustedError
from tests._workers import wait_until

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "modal_style_resources.py"
NAME = "modal-style-resources"

StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def app_env(chute_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHUTE_VOLUMES_DIR", str(tmp_path / "volumes"))
    monkeypatch.setenv("RESOURCES_LOG", str(tmp_path / "events.log"))
    monkeypatch.setenv("RESOURCES_MOUNT", str(tmp_path / "mnt" / "data"))
    monkeypatch.setenv("CHUTE_LEASE", "2")  # beats every 0.5 s: autoscaler updates arrive fast
    # ``chute deploy APP`` in this process (a CLI start costs seconds on a loaded machine); the
    # app module is imported afresh each time (it reads this test's RESOURCES_MOUNT at import).
    path = list(sys.path)
    try:
        with warnings.catch_warnings():  # as the CLI, which shows it: the app uses max_inputs=1
            warnings.filterwarnings("ignore", message="The `max_inputs` parameter is deprecated")
            _deploy_ops.deploy_file(str(APP))
    finally:
        sys.path[:] = path
        sys.modules.pop(APP.stem, None)
    return tmp_path


@pytest.fixture
def start_worker(app_env: Path) -> Iterator[StartWorker]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **env: str) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "chute", "worker", str(APP), *args]
        proc = subprocess.Popen(cmd, env={**os.environ, **env})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fn(name: str) -> chute.Function[..., object]:
    return chute.Function.from_name(NAME, name)


def _function_list(*args: str) -> str:
    """``chute function list ARGS``'s output, run in this process (typer's CliRunner): a CLI
    process start costs seconds on a loaded machine."""
    result = CliRunner().invoke(cli_app, ["function", "list", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _listing() -> dict[str, dict[str, object]]:
    return {r["function"]: r for r in json.loads(_function_list("--json"))}


def _events(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(e, int(pid)) for e, pid in (line.split() for line in log.read_text().splitlines())]


def _workers() -> list[dict[str, object]]:
    return [json.loads(raw) for _, raw in inspection.workers(Client.from_env(), "main")]


def test_gpu_call_waits_for_a_gpu_worker_and_the_listing_says_why(start_worker: StartWorker) -> None:
    start_worker("--gpus", "none", "--cpu", "2")
    call = _fn("on_gpu").spawn()
    wait_until(lambda: len(_workers()) == 1, 60, "the worker's registration")
    rows = _listing()
    assert rows["on_gpu"]["pending_reason"] == "needs 1 GPU; no live worker has one"
    assert rows["many_cores"]["pending_reason"] == (
        "needs 64 CPUs; no live worker has that many (the most is 2)"
    )
    assert rows["nap"]["pending_reason"] is None
    assert _fn("nap").remote(0) == 0  # the worker runs what fits
    assert call.info().state.value == "pending"
    with pytest.raises(TimeoutError):
        call.get(timeout=1)
    text = _function_list()
    assert "modal-style-resources.on_gpu waits: needs 1 GPU; no live worker has one" in text
    start_worker("--gpus", "0")
    assert call.get(timeout=60) == "0"  # the GPU worker ran it, with its GPU
    assert _fn("nap").remote(0) == 0
    assert _listing()["on_gpu"]["pending_reason"] is None


def test_memory_limit_kills_the_executor_with_a_clear_error(start_worker: StartWorker) -> None:
    start_worker()
    started = time.monotonic()
    with pytest.raises(ResourceExhaustedError, match=r"memory limit of 200 MiB"):
        _fn("hog").remote(600)
    assert time.monotonic() - started < 18  # killed, not left to finish its 20 s sleep
    assert _fn("hog").remote(1, 0) == 1 << 20  # under the limit it runs (in a new executor)


def test_with_options_timeout_and_retries_apply_per_call(start_worker: StartWorker) -> None:
    start_worker()
    nap = _fn("nap")
    assert nap.remote(0.1) == 0.1
    started = time.monotonic()
    with pytest.raises(FunctionTimeoutError, match="timeout of 1 s"):
        nap.with_options(timeout=1).remote(30)
    assert time.monotonic() - started < 10  # the base timeout is 60 s
    call = _fn("fails").with_options(retries=1).spawn()
    with pytest.raises(ValueError, match="always"):
        call.get(timeout=60)
    assert call.info().attempts == 2  # the base function has no retries
    plain = _fn("fails").spawn()
    with pytest.raises(ValueError):
        plain.get(timeout=60)
    assert plain.info().attempts == 1


def test_single_use_containers_recycle_after_one_input(start_worker: StartWorker, app_env: Path) -> None:
    start_worker()
    one_shot = chute.Cls.from_name(NAME, "OneShot")()
    pids = [one_shot.pid.remote() for _ in range(3)]
    assert len(set(pids)) == 3, pids  # a new executor for every input
    log = app_env / "events.log"
    wait_until(lambda: {p for e, p in _events(log) if e == "exit"} >= set(pids), 30, "exit hooks")
    assert sorted(_events(log)) == sorted([("enter", p) for p in pids] + [("exit", p) for p in pids])
    legacy = [_fn("legacy_single").remote() for _ in range(2)]
    assert len(set(legacy)) == 2, legacy  # Modal's deprecated max_inputs=1 means the same


def test_startup_timeout_fails_calls_of_an_executor_that_does_not_start(start_worker: StartWorker) -> None:
    start_worker()
    started = time.monotonic()
    with pytest.raises(FunctionTimeoutError, match=r"did not start within 2 s \(startup_timeout\)"):
        chute.Cls.from_name(NAME, "SlowStart")().ping.remote()
    assert time.monotonic() - started < 15


def _peak(results: list[tuple[int, float, float]]) -> int:
    return max(sum(1 for _, s, e in results if s <= t < e) for _, t, _ in results)


def test_update_autoscaler_reaches_a_running_worker(start_worker: StartWorker) -> None:
    start_worker("--max-executors", "4")
    capped = _fn("capped")
    results = chute.FunctionCall.gather(*[capped.spawn(1.5) for _ in range(3)])
    assert _peak(results) >= 2, results  # max_containers=3: they overlap
    capped.update_autoscaler(max_containers=1)
    key = f"{NAME}.capped"
    wait_until(
        lambda: any(w.get("max_containers", {}).get(key) == 1 for w in _workers()),  # type: ignore[attr-defined]
        30,
        "the worker adopting max_containers=1",
    )
    results = chute.FunctionCall.gather(*[capped.spawn(1.0) for _ in range(3)])
    assert _peak(results) == 1, results  # one at a time now, without a restart


def test_volume_is_mounted_at_its_path_in_a_private_namespace(
    start_worker: StartWorker, app_env: Path
) -> None:
    start_worker()
    assert _fn("write_volume").remote("hi") == ["hello.txt"]
    vol = chute.Volume.from_name("resources-data")
    assert (vol.local_path / "hello.txt").read_text() == "hi"
    mount = app_env / "mnt" / "data"
    assert mount.is_dir() and not (mount / "hello.txt").exists()  # the host's path is untouched


def test_volume_mount_fallback_fails_with_the_path(start_worker: StartWorker, app_env: Path) -> None:
    start_worker(CHUTE_MOUNT_NAMESPACES="0")
    mount = str(app_env / "mnt" / "data")
    with pytest.raises(RemoteError, match="cannot be mounted at") as info:
        _fn("write_volume").remote("hi")
    assert mount in str(info.value) and "CHUTE_MOUNT_NAMESPACES=0" in str(info.value)
