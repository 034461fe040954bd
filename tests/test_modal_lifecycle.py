"""The executor side of Modal's surface, with a real ``chute worker`` on every backend:
``@enter`` once per executor (and once under ``@concurrent``), ``@exit`` on scale-down and on
the worker's SIGTERM, secrets and ``env=`` in the executor's environment and never in its
output, the call context inside executors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter as Tally
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chute
from chute import _deploy_ops
from chute.cli import app as cli_app
from tests._workers import wait_until

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "modal_style_lifecycle.py"
SECRET_VALUE = "tok-secret-42"
NAMED_VALUE = "named-secret-7"


def _events(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(e, int(pid)) for e, pid in (line.split() for line in log.read_text().splitlines())]


@pytest.fixture
def worker(chute_env: str, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / "lifecycle.log"
    # The stored secret and ``chute deploy APP``, in this process: a CLI process start costs
    # seconds on a loaded machine, and these tests are about the executor, not the CLI.
    chute.Secret.objects.create("lc-named", {"NAMED_KEY": NAMED_VALUE})
    path = list(sys.path)
    try:
        _deploy_ops.deploy_file(str(APP))
    finally:
        sys.path[:] = path
        sys.modules.pop(APP.stem, None)
    env = {**os.environ, "LIFECYCLE_LOG": str(log)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", str(APP)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield proc, log
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_enter_once_per_executor_exit_on_scale_down_and_sigterm(
    worker: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, log = worker
    counter = chute.Cls.from_name("modal-style-lifecycle", "Counter")()
    results = [counter.hit.remote() for _ in range(5)]
    pids = {pid for pid, _ in results}
    assert len(pids) == 1, results  # one executor served them all, in order
    assert [hits for _, hits in results] == [1, 2, 3, 4, 5]  # one instance, kept between calls
    (pid,) = pids
    assert _events(log) == [("enter", pid)]
    # scaledown_window=2: the idle executor stops and runs @exit.
    wait_until(lambda: ("exit", pid) in _events(log), 30, "exit on scale-down")
    again_pid, hits = counter.hit.remote()
    assert again_pid != pid and hits == 1  # a new executor, a new instance, entered again
    assert Tally(e for e, p in _events(log) if p == again_pid) == {"enter": 1}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert _events(log) == [("enter", pid), ("exit", pid), ("enter", again_pid), ("exit", again_pid)]


def test_concurrent_class_enters_once_and_overlaps(worker: tuple[subprocess.Popen[str], Path]) -> None:
    _, log = worker
    embedder = chute.Cls.from_name("modal-style-lifecycle", "Embedder")()
    calls = [embedder.embed.spawn(f"t{i}") for i in range(10)]
    results = chute.FunctionCall.gather(*calls)
    assert [text for _, text, _, _ in results] == [f"T{i}" for i in range(10)]
    pids = {pid for pid, *_ in results}
    assert len(pids) == 1, results  # max_inputs=20: one executor takes all ten
    # The 1 s calls overlapped: most of them were running at one moment.
    peak = max(sum(1 for _, _, s, e in results if s <= t < e) for _, _, t, _ in results)
    assert peak >= 8, results
    assert [e for e, p in _events(log) if p in pids] == ["aenter"]


def test_secrets_and_env_reach_the_executor_and_nothing_prints_them(
    worker: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, _ = worker
    fn = chute.Function.from_name("modal-style-lifecycle", "environment")
    call = fn.spawn()
    out = call.get(timeout=60)
    assert out == {
        "LIFECYCLE_TOKEN": SECRET_VALUE,
        "LIFECYCLE_MODE": "prod",
        "LIFECYCLE_DROPPED": None,
        "NAMED_KEY": NAMED_VALUE,
        "MODAL_IS_REMOTE": "1",
        "call": call.object_id,
        "local": "False",
    }
    # ``chute function list --json``, in this process (typer's CliRunner).
    listing = CliRunner().invoke(cli_app, ["function", "list", "--json"])
    assert listing.exit_code == 0 and "environment" in listing.stdout
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert proc.stdout is not None
    output = proc.stdout.read()
    for value in (SECRET_VALUE, NAMED_VALUE):
        assert value not in output and value not in listing.stdout
