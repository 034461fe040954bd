"""Modal-style app files (tests/apps/modal_style_*.py) run unchanged with ``chute run``, and
``app.run()`` in-process, on every backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chute
from chute.cli import app as cli_app
from chute.exception import InvalidError

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"


def chute_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chute", *args], capture_output=True, text=True, timeout=180, cwd=cwd
    )


def function_list_json() -> str:
    """``chute function list --json``'s output, run in this process (typer's CliRunner): a CLI
    process start costs seconds on a loaded machine, and this command imports no app."""
    result = CliRunner().invoke(cli_app, ["function", "list", "--json"])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def volumes_dir(chute_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHUTE_VOLUMES_DIR", str(tmp_path / "volumes"))
    return tmp_path / "volumes"


def test_basic_app_runs_with_entrypoint_options(volumes_dir: Path) -> None:
    result = chute_cli("run", str(APPS / "modal_style_basic.py"), "--n", "4", "--label", "squares")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "squares [0, 1, 4, 9]" in lines
    assert "gen [4, 3, 2, 1]" in lines
    assert "configured 4 True False" in lines  # a call id in the executor, and is_local() False there
    assert "fan [0, 1, 4, 9]" in lines
    assert "IgnoredOptionWarning" in result.stderr and "cloud=, region=" in result.stderr
    assert result.stderr.count("cloud=, region=") == 1  # named once, not by every executor
    # Secret values never reach output, listings or the stored specs.
    listing = function_list_json()
    specs = [r.spec.decode() for r in chute.Client.from_env().sync_backend().job_functions("main")]
    for text in (result.stdout, result.stderr, listing, *specs):
        assert "s3cr3t-value" not in text
    assert any('"dict:TOKEN"' in s for s in specs)


def test_run_a_function_or_a_method_by_name(volumes_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    result = chute_cli("run", "-w", str(out), f"{APPS / 'modal_style_basic.py'}::shout", "--word", "hi")
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "HI HI"
    result = chute_cli(
        "run",
        "-w",
        str(out),
        f"{APPS / 'modal_style_inference.py'}::Describer.describe",
        "--label",
        "L",
        "--suffix",
        "!",
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "L!"
    bad = chute_cli("run", f"{APPS / 'modal_style_basic.py'}::nothing")
    assert bad.returncode == 1 and "nothing to run" in bad.stderr
    colon = chute_cli("run", f"{APPS / 'modal_style_basic.py'}:shout")
    assert colon.returncode == 1 and "did you mean" in " ".join(colon.stderr.split())
    usage = chute_cli("run", str(APPS / "modal_style_basic.py"), "--n", "not-a-number")
    assert usage.returncode == 2 and "not-a-number" in usage.stderr


def test_inference_class_app(volumes_dir: Path) -> None:
    result = chute_cli("run", str(APPS / "modal_style_inference.py"), "--x", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["predict 8 40", "stream [0, 2, 4]", "map [2, 4] 20", "local 8"]


def test_async_app(volumes_dir: Path) -> None:
    result = chute_cli("run", str(APPS / "modal_style_async.py"), "--text", "a bb ccc")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "vectors [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]]",
        "tokens ['a', 'bb', 'ccc']",
    ]
    assert "k-123" not in result.stdout + result.stderr


def test_app_run_in_process(volumes_dir: Path) -> None:
    from tests.apps import modal_style_basic as m

    with m.app.run() as running:
        assert running is m.app
        with pytest.raises(InvalidError, match="already running"), m.app.run():
            pass
        assert m.square.remote(7) == 49
        call = m.fan_out.spawn(3)
        assert call.get(timeout=60) == [0, 1, 4]
        graph = call.get_call_graph()
        assert len(graph) == 1 and graph[0].function_call_id == call.object_id
        assert graph[0].status is chute.types.InputStatus.SUCCESS
        assert graph[0].input_id == "in-" + call.object_id[3:]
        children = graph[0].children
        assert len(children) == 3 and {c.function_name for c in children} == {"square"}
        stats = m.square.get_current_stats()
        assert stats.backlog == 0 and stats.num_running_inputs == 0 and stats.input_headroom == 8
        settings = chute.Function.from_name("modal-style-basic", "square").update_autoscaler(max_containers=2)
        assert settings.max_containers == 2
        deployed = chute.Function.from_name("modal-style-basic", "square")
        assert deployed.hydrate().spec.max_containers == 2
        assert list(m.countdown.remote_gen(2)) == [2, 1]
    assert not m.app._running
    assert chute.current_function_call_id() is None and chute.is_local()


async def test_app_run_async(volumes_dir: Path) -> None:
    from tests.apps import modal_style_inference as m

    async with m.app.run():
        assert await m.Model(name="large", scale=3).predict.remote.aio(2) == 60
        assert [v async for v in m.Model(name="small").stream.remote_gen.aio(3)] == [0, 2, 4]
        deployed = chute.Cls.from_name("modal-style-inference", "Model")
        assert await deployed(name="small").predict.remote.aio(1) == 2
    await chute.Client.from_env().aclose()


def test_deploy_then_worker(volumes_dir: Path) -> None:
    deployed = chute_cli("deploy", str(APPS / "modal_style_basic.py"))
    assert deployed.returncode == 0, deployed.stderr
    rows = json.loads(function_list_json())
    assert {r["function"] for r in rows} >= {"square", "configured", "countdown", "hourly"}
    worker = subprocess.Popen([sys.executable, "-m", "chute", "worker", str(APPS / "modal_style_basic.py")])
    try:
        square = chute.Function.from_name("modal-style-basic", "square")
        assert square.remote(6) == 36
        countdown = chute.Function.from_name("modal-style-basic", "countdown")
        assert list(countdown.remote_gen(3)) == [3, 2, 1]
        with pytest.raises(InvalidError, match="remote_gen"):
            countdown.remote(3)
    finally:
        worker.terminate()
        worker.wait(60)
